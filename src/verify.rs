//! Full verification against the pinned log key: every entry through the core's
//! [`LogVerifier`], then the root against the signed checkpoint. Sources: a data dir opened
//! read-only ([`verify_data_dir`]), or a public server, read as a stock tlog-tiles client
//! reads it — `/checkpoint` and the entry bundles, nothing else ([`verify_url`]).

use crate::store::Store;
use std::path::Path;
use vigil_core::checkpoint;
use vigil_core::keys::VerifierKey;
use vigil_core::merkle::TilePath;
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

/// Verifies a log served at `base_url` (its public API): the checkpoint, signed by `log_key`,
/// then every entry from the tlog-tiles entry bundles, then the root. Anything the server sends
/// that is wrong is a [`VerifyFailure::Failed`]; a network error is `CouldNotRun`.
pub fn verify_url(base_url: &str, log_key: &VerifierKey) -> Result<Report, VerifyFailure> {
    let base = base_url.trim_end_matches('/');
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .build()
        .into();
    let fetch = |path: &str| -> Result<Vec<u8>, VerifyFailure> {
        let url = format!("{base}/{path}");
        let mut res = agent.get(&url).call().map_err(|e| VerifyFailure::CouldNotRun(format!("{url}: {e}")))?;
        let status = res.status().as_u16();
        let body = res
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_vec()
            .map_err(|e| VerifyFailure::CouldNotRun(format!("{url}: {e}")))?;
        match status {
            200 => Ok(body),
            404 => Err(VerifyFailure::Failed(format!("{url}: the server does not have it (404)"))),
            s => Err(VerifyFailure::CouldNotRun(format!("{url}: HTTP {s}"))),
        }
    };
    let note = fetch("checkpoint")?;
    let signed = checkpoint::verify(&note, log_key).map_err(|e| VerifyFailure::Failed(format!("checkpoint: {e}")))?;
    let cp = signed.checkpoint;
    let mut v = LogVerifier::new();
    let mut n = 0u64;
    while v.size() < cp.size {
        let width = (cp.size - n * 256).min(256);
        let path = TilePath { entries: true, level: 0, index: n, width }.to_path();
        let bundle = fetch(&format!("tile/{path}"))?;
        let entries = split_bundle(&bundle).map_err(|e| VerifyFailure::Failed(format!("tile/{path}: {e}")))?;
        if entries.len() as u64 != width {
            return Err(VerifyFailure::Failed(format!(
                "tile/{path}: holds {} entries, its width is {width}",
                entries.len()
            )));
        }
        for e in entries {
            v.push(e).map_err(|e| VerifyFailure::Failed(e.to_string()))?;
        }
        n += 1;
    }
    v.matches(&cp).map_err(VerifyFailure::Failed)?;
    Ok(Report { origin: cp.origin, size: cp.size, root: hex::encode(cp.root.0), checkpoint_time: signed.timestamp })
}

/// The entries of a tlog-tiles entry bundle: each a big-endian uint16 length, then the bytes.
/// Never panics on bad bytes.
pub fn split_bundle(mut bundle: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    while !bundle.is_empty() {
        let (len, rest) = bundle.split_first_chunk::<2>().ok_or("a length prefix is cut short")?;
        let len = u16::from_be_bytes(*len) as usize;
        let entry = rest.get(..len).ok_or_else(|| format!("entry {} is cut short", out.len()))?;
        out.push(entry);
        bundle = &rest[len..];
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::split_bundle;

    #[test]
    fn bundles_split_into_entries_and_bad_ones_are_errors() {
        // (bundle, entries or None when refused)
        let cases: &[(&[u8], Option<&[&[u8]]>)] = &[
            (b"", Some(&[])),
            (b"\x00\x01a\x00\x02bc", Some(&[b"a", b"bc"])),
            (b"\x00\x00", Some(&[b""])),
            (b"\x00", None),
            (b"\x00\x03ab", None),
            (b"\x00\x01a\x00", None),
        ];
        for (bundle, want) in cases {
            match (split_bundle(bundle), want) {
                (Ok(got), Some(w)) => assert_eq!(&got, w, "{bundle:?}"),
                (Err(_), None) => {}
                (got, _) => panic!("{bundle:?}: {got:?}"),
            }
        }
    }
}
