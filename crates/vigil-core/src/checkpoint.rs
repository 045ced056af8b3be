//! Checkpoints: C2SP `tlog-checkpoint` bodies in C2SP `signed-note` envelopes.
//!
//! The log signs each checkpoint twice with its one Ed25519 key: a plain signed-note signature
//! (key type 0x01), and a timestamped C2SP `tlog-cosignature/v1` line (key type 0x04) that
//! states when the log vouched for it, as Sunlight does. The note envelope is handled by the
//! `signed_note` crate.

use crate::hash::Digest;
use crate::keys::{key_id, KeyError, SignerKey, VerifierKey, ALG_COSIGNATURE_V1};
use base64::prelude::{Engine, BASE64_STANDARD};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use signed_note::{Note, VerifierList};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    #[error("malformed signed note: {0}")]
    Note(String),
    #[error("checkpoint origin {origin:?} does not match the log key name {key:?}")]
    Origin { origin: String, key: String },
    #[error("checkpoint is not signed by the log key {0}")]
    NotSigned(String),
    #[error("checkpoint signature by {0} is invalid")]
    BadSignature(String),
    #[error("the witness policy lists the log's own key {0}: a log cannot witness itself")]
    SelfWitness(String),
    #[error("checkpoint is not witnessed: {have} of the {need} cosignatures the policy requires (missing: {})", missing.join(", "))]
    NotWitnessed { have: usize, need: usize, missing: Vec<String> },
}

/// A checkpoint body: origin, tree size, root hash, optional extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Digest,
    pub extensions: Vec<String>,
}

impl Checkpoint {
    pub fn new(origin: &str, size: u64, root: Digest) -> Self {
        Checkpoint { origin: origin.into(), size, root, extensions: vec![] }
    }

    /// The note body: `origin\nsize\nbase64(root)\n` then extension lines.
    pub fn body(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, BASE64_STANDARD.encode(self.root.0));
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a note body strictly: decimal size without leading zeros, 32-byte root.
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let bad = |m: &str| CheckpointError::Malformed(m.into());
        let body = text.strip_suffix('\n').ok_or_else(|| bad("body must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or_else(|| bad("empty origin line"))?;
        let size_s = lines.next().ok_or_else(|| bad("missing size line"))?;
        let size: u64 = size_s.parse().map_err(|_| bad("size is not a decimal number"))?;
        if size.to_string() != size_s {
            return Err(bad("size has a sign or leading zeros"));
        }
        let root_s = lines.next().ok_or_else(|| bad("missing root hash line"))?;
        let raw = BASE64_STANDARD.decode(root_s).map_err(|_| bad("root hash is not base64"))?;
        let root: [u8; 32] = raw.try_into().map_err(|_| bad("root hash is not 32 bytes"))?;
        let extensions: Vec<String> = lines.map(String::from).collect();
        if extensions.iter().any(|e| e.is_empty()) {
            return Err(bad("empty extension line"));
        }
        Ok(Checkpoint { origin: origin.into(), size, root: Digest(root), extensions })
    }
}

/// The message a `cosignature/v1` signs.
pub fn cosignature_message(body: &[u8], timestamp: u64) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(body);
    m
}

/// An Ed25519 `tlog-cosignature/v1` key: signs with a fixed timestamp.
pub struct CosignatureSigner<'a> {
    pub name: &'a str,
    pub key: &'a SigningKey,
    pub timestamp: u64,
}

impl signed_note::Signer for CosignatureSigner<'_> {
    fn name(&self) -> &str {
        self.name
    }
    fn key_id(&self) -> u32 {
        key_id(self.name, ALG_COSIGNATURE_V1, self.key.verifying_key().as_bytes())
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let sig = self.key.sign(&cosignature_message(msg, self.timestamp));
        let mut out = self.timestamp.to_be_bytes().to_vec();
        out.extend_from_slice(&sig.to_bytes());
        Ok(out)
    }
}

/// The timestamp of a `cosignature/v1` signature (72 bytes: u64be timestamp ‖ Ed25519
/// signature); `None` for any other length or a timestamp above 2^63 − 1.
pub fn cosignature_timestamp(sig: &[u8]) -> Option<u64> {
    if sig.len() != 72 {
        return None;
    }
    let ts = u64::from_be_bytes(sig[..8].try_into().ok()?);
    (ts <= i64::MAX as u64).then_some(ts)
}

/// Verifies `tlog-cosignature/v1` lines of one Ed25519 key.
#[derive(Clone)]
pub struct CosignatureVerifier {
    pub name: String,
    pub key: VerifyingKey,
}

impl CosignatureVerifier {
    pub fn id(&self) -> u32 {
        key_id(&self.name, ALG_COSIGNATURE_V1, self.key.as_bytes())
    }

    /// The cosigner key of a private key: a witness's key file is an ordinary signed-note
    /// private key; it cosigns under the same name with key type 0x04.
    pub fn from_signer(k: &SignerKey) -> CosignatureVerifier {
        CosignatureVerifier { name: k.name().into(), key: k.key.verifying_key() }
    }

    /// Parses a cosigner verifier key, `name+hexid+base64(0x04 ‖ 32-byte public key)`, checking
    /// the id against the name and the key.
    pub fn parse(vkey: &str) -> Result<CosignatureVerifier, KeyError> {
        let (name, key, _) = crate::keys::parse_vkey(vkey, ALG_COSIGNATURE_V1)?;
        Ok(CosignatureVerifier { name, key })
    }

    /// The cosigner verifier key string.
    pub fn to_vkey(&self) -> String {
        let mut raw = vec![ALG_COSIGNATURE_V1];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.id(), BASE64_STANDARD.encode(raw))
    }
}

impl std::fmt::Debug for CosignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_vkey())
    }
}

impl signed_note::Verifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id()
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Some(ts) = cosignature_timestamp(sig) else {
            return false;
        };
        let Ok(s) = ed25519_dalek::Signature::from_slice(&sig[8..]) else {
            return false;
        };
        self.key.verify_strict(&cosignature_message(msg, ts), &s).is_ok()
    }
}

/// Signs a checkpoint with the log key: the signed-note signature and the timestamped
/// cosignature (`unix_seconds` from the caller's clock). Returns the note's bytes.
pub fn sign(cp: &Checkpoint, log_key: &SignerKey, unix_seconds: u64) -> Result<Vec<u8>, CheckpointError> {
    if cp.origin != log_key.name() {
        return Err(CheckpointError::Origin { origin: cp.origin.clone(), key: log_key.name().into() });
    }
    let mut note = Note::new(cp.body().as_bytes(), &[]).map_err(|e| CheckpointError::Note(e.to_string()))?;
    let cosigner = CosignatureSigner { name: log_key.name(), key: &log_key.key, timestamp: unix_seconds };
    note.add_sigs(&[log_key, &cosigner]).map_err(|e| CheckpointError::Note(e.to_string()))?;
    Ok(note.to_bytes())
}

/// A checkpoint whose log signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    /// The time the log's cosignature states, Unix seconds, if the note carries one.
    pub timestamp: Option<u64>,
    /// The exact note bytes.
    pub note: Vec<u8>,
    /// The note with the log's own verified signature lines only (no other key's, no repeats):
    /// what a witness keeps and adds its cosignature to. Lines anyone could add (up to the
    /// note's 100, or a forged one under a witness's name ahead of its real one) would make
    /// the note it keeps unreadable.
    pub log_signed: Vec<u8>,
}

/// The checkpoint a signed note carries, its signatures not checked: for a store reading back
/// the note it signed, whose entries are then checked against it. Never panics.
pub fn unverified(note_bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    checkpoint_of(&Note::from_bytes(note_bytes).map_err(|e| CheckpointError::Note(e.to_string()))?)
}

fn checkpoint_of(note: &Note) -> Result<Checkpoint, CheckpointError> {
    let text = std::str::from_utf8(note.text()).map_err(|_| CheckpointError::Malformed("not UTF-8".into()))?;
    Checkpoint::parse_body(text)
}

/// Verifies a signed checkpoint against the pinned log key. Signatures by other keys are
/// ignored (witnesses are checked separately). Never panics.
pub fn verify(note_bytes: &[u8], log_key: &VerifierKey) -> Result<SignedCheckpoint, CheckpointError> {
    let note = Note::from_bytes(note_bytes).map_err(|e| CheckpointError::Note(e.to_string()))?;
    let checkpoint = checkpoint_of(&note)?;
    if checkpoint.origin != log_key.name() {
        return Err(CheckpointError::Origin { origin: checkpoint.origin, key: log_key.name().into() });
    }
    let cosig = CosignatureVerifier { name: log_key.name().into(), key: log_key.key };
    let cosig_id = cosig.id();
    let list = VerifierList::new(vec![Box::new(log_key.clone()), Box::new(cosig)]);
    let (verified, _) = note.verify(&list).map_err(|e| match e {
        signed_note::NoteError::UnverifiedNote => CheckpointError::NotSigned(log_key.key_ref.to_string()),
        signed_note::NoteError::InvalidSignature { name, id } => {
            CheckpointError::BadSignature(format!("{name}+{id:08x}"))
        }
        other => CheckpointError::Note(other.to_string()),
    })?;
    if !verified.iter().any(|s| s.id() == log_key.key_ref.id) {
        return Err(CheckpointError::NotSigned(log_key.key_ref.to_string()));
    }
    let timestamp = verified.iter().find(|s| s.id() == cosig_id).and_then(|s| cosignature_timestamp(s.signature()));
    let log_signed = Note::new(note.text(), &verified).map_err(|e| CheckpointError::Note(e.to_string()))?.to_bytes();
    Ok(SignedCheckpoint { checkpoint, timestamp, note: note_bytes.to_vec(), log_signed })
}
