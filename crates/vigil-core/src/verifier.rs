//! Full verification of a log, one entry at a time, as `vigil verify` and the browser run it.
//!
//! For every entry: it decodes (canonical statement, valid event); its sequence number is the
//! next one; time never goes backwards; `prev` is the chain hash of the previous entry; the
//! statement's key was registered, not revoked and allowed that kind at that point; the
//! signature verifies; alarm references point backwards. The Merkle root over all entries is
//! kept as it goes, to compare with a checkpoint.

use crate::checkpoint::Checkpoint;
use crate::entry::Entry;
use crate::hash::{chain_hash, Digest};
use crate::merkle::{leaf_hash, CompactRange};
use crate::registry::KeyRegistry;
use crate::statement::{verify as verify_sig, Statement};

/// A statement signature [`LogVerifier::push_deferred`] left to check.
#[derive(Debug, Clone)]
pub struct PendingSignature {
    pub seq: u64,
    signer: String,
    key: crate::keys::VerifierKey,
    message: Vec<u8>,
    signature: [u8; 64],
}

impl PendingSignature {
    /// Key, signing message and signature, for batch verification
    /// ([`crate::statement::verify_batch`], the same rule as [`PendingSignature::check`]).
    pub fn parts(&self) -> (&crate::keys::VerifierKey, &[u8], &[u8; 64]) {
        (&self.key, &self.message, &self.signature)
    }

    /// The single check `push` applies (`statement::verify`, ZIP-215).
    pub fn check(&self) -> Result<(), VerifyError> {
        if crate::statement::verify_message(&self.key, &self.message, &self.signature) {
            Ok(())
        } else {
            Err(VerifyError { seq: self.seq, reason: format!("signature by {} does not verify", self.signer) })
        }
    }
}

/// Checks pending signatures as one batch (ZIP-215, the rule of [`PendingSignature::check`]);
/// when the batch fails, one by one, to name the first bad signature. `rng` draws the batch's
/// coefficients: it must be unpredictable to whoever wrote the log.
pub fn check_batch<R: rand_core::RngCore + rand_core::CryptoRng>(
    pending: &[PendingSignature],
    rng: R,
) -> Result<(), VerifyError> {
    if crate::statement::verify_batch(pending.iter().map(|p| p.parts()), rng) {
        return Ok(());
    }
    pending.iter().try_for_each(PendingSignature::check)
}

/// A [`LogVerifier`]'s state as saved between runs (JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedVerifier {
    /// Entries verified.
    pub size: u64,
    pub last_time_ms: u64,
    /// Chain hash of the last entry (hex).
    pub prev: String,
    pub keys: Vec<SavedKey>,
    /// The Merkle tree's perfect-subtree hashes (hex), largest first.
    pub subtrees: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedKey {
    pub vkey: String,
    pub kinds: Vec<String>,
    pub registered_at: u64,
    pub revoked_at: Option<u64>,
}

/// The first thing wrong with a log: which entry and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry {seq}: {reason}")]
pub struct VerifyError {
    pub seq: u64,
    pub reason: String,
}

/// An entry decoded, with its chain and leaf hashes: everything about it that does not depend
/// on the entries before it.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub entry: Entry,
    pub statement: Statement,
    chain: Digest,
    leaf: Digest,
}

impl Decoded {
    /// Decodes untrusted bytes (never panics) and hashes them.
    pub fn new(bytes: &[u8]) -> Result<Decoded, String> {
        let (entry, statement) = Entry::decode(bytes).map_err(|e| e.to_string())?;
        Ok(Decoded { entry, statement, chain: chain_hash(bytes), leaf: leaf_hash(bytes) })
    }
}

#[derive(Debug, Clone, Default)]
pub struct LogVerifier {
    next_seq: u64,
    last_time_ms: u64,
    prev: Digest,
    registry: KeyRegistry,
    tree: CompactRange,
}

impl LogVerifier {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn size(&self) -> u64 {
        self.next_seq
    }

    pub fn root(&self) -> Digest {
        self.tree.root()
    }

    /// Chain hash of the last entry (zero before the first).
    pub fn last_hash(&self) -> Digest {
        self.prev
    }

    pub fn registry(&self) -> &KeyRegistry {
        &self.registry
    }

    /// Checks a decoded entry's place in the chain: sequence number, time, prev.
    fn place(&self, entry: &Entry) -> Result<(), VerifyError> {
        let seq = self.next_seq;
        let fail = |reason: String| VerifyError { seq, reason };
        if entry.seq != seq {
            return Err(fail(format!("carries sequence number {}, expected {seq}", entry.seq)));
        }
        // The log would hold 2^64 entries, a size no checkpoint can state.
        if seq == u64::MAX {
            return Err(fail(format!("the log is full: it holds {seq} entries, the most a size can state")));
        }
        if entry.time_ms < self.last_time_ms {
            return Err(fail(format!(
                "time {} ms goes back before the previous entry's {} ms",
                entry.time_ms, self.last_time_ms
            )));
        }
        if entry.prev != self.prev {
            return Err(fail(if seq == 0 {
                "prev of the first entry must be 32 zero bytes".to_string()
            } else {
                format!("prev does not match hash of entry {}", seq - 1)
            }));
        }
        Ok(())
    }

    /// Checks the next entry; on success returns it decoded. On failure the verifier is left
    /// unchanged.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(Entry, Statement), VerifyError> {
        let seq = self.next_seq;
        let fail = |reason: String| VerifyError { seq, reason };
        let Decoded { entry, statement: st, chain, leaf } =
            Decoded::new(bytes).map_err(|e| fail(format!("does not decode: {e}")))?;
        self.place(&entry)?;
        check_statement(&self.registry, &st, &entry.statement_bytes, &entry.signature, seq).map_err(fail)?;
        self.registry.apply(&st);
        self.prev = chain;
        self.last_time_ms = entry.time_ms;
        self.tree.push(leaf);
        self.next_seq += 1;
        Ok((entry, st))
    }

    /// [`LogVerifier::push`] with the signature check left to the caller, who may run many of
    /// them in parallel ([`PendingSignature::check`]). Every other rule is checked here, in
    /// order. The caller must check every pending signature and treat the first failing one
    /// (lowest sequence number) as the log's first error; a failure returned here for entry n
    /// comes after the signatures of entries below n.
    pub fn push_deferred(&mut self, bytes: &[u8]) -> Result<(Entry, Statement, PendingSignature), VerifyError> {
        self.push_decoded(Decoded::new(bytes))
    }

    /// [`LogVerifier::push_deferred`] of an entry decoded beforehand ([`Decoded::new`], which
    /// callers may run for many entries in parallel: it depends on nothing before the entry).
    pub fn push_decoded(
        &mut self,
        decoded: Result<Decoded, String>,
    ) -> Result<(Entry, Statement, PendingSignature), VerifyError> {
        let seq = self.next_seq;
        let fail = |reason: String| VerifyError { seq, reason };
        let Decoded { entry, statement: st, chain, leaf } =
            decoded.map_err(|e| fail(format!("does not decode: {e}")))?;
        self.place(&entry)?;
        let key = self.registry.authorize(&st).map_err(|e| fail(e.to_string()))?.into_owned();
        let pending = PendingSignature {
            seq,
            signer: st.key.to_string(),
            key,
            message: crate::statement::signing_message(&entry.statement_bytes),
            signature: entry.signature,
        };
        let rest = self.registry.check_effect(&st).map_err(|e| e.to_string()).and_then(|()| st.event.check_refs(seq));
        if let Err(reason) = rest {
            // The same order of checks as `push`: a bad signature is reported first.
            pending.check()?;
            return Err(fail(reason));
        }
        self.registry.apply(&st);
        self.prev = chain;
        self.last_time_ms = entry.time_ms;
        self.tree.push(leaf);
        self.next_seq += 1;
        Ok((entry, st, pending))
    }

    /// The verifier's state, to resume later (`vigil verify --state`).
    pub fn save(&self) -> SavedVerifier {
        SavedVerifier {
            size: self.next_seq,
            last_time_ms: self.last_time_ms,
            prev: self.prev.to_hex(),
            keys: self
                .registry
                .keys()
                .map(|k| SavedKey {
                    vkey: k.key.to_vkey(),
                    kinds: k.kinds.iter().map(|k| k.as_str().to_string()).collect(),
                    registered_at: k.registered_at,
                    revoked_at: k.revoked_at,
                })
                .collect(),
            subtrees: self.tree.hashes().iter().map(|h| h.to_hex()).collect(),
        }
    }

    /// Resumes from a saved state. The state is the verifier's own earlier output, but it is
    /// read from a file: every field is checked and a bad one is an error, never a panic.
    pub fn resume(s: &SavedVerifier) -> Result<LogVerifier, String> {
        let digest = |h: &str| Digest::from_hex(h).map_err(|_| format!("{h:?} is not a 32-byte hex hash"));
        let mut keys = Vec::new();
        for k in &s.keys {
            let key = crate::keys::VerifierKey::parse(&k.vkey).map_err(|e| e.to_string())?;
            let kinds = k
                .kinds
                .iter()
                .map(|n| crate::event::EventKind::parse(n).ok_or_else(|| format!("unknown kind {n:?}")))
                .collect::<Result<_, _>>()?;
            keys.push(crate::registry::RegisteredKey {
                key,
                kinds,
                registered_at: k.registered_at,
                revoked_at: k.revoked_at,
            });
        }
        let stack = s.subtrees.iter().map(|h| digest(h)).collect::<Result<Vec<_>, _>>()?;
        Ok(LogVerifier {
            next_seq: s.size,
            last_time_ms: s.last_time_ms,
            prev: digest(&s.prev)?,
            registry: KeyRegistry::from_parts(keys, s.size),
            tree: CompactRange::from_parts(s.size, stack)?,
        })
    }

    /// Compares the verified log with a checkpoint (whose signature the caller verified).
    pub fn matches(&self, cp: &Checkpoint) -> Result<(), String> {
        if cp.size != self.size() {
            return Err(format!("checkpoint is for {} entries, the log has {}", cp.size, self.size()));
        }
        if cp.root != self.root() {
            return Err(format!("Merkle root of the {} entries does not match the checkpoint's root", cp.size));
        }
        Ok(())
    }
}

/// The rules an entry's statement must meet at position `seq`: authorization, signature,
/// registry effects, backward references. Shared by the sequencer and the verifier.
pub fn check_statement(
    registry: &KeyRegistry,
    st: &Statement,
    statement_bytes: &[u8],
    signature: &[u8; 64],
    seq: u64,
) -> Result<(), String> {
    let key = registry.authorize(st).map_err(|e| e.to_string())?;
    if !verify_sig(&key, statement_bytes, signature) {
        return Err(format!("signature by {} does not verify", st.key));
    }
    registry.check_effect(st).map_err(|e| e.to_string())?;
    st.event.check_refs(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_with_bad_fields_is_refused() {
        let good = LogVerifier::new().save();
        assert!(LogVerifier::resume(&good).is_ok());
        let mut cases = Vec::new();
        let mut s = good.clone();
        s.prev = "zz".into();
        cases.push(("prev", s));
        let mut s = good.clone();
        s.size = 3; // two subtrees needed, none given
        cases.push(("subtrees", s));
        let mut s = good.clone();
        s.keys.push(SavedKey { vkey: "nonsense".into(), kinds: vec![], registered_at: 0, revoked_at: None });
        cases.push(("vkey", s));
        for (what, s) in cases {
            assert!(LogVerifier::resume(&s).is_err(), "{what}");
        }
    }

    /// A log resumed at 2^64 − 2 entries takes one more, the last a size can state; the next,
    /// numbered 2^64 − 1, is refused (not a counter overflowing), also after a save and resume.
    #[test]
    fn the_last_entry_a_size_can_state_is_the_last_taken() {
        use crate::entry::Entry;
        use crate::statement::{sign, Statement};
        let key = crate::keys::SignerKey::from_seed("risk", [7; 32]).unwrap();
        let mut s = LogVerifier::new().save();
        s.size = u64::MAX - 1;
        // 2^64 − 2 has 63 bits set: a compact range of 63 subtrees.
        s.subtrees = vec![Digest([0xab; 32]).to_hex(); 63];
        s.keys.push(SavedKey {
            vkey: key.verifier().to_vkey(),
            kinds: vec!["alarm".into()],
            registered_at: 0,
            revoked_at: None,
        });
        let mut v = LogVerifier::resume(&s).unwrap();
        let entry = |seq: u64, prev: Digest| {
            let st = Statement {
                key: key.key_ref.clone(),
                idempotency_key: format!("a-{seq}"),
                created_at_ms: 1,
                event: crate::event::Event::from_value(serde_json::json!({
                    "kind": "alarm", "rule": "r", "severity": "low", "summary": "s"
                }))
                .unwrap(),
            };
            let bytes = st.to_bytes().unwrap();
            Entry { seq, time_ms: 1, prev, signature: sign(&key, &bytes), statement_bytes: bytes }.encode().unwrap()
        };
        let last = entry(u64::MAX - 1, v.last_hash());
        v.push(&last).unwrap();
        assert_eq!(v.size(), u64::MAX);
        // Saved and resumed full, it stays full.
        let mut v = LogVerifier::resume(&v.save()).unwrap();
        let e = v.push(&entry(u64::MAX, crate::hash::chain_hash(&last))).unwrap_err();
        assert!(e.reason.contains("the log is full"), "{e:?}");
        assert_eq!(v.size(), u64::MAX);
    }
}
