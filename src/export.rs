//! Export bundles: a log in one file, to verify offline (`vigil export`, `vigil verify
//! --bundle`). Format (docs/FORMAT.md §10):
//!
//! ```text
//! vigil-export v1\n
//! keys <n>\n            then n lines: signed-note verifier keys (informational: every key
//!                       the log's key_registered entries registered)
//! checkpoint <len>\n    then len bytes: the signed checkpoint note
//! entries <count>\n     then count × (uint16 big-endian length ‖ entry bytes), from entry 0
//! ```
//!
//! A verifier trusts nothing in it: the log key is pinned by the user, and the keys listed
//! are only a convenience (the registry is replayed from the entries).

use crate::store::Store;
use crate::verify::{Report, VerifyFailure};
use std::io::{Read, Write};
use std::path::Path;
use vigil_core::checkpoint;
use vigil_core::keys::VerifierKey;
use vigil_core::verifier::LogVerifier;

const MAGIC: &str = "vigil-export v1";

/// Writes the log of a data dir (up to its newest signed checkpoint known durable) into `out`,
/// whole or not at all (written aside, synced, renamed). Returns the size, and the entries the
/// data dir holds (more when a group's sync had not yet been marked). A data dir whose entries
/// do not verify or do not lead to its checkpoint's root is refused: a bundle written is one
/// that verifies (given the log key, which this does not check).
pub fn export(data_dir: &Path, out: &Path) -> anyhow::Result<(u64, u64)> {
    use anyhow::Context;
    anyhow::ensure!(!out.is_dir(), "--out {} is a folder: give the bundle's file name", out.display());
    let store = Store::open_read_only(data_dir)?;
    // Its newest checkpoint known durable: a bundle is kept, and a running server's newest one
    // could still be lost to a power cut (the store's "Durable mark").
    let note = store.durable_checkpoint()?.context("the data dir has no signed checkpoint")?;
    let stored = store.state()?.map_or(0, |s| s.size);
    let cp = checkpoint::unverified(&note).context("the data dir's checkpoint marked durable")?;
    let size = cp.size;
    anyhow::ensure!(
        size <= stored,
        "the data dir's checkpoint marked durable is for {size} entries, its state for {stored}"
    );
    // The keys the log registered, replayed from its key entries.
    let mut v = LogVerifier::new();
    let mut w = Vec::new();
    let mut body = Vec::new();
    let mut n = 0u64;
    for r in store.entries(0, size) {
        let (seq, bytes) = r?;
        anyhow::ensure!(seq == n, "entry {n} is missing from the data dir");
        v.push(&bytes).map_err(|e| anyhow::anyhow!("the data dir does not verify: {e}"))?;
        body.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        body.extend_from_slice(&bytes);
        n += 1;
    }
    anyhow::ensure!(n == size, "entries {n} to {} are missing from the data dir", size - 1);
    v.matches(&cp).map_err(|e| anyhow::anyhow!("the data dir does not verify: {e}"))?;
    let keys: Vec<String> = v.registry().keys().map(|k| k.key.to_vkey()).collect();
    write!(w, "{MAGIC}\nkeys {}\n", keys.len())?;
    for k in &keys {
        writeln!(w, "{k}")?;
    }
    writeln!(w, "checkpoint {}", note.len())?;
    w.write_all(&note)?;
    writeln!(w, "entries {n}")?;
    w.write_all(&body)?;
    crate::files::write_durably(out, &w).with_context(|| format!("writing {}", out.display()))?;
    Ok((n, stored))
}

/// Reads one header line `<word> <number>\n` from `b` at `*at`.
fn header(b: &[u8], at: &mut usize, word: &str) -> Result<u64, String> {
    let rest = b.get(*at..).ok_or("the bundle is cut short")?;
    let end = rest.iter().position(|&c| c == b'\n').ok_or_else(|| format!("no `{word}` line"))?;
    let line = std::str::from_utf8(&rest[..end]).map_err(|_| format!("the `{word}` line is not text"))?;
    let n = line
        .strip_prefix(word)
        .and_then(|r| r.strip_prefix(' '))
        // Decimal digits as the writer writes them: no sign, no leading zero.
        .filter(|r| r.bytes().all(|c| c.is_ascii_digit()) && (r == &"0" || !r.starts_with('0')))
        .and_then(|r| r.parse::<u64>().ok())
        .ok_or_else(|| format!("expected `{word} <number>`, found {line:?}"))?;
    *at += end + 1;
    Ok(n)
}

/// Verifies a bundle against the pinned log key. Never panics on a bad file.
pub fn verify_bundle(path: &Path, log_key: &VerifierKey) -> Result<Report, VerifyFailure> {
    let mut b = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut b))
        .map_err(|e| VerifyFailure::CouldNotRun(format!("{}: {e}", path.display())))?;
    let bad = |e: String| VerifyFailure::Failed(format!("bundle {}: {e}", path.display()));
    let magic = format!("{MAGIC}\n");
    if !b.starts_with(magic.as_bytes()) {
        return Err(bad(format!("does not start with {MAGIC:?}")));
    }
    let mut at = magic.len();
    let keys = header(&b, &mut at, "keys").map_err(bad)?;
    for i in 0..keys {
        let rest = b.get(at..).unwrap_or_default();
        let end = rest.iter().position(|&c| c == b'\n').ok_or_else(|| bad(format!("key {i} is cut short")))?;
        at += end + 1;
    }
    let len = header(&b, &mut at, "checkpoint").map_err(bad)? as usize;
    let note = b.get(at..at.saturating_add(len)).ok_or_else(|| bad("the checkpoint is cut short".into()))?;
    at += len;
    let signed = checkpoint::verify(note, log_key).map_err(|e| VerifyFailure::Failed(format!("checkpoint: {e}")))?;
    let cp = signed.checkpoint;
    let count = header(&b, &mut at, "entries").map_err(bad)?;
    if count != cp.size {
        return Err(bad(format!("holds {count} entries; its checkpoint is for {}", cp.size)));
    }
    let entries = crate::verify::split_bundle(b.get(at..).unwrap_or_default()).map_err(bad)?;
    if entries.len() as u64 != count {
        return Err(bad(format!("announces {count} entries and holds {}", entries.len())));
    }
    let mut c = crate::verify::Checker::new(LogVerifier::new());
    for e in entries {
        c.push(e).map_err(|e| VerifyFailure::Failed(e.to_string()))?;
    }
    let v = c.finish().map_err(|e| VerifyFailure::Failed(e.to_string()))?;
    v.matches(&cp).map_err(VerifyFailure::Failed)?;
    Ok(Report::new(&cp, signed.timestamp, vec![]))
}
