//! Witnesses: C2SP `tlog-witness` (the `add-checkpoint` request and the checks a witness makes
//! before it cosigns) and C2SP `tlog-cosignature/v1` (the timestamped Ed25519 cosignature), and
//! the witness policy a verifier applies: a checkpoint counts only with valid cosignatures from
//! at least `quorum` of the witnesses it trusts.
//!
//! A witness keeps, per log origin, the latest checkpoint it cosigned ([`Latest`]). It cosigns a
//! new one only when it is signed by the log, the client's `old` size is exactly that latest
//! size, and a consistency proof leads from the latest root to the new root. So no witness ever
//! cosigns two checkpoints that are not one history: a log that shows a fork or a rollback to
//! a witness that saw the other branch gets refused, and the witness keeps the request.

use crate::checkpoint::{self, Checkpoint, CheckpointError, CosignatureSigner, CosignatureVerifier, SignedCheckpoint};
use crate::hash::Digest;
use crate::keys::{SignerKey, VerifierKey};
use crate::merkle::{ConsistencyProof, ProofError, EMPTY_ROOT};
use base64::prelude::{Engine, BASE64_STANDARD};
use signed_note::{Note, VerifierList};

/// At most this many consistency proof lines in a request (the spec's limit).
pub const MAX_PROOF_LINES: usize = 63;
/// Requests larger than this are refused before parsing (a checkpoint with its signatures is
/// well under 4 KiB; 63 proof lines are 2.8 KiB).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Why a witness refuses an `add-checkpoint` request; each maps to the status the spec defines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// 400: the body is not a well-formed request, or `old` is above the checkpoint's size.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 404: this witness does not witness the checkpoint's origin.
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// 403: no signature verifies against the log key the witness trusts for the origin.
    #[error("the checkpoint is not signed by the log key this witness trusts: {0}")]
    Forbidden(String),
    /// 409: `old` is not the size of the latest checkpoint the witness cosigned.
    #[error("old size {old} does not match the latest cosigned size {latest}")]
    Conflict { old: u64, latest: u64 },
    /// 409: a different tree of the same size was cosigned: the log forked.
    #[error("the witness cosigned a different root at size {size}: a fork")]
    Fork { size: u64 },
    /// 422: the consistency proof does not lead from the cosigned root to the new root.
    #[error("the consistency proof from size {old} to {new} does not verify: {why}")]
    BadProof { old: u64, new: u64, why: String },
}

impl WitnessError {
    /// The HTTP status C2SP `tlog-witness` defines for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            WitnessError::BadRequest(_) => 400,
            WitnessError::Forbidden(_) => 403,
            WitnessError::UnknownOrigin(_) => 404,
            WitnessError::Conflict { .. } | WitnessError::Fork { .. } => 409,
            WitnessError::BadProof { .. } => 422,
        }
    }
}

/// The latest checkpoint a witness cosigned for one log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latest {
    pub size: u64,
    pub root: Digest,
}

/// A `tlog-witness` `add-checkpoint` request body: `old N`, proof lines, an empty line, the
/// checkpoint (a signed note).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Digest>,
    pub checkpoint: Vec<u8>,
}

impl AddCheckpoint {
    /// Parses a request body strictly. Never panics.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, WitnessError> {
        let bad = |m: &str| WitnessError::BadRequest(m.into());
        if body.len() > MAX_REQUEST_BYTES {
            return Err(bad("the request is larger than 64 KiB"));
        }
        let mut rest = body;
        let mut line = || -> Result<&[u8], WitnessError> {
            let i = rest.iter().position(|&b| b == b'\n').ok_or_else(|| bad("a line does not end with a newline"))?;
            let (l, r) = (&rest[..i], &rest[i + 1..]);
            rest = r;
            Ok(l)
        };
        let old = line()?;
        let old = old.strip_prefix(b"old ").ok_or_else(|| bad("the first line must be `old <size>`"))?;
        let old_s = std::str::from_utf8(old).map_err(|_| bad("the old size is not ASCII"))?;
        let old_size: u64 = old_s.parse().map_err(|_| bad("the old size is not a decimal number"))?;
        if old_size.to_string() != old_s {
            return Err(bad("the old size has a sign or leading zeros"));
        }
        let mut proof = Vec::new();
        loop {
            let l = line()?;
            if l.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad("more than 63 consistency proof lines"));
            }
            let raw = BASE64_STANDARD.decode(l).map_err(|_| bad("a consistency proof line is not base64"))?;
            let h: [u8; 32] = raw.try_into().map_err(|_| bad("a consistency proof line is not a 32-byte hash"))?;
            proof.push(Digest(h));
        }
        if rest.is_empty() {
            return Err(bad("the checkpoint is missing"));
        }
        Ok(AddCheckpoint { old_size, proof, checkpoint: rest.to_vec() })
    }

    /// The request body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old_size).into_bytes();
        for h in &self.proof {
            out.extend_from_slice(BASE64_STANDARD.encode(h.0).as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        out
    }

    /// The checkpoint's origin line, so the witness can find the log's key.
    pub fn origin(&self) -> Result<String, WitnessError> {
        let note = Note::from_bytes(&self.checkpoint)
            .map_err(|e| WitnessError::BadRequest(format!("the checkpoint is not a signed note: {e}")))?;
        let text = std::str::from_utf8(note.text()).map_err(|_| WitnessError::BadRequest("not UTF-8".into()))?;
        let cp = Checkpoint::parse_body(text).map_err(|e| WitnessError::BadRequest(e.to_string()))?;
        Ok(cp.origin)
    }

    /// Checks the checkpoint's signature against the log key the witness trusts for its
    /// origin (403 when it does not verify).
    pub fn verify_signature(&self, log_key: &VerifierKey) -> Result<SignedCheckpoint, WitnessError> {
        checkpoint::verify(&self.checkpoint, log_key).map_err(|e| match e {
            CheckpointError::Malformed(_) | CheckpointError::Note(_) => WitnessError::BadRequest(e.to_string()),
            other => WitnessError::Forbidden(other.to_string()),
        })
    }

    /// The checks after the signature, in the spec's order, against the latest checkpoint the
    /// witness cosigned for this log (`None`: never cosigned, size 0).
    pub fn check_against(&self, cp: &Checkpoint, latest: Option<Latest>) -> Result<(), WitnessError> {
        let latest_size = latest.map_or(0, |l| l.size);
        if self.old_size > cp.size {
            return Err(WitnessError::BadRequest(format!(
                "old size {} is larger than the checkpoint size {}",
                self.old_size, cp.size
            )));
        }
        if self.old_size != latest_size {
            return Err(WitnessError::Conflict { old: self.old_size, latest: latest_size });
        }
        let latest_root = latest.filter(|l| l.size > 0).map_or(EMPTY_ROOT, |l| l.root);
        // At the size cosigned, the roots must be equal (409, before the proof is looked at).
        if cp.size == latest_size && cp.root != latest_root {
            return Err(WitnessError::Fork { size: cp.size });
        }
        // From size 0 the proof must be empty; between equal sizes too.
        ConsistencyProof { old_size: self.old_size, new_size: cp.size, hashes: self.proof.clone() }
            .verify(&latest_root, &cp.root)
            .map_err(|e| match e {
                ProofError::DifferentRoots => WitnessError::Fork { size: cp.size },
                e => WitnessError::BadProof { old: self.old_size, new: cp.size, why: e.to_string() },
            })
    }
}

/// A witness's cosignature on a signed checkpoint note: one signed-note signature line
/// (`— name base64(key id ‖ timestamp ‖ signature)` and a newline) over the note's text, as
/// `add-checkpoint` answers.
pub fn cosign(note: &[u8], witness: &SignerKey, timestamp: u64) -> Result<Vec<u8>, CheckpointError> {
    let text = Note::from_bytes(note).map_err(|e| CheckpointError::Note(e.to_string()))?.text().to_vec();
    let signer = CosignatureSigner { name: witness.name(), key: &witness.key, timestamp };
    let sig = signed_note::Signer::sign(&signer, &text).map_err(|e| CheckpointError::Note(e.to_string()))?;
    let line = signed_note::Signature::new(witness.name().into(), signed_note::Signer::key_id(&signer), sig)
        .map_err(|e| CheckpointError::Note(e.to_string()))?;
    Ok(line.to_bytes())
}

/// The signature lines of `response` (an `add-checkpoint` answer) that are valid cosignatures by
/// `witness` on `note`; an error when there is none or one is invalid. Lines by other keys are
/// ignored, as the spec requires.
pub fn accept_cosignatures(
    note: &[u8],
    response: &[u8],
    witness: &CosignatureVerifier,
) -> Result<Vec<u8>, CheckpointError> {
    let signed = Note::from_bytes(note).map_err(|e| CheckpointError::Note(e.to_string()))?;
    let mut only = Note::new(signed.text(), &[]).map_err(|e| CheckpointError::Note(e.to_string()))?.to_bytes();
    only.extend_from_slice(response);
    let parsed = Note::from_bytes(&only).map_err(|e| CheckpointError::Note(format!("the witness's answer: {e}")))?;
    let list = VerifierList::new(vec![Box::new(witness.clone())]);
    let (verified, _) = parsed.verify(&list).map_err(|e| match e {
        signed_note::NoteError::UnverifiedNote => CheckpointError::NotSigned(witness.to_vkey()),
        other => CheckpointError::BadSignature(format!("{} ({other})", witness.name)),
    })?;
    Ok(verified.iter().flat_map(|s| s.to_bytes()).collect())
}

/// The checkpoint of `note` and the timestamp of `witness`'s cosignature on it, the log's
/// signature not checked: for a witness reading back the note it kept, whose log key may since
/// have been replaced. `None` when the note does not parse or carries no valid cosignature by
/// `witness`. Never panics.
pub fn own_cosignature(note: &[u8], witness: &CosignatureVerifier) -> Option<(Checkpoint, u64)> {
    let parsed = Note::from_bytes(note).ok()?;
    let (verified, _) = parsed.verify(&VerifierList::new(vec![Box::new(witness.clone())])).ok()?;
    let timestamp = verified.iter().find_map(|s| checkpoint::cosignature_timestamp(s.signature()))?;
    Some((checkpoint::unverified(note).ok()?, timestamp))
}

/// Why a witness policy is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("witnesses {0} and {1} have the same key: one witness would count twice")]
    SameKey(String, String),
    #[error("a witness is configured twice")]
    ListedTwice,
    #[error("a quorum of {quorum} needs at least {quorum} distinct witnesses; {given} given")]
    QuorumTooLarge { quorum: usize, given: usize },
    #[error("a witness quorum must be at least 1")]
    QuorumZero,
}

impl PolicyError {
    /// Whether the quorum is at fault (rather than the list of witnesses).
    pub fn is_quorum(&self) -> bool {
        matches!(self, PolicyError::QuorumTooLarge { .. } | PolicyError::QuorumZero)
    }
}

/// A witness policy: the witnesses' cosigner keys and how many must have cosigned.
/// Built only by [`Policy::new`] (or [`Policy::none`]), which refuses what could not be met or
/// would not count: its fields are read through [`Policy::witnesses`] and [`Policy::quorum`].
#[derive(Clone, Default)]
pub struct Policy {
    witnesses: Vec<CosignatureVerifier>,
    quorum: usize,
}

impl Policy {
    /// A policy of `quorum` of `witnesses` (duplicates counted once). A quorum above the number
    /// of witnesses could never be met and is an error; so is a quorum of zero with witnesses,
    /// and one key listed under two names (one witness would count twice toward the quorum).
    pub fn new(witnesses: Vec<CosignatureVerifier>, quorum: usize) -> Result<Policy, PolicyError> {
        let mut unique: Vec<CosignatureVerifier> = Vec::new();
        for w in witnesses {
            match unique.iter().find(|u| u.key == w.key) {
                Some(u) if u.name == w.name => {}
                Some(u) => return Err(PolicyError::SameKey(u.name.clone(), w.name.clone())),
                None => unique.push(w),
            }
        }
        if quorum > unique.len() {
            return Err(PolicyError::QuorumTooLarge { quorum, given: unique.len() });
        }
        if quorum == 0 && !unique.is_empty() {
            return Err(PolicyError::QuorumZero);
        }
        Ok(Policy { witnesses: unique, quorum })
    }

    /// No witnesses: the log's signature alone.
    pub fn none() -> Policy {
        Policy::default()
    }

    pub fn is_none(&self) -> bool {
        self.quorum == 0
    }

    /// The witnesses, each once.
    pub fn witnesses(&self) -> &[CosignatureVerifier] {
        &self.witnesses
    }

    /// Whether the policy counts `log_key` as a witness: a log does not witness itself, so a
    /// checkpoint is refused under such a policy (and a tool given one should say so first).
    pub fn lists_log_key(&self, log_key: &VerifierKey) -> bool {
        self.witnesses.iter().any(|w| w.key == log_key.key)
    }

    /// How many of them must have cosigned.
    pub fn quorum(&self) -> usize {
        self.quorum
    }
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Policy({} of {:?})", self.quorum, self.witnesses.iter().map(|w| &w.name).collect::<Vec<_>>())
    }
}

/// One valid cosignature of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cosigned {
    pub witness: String,
    /// The time the witness states, Unix seconds.
    pub timestamp: u64,
}

/// A checkpoint signed by the log and cosigned according to a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    pub signed: SignedCheckpoint,
    /// The policy's witnesses that cosigned, in the policy's order.
    pub cosigned: Vec<Cosigned>,
}

/// Verifies a checkpoint against the pinned log key and a witness policy: at least `quorum` of
/// the policy's witnesses must have valid cosignatures on it. An invalid cosignature by a
/// policy witness is an error; lines by keys outside the policy are ignored. Never panics.
pub fn verify_witnessed(
    note_bytes: &[u8],
    log_key: &VerifierKey,
    policy: &Policy,
) -> Result<Witnessed, CheckpointError> {
    let signed = checkpoint::verify(note_bytes, log_key)?;
    if policy.lists_log_key(log_key) {
        return Err(CheckpointError::SelfWitness(log_key.key_ref.to_string()));
    }
    if policy.is_none() {
        return Ok(Witnessed { signed, cosigned: vec![] });
    }
    let note = Note::from_bytes(note_bytes).map_err(|e| CheckpointError::Note(e.to_string()))?;
    let list = VerifierList::new(
        policy.witnesses.iter().map(|w| Box::new(w.clone()) as Box<dyn signed_note::Verifier>).collect(),
    );
    let verified = match note.verify(&list) {
        Ok((v, _)) => v,
        Err(signed_note::NoteError::UnverifiedNote) => vec![],
        Err(signed_note::NoteError::InvalidSignature { name, id }) => {
            return Err(CheckpointError::BadSignature(format!("{name}+{id:08x} (a witness's cosignature)")))
        }
        Err(e) => return Err(CheckpointError::Note(e.to_string())),
    };
    let mut cosigned = Vec::new();
    let mut missing = Vec::new();
    for w in &policy.witnesses {
        // A verified cosignature always carries its timestamp (the verifier checked its length).
        let timestamp = verified
            .iter()
            .find(|s| s.name() == w.name && s.id() == w.id())
            .and_then(|s| checkpoint::cosignature_timestamp(s.signature()));
        match timestamp {
            Some(timestamp) => cosigned.push(Cosigned { witness: w.name.clone(), timestamp }),
            None => missing.push(w.name.clone()),
        }
    }
    if cosigned.len() < policy.quorum {
        return Err(CheckpointError::NotWitnessed { have: cosigned.len(), need: policy.quorum, missing });
    }
    Ok(Witnessed { signed, cosigned })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, MemoryTiles, TileTree};

    fn key(name: &str, b: u8) -> SignerKey {
        SignerKey::from_seed(name, [b; 32]).unwrap()
    }

    /// A log of `n` leaves: its tree (for proofs) and the checkpoint it signs.
    fn log(n: u64, salt: u8) -> (TileTree, MemoryTiles, Checkpoint) {
        let mut tree = TileTree::new();
        let mut tiles = MemoryTiles::default();
        let leaves: Vec<Digest> = (0..n).map(|i| leaf_hash(&[salt, i as u8, (i >> 8) as u8])).collect();
        tiles.store(tree.append(&leaves));
        let root = tree.root(n, &tiles).unwrap();
        (tree, tiles, Checkpoint::new("log.example/a", n, root))
    }

    fn request(old: u64, proof: Vec<Digest>, cp: &Checkpoint, signer: &SignerKey) -> AddCheckpoint {
        AddCheckpoint { old_size: old, proof, checkpoint: checkpoint::sign(cp, signer, 1_700_000_000).unwrap() }
    }

    /// Runs the witness's checks and, when they pass, returns the new latest.
    fn witness(req: &AddCheckpoint, trusted: &VerifierKey, latest: Option<Latest>) -> Result<Latest, WitnessError> {
        let origin = req.origin()?;
        if origin != trusted.name() {
            return Err(WitnessError::UnknownOrigin(origin));
        }
        let signed = req.verify_signature(trusted)?;
        req.check_against(&signed.checkpoint, latest)?;
        Ok(Latest { size: signed.checkpoint.size, root: signed.checkpoint.root })
    }

    #[test]
    fn requests_round_trip_and_bad_ones_are_400() {
        let (_, _, cp) = log(3, 0);
        let req = request(0, vec![Digest([7; 32])], &cp, &key("log.example/a", 1));
        assert_eq!(AddCheckpoint::parse(&req.to_bytes()).unwrap(), req);
        let cases: &[(&[u8], &str)] = &[
            (b"", "newline"),
            (b"old 1\n", "newline"),
            (b"old 01\n\nx", "leading zeros"),
            (b"old -1\n\nx", "decimal"),
            (b"new 1\n\nx", "old <size>"),
            (b"old 1\nnot base64!\n\nx", "base64"),
            (b"old 1\nAAAA\n\nx", "32-byte"),
            (b"old 1\n\n", "missing"),
        ];
        for (body, why) in cases {
            let e = AddCheckpoint::parse(body).unwrap_err();
            assert_eq!(e.status(), 400, "{body:?}");
            assert!(e.to_string().contains(why), "{body:?}: {e}");
        }
        let mut long = b"old 1\n".to_vec();
        for _ in 0..64 {
            long.extend_from_slice(format!("{}\n", BASE64_STANDARD.encode([0u8; 32])).as_bytes());
        }
        long.extend_from_slice(b"\nx");
        assert!(AddCheckpoint::parse(&long).unwrap_err().to_string().contains("63"));
    }

    #[test]
    fn a_witness_follows_one_history_and_refuses_forks_and_rollbacks() {
        let log_key = key("log.example/a", 1);
        let trusted = log_key.verifier();
        let (_, _, cp5) = log(5, 0);
        let (t9, m9, cp9) = log(9, 0);
        let (_, _, fork5) = log(5, 1);
        let (_, _, fork9) = log(9, 1);
        let proof = |tree: &TileTree, m: &MemoryTiles, a, b| tree.consistency_proof(a, b, m).unwrap().hashes;

        // First contact: old 0, no proof.
        let l5 = witness(&request(0, vec![], &cp5, &log_key), &trusted, None).unwrap();
        assert_eq!(l5.size, 5);
        // Grows with a consistency proof.
        let l9 = witness(&request(5, proof(&t9, &m9, 5, 9), &cp9, &log_key), &trusted, Some(l5)).unwrap();
        // The same checkpoint again: cosigned again.
        assert_eq!(witness(&request(9, vec![], &cp9, &log_key), &trusted, Some(l9)), Ok(l9));

        let cases: Vec<(&str, AddCheckpoint, &VerifierKey, Option<Latest>, u16)> = vec![
            ("stale old size", request(0, vec![], &cp9, &log_key), &trusted, Some(l5), 409),
            ("fork at the same size", request(5, vec![], &fork5, &log_key), &trusted, Some(l5), 409),
            // The roots are compared before the proof is looked at.
            (
                "fork at the same size, with a proof",
                request(5, vec![Digest([1; 32])], &fork5, &log_key),
                &trusted,
                Some(l5),
                409,
            ),
            ("fork at a larger size", request(5, proof(&t9, &m9, 5, 9), &fork9, &log_key), &trusted, Some(l5), 422),
            ("rollback", request(9, vec![], &cp5, &log_key), &trusted, Some(l9), 400),
            ("rollback, honest old", request(5, vec![], &cp5, &log_key), &trusted, Some(l9), 409),
            ("proof from 0", request(0, vec![Digest([1; 32])], &cp5, &log_key), &trusted, None, 422),
            ("proof between equal sizes", request(5, vec![Digest([1; 32])], &cp5, &log_key), &trusted, Some(l5), 422),
            ("wrong key", request(0, vec![], &cp5, &key("log.example/a", 2)), &trusted, None, 403),
        ];
        for (what, req, k, latest, status) in cases {
            let e = witness(&req, k, latest).unwrap_err();
            assert_eq!(e.status(), status, "{what}: {e}");
        }
        let other = key("log.example/b", 1).verifier();
        assert_eq!(witness(&request(0, vec![], &cp5, &log_key), &other, None).unwrap_err().status(), 404);
    }

    #[test]
    fn cosignatures_are_collected_and_the_policy_counts_them() {
        let log_key = key("log.example/a", 1);
        let (_, _, cp) = log(4, 0);
        let note = checkpoint::sign(&cp, &log_key, 1_700_000_000).unwrap();
        let (w1, w2, w3) = (key("w1.example", 11), key("w2.example", 12), key("w3.example", 13));
        let v = |k: &SignerKey| CosignatureVerifier::from_signer(k);
        let mut full = note.clone();
        for w in [&w1, &w2] {
            let line = cosign(&note, w, 1_700_000_100).unwrap();
            assert!(line.starts_with("— ".as_bytes()) && line.ends_with(b"\n"));
            full.extend(accept_cosignatures(&note, &line, &v(w)).unwrap());
            // Not by this witness: refused.
            assert!(accept_cosignatures(&note, &line, &v(&w3)).is_err());
        }
        let policy = |n: usize| Policy::new(vec![v(&w1), v(&w2), v(&w3)], n).unwrap();
        let ok = verify_witnessed(&full, &log_key.verifier(), &policy(2)).unwrap();
        assert_eq!(ok.cosigned.len(), 2);
        assert_eq!(ok.cosigned[0], Cosigned { witness: "w1.example".into(), timestamp: 1_700_000_100 });
        match verify_witnessed(&full, &log_key.verifier(), &policy(3)) {
            Err(CheckpointError::NotWitnessed { have: 2, need: 3, missing }) => assert_eq!(missing, ["w3.example"]),
            other => panic!("{other:?}"),
        }
        // The log's own signature alone satisfies no policy.
        assert!(verify_witnessed(&note, &log_key.verifier(), &policy(1)).is_err());
        // A cosignature over another checkpoint is an invalid signature, not a missing one.
        let (_, _, cp2) = log(5, 0);
        let mut forged = note.clone();
        forged.extend(cosign(&checkpoint::sign(&cp2, &log_key, 1).unwrap(), &w1, 5).unwrap());
        assert!(matches!(
            verify_witnessed(&forged, &log_key.verifier(), &policy(1)),
            Err(CheckpointError::BadSignature(_))
        ));
        assert!(Policy::new(vec![v(&w1), v(&w1)], 2).is_err(), "duplicates count once");
        let twice = CosignatureVerifier { name: "another-name".into(), key: v(&w1).key };
        let err = Policy::new(vec![v(&w1), twice], 1).unwrap_err();
        assert!(matches!(err, PolicyError::SameKey(_, _)) && err.to_string().contains("have the same key"), "{err}");
        // The log's own cosignature line (type 0x04, same key) is no witness.
        let own = Policy::new(vec![v(&log_key)], 1).unwrap();
        assert!(matches!(verify_witnessed(&note, &log_key.verifier(), &own), Err(CheckpointError::SelfWitness(_))));
        // Nor is it under another name.
        let renamed = Policy::new(vec![v(&key("a-witness", 1))], 1).unwrap();
        assert!(matches!(verify_witnessed(&note, &log_key.verifier(), &renamed), Err(CheckpointError::SelfWitness(_))));
        assert!(Policy::new(vec![v(&w1)], 0).is_err());
    }

    /// C2SP tlog-cosignature's own example: the signed message, and the example signature line
    /// (key id, then the big-endian timestamp the message states).
    #[test]
    fn the_spec_examples() {
        let body = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        assert_eq!(
            checkpoint::cosignature_message(body, 1679315147),
            b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
        let line =
            "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==";
        let raw = BASE64_STANDARD.decode(line).unwrap();
        assert_eq!(checkpoint::cosignature_timestamp(&raw[4..]), Some(1679315147));
        // tlog-witness's example request parses: old size, four proof lines, the checkpoint.
        let req = "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";
        let parsed = AddCheckpoint::parse(req.as_bytes()).unwrap();
        assert_eq!((parsed.old_size, parsed.proof.len()), (20852014, 4));
        assert_eq!(parsed.origin().unwrap(), "example.com/behind-the-sofa");
        assert_eq!(parsed.to_bytes(), req.as_bytes());
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            if let Ok(r) = AddCheckpoint::parse(&body) {
                let _ = r.origin();
            }
        }

        /// Random bytes rarely start with `old `: a valid request with bytes flipped, cut or
        /// inserted reaches the proof lines and the checkpoint's parsing and checks.
        #[test]
        fn checking_a_damaged_request_never_panics(
            at in 0usize..600,
            byte in proptest::prelude::any::<u8>(),
            how in 0u8..3,
        ) {
            let log_key = key("log.example/a", 1);
            let (t9, m9, cp9) = log(9, 0);
            let (_, _, cp5) = log(5, 0);
            let mut body = request(5, t9.consistency_proof(5, 9, &m9).unwrap().hashes, &cp9, &log_key).to_bytes();
            let at = at % body.len();
            match how {
                0 => body[at] ^= byte | 1,
                1 => body.truncate(at),
                _ => body.insert(at, byte),
            }
            if let Ok(req) = AddCheckpoint::parse(&body) {
                if let Ok(signed) = req.verify_signature(&log_key.verifier()) {
                    let _ = req.check_against(&signed.checkpoint, Some(Latest { size: 5, root: cp5.root }));
                }
            }
        }
    }
}
