//! Full verification of a data dir against the pinned log key: every entry through the core's
//! [`LogVerifier`], then the root against the stored signed checkpoint.
//! (`vigil verify` from a server or an export bundle builds on this in the auditor's issue.)

use crate::store::Store;
use std::path::Path;
use vigil_core::checkpoint;
use vigil_core::keys::VerifierKey;
use vigil_core::verifier::LogVerifier;

/// Why a verification did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyFailure {
    /// The log misbehaves: exit code 1.
    #[error("{0}")]
    Failed(String),
    /// Verification could not run (I/O, usage): exit code 2.
    #[error("{0}")]
    CouldNotRun(String),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub origin: String,
    pub size: u64,
    pub root: String,
    pub checkpoint_time: Option<u64>,
}

pub fn verify_data_dir(path: &Path, log_key: &VerifierKey) -> Result<Report, VerifyFailure> {
    let store = Store::open_read_only(path).map_err(|e| VerifyFailure::CouldNotRun(e.to_string()))?;
    let note = store
        .checkpoint()
        .map_err(|e| VerifyFailure::CouldNotRun(e.to_string()))?
        .ok_or_else(|| VerifyFailure::Failed("no signed checkpoint in the data dir".into()))?;
    let signed = checkpoint::verify(&note, log_key).map_err(|e| VerifyFailure::Failed(format!("checkpoint: {e}")))?;
    let cp = signed.checkpoint;
    let mut v = LogVerifier::new();
    for r in store.entries(0, cp.size) {
        let (seq, bytes) = r.map_err(|e| VerifyFailure::CouldNotRun(e.to_string()))?;
        if seq != v.size() {
            return Err(VerifyFailure::Failed(format!("entry {}: missing", v.size())));
        }
        v.push(&bytes).map_err(|e| VerifyFailure::Failed(e.to_string()))?;
    }
    if v.size() < cp.size {
        return Err(VerifyFailure::Failed(format!("entry {}: missing (checkpoint has {} entries)", v.size(), cp.size)));
    }
    v.matches(&cp).map_err(VerifyFailure::Failed)?;
    Ok(Report { origin: cp.origin, size: cp.size, root: hex::encode(cp.root.0), checkpoint_time: signed.timestamp })
}
