//! Files written beside the log (state, evidence, a kept checkpoint, proof-of-reserves trees):
//! names derived from a path, and writes and removals that a power loss cannot undo.

use std::io::Write;
use std::path::{Path, PathBuf};

/// `path` with `suffix` appended to its last component (not replacing an extension: `.` is
/// part of escaped snapshot ids, and `s.json` and `s.txt` must not share a companion).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

/// Syncs the folder holding `path`, so that a rename or removal in it survives a power loss.
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir).and_then(|d| d.sync_all())
}

/// Writes `contents` to `path` atomically and durably: to `path.tmp`, synced, renamed over
/// `path`, the folder synced. A crash leaves the old file or the new one, never a mix.
pub fn write_durably(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = with_suffix(path, ".tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    sync_parent(path)
}

/// Writes `contents` durably under the first of `names` that is not taken, never replacing a
/// file: to a temporary file, synced, then linked under the name (a link fails on a name
/// taken), the folder synced. A crash leaves the whole file under its name or nothing under
/// it, so a later run never takes a cut-short file for one written. Returns the name.
pub fn write_new_durably(names: impl IntoIterator<Item = PathBuf>, contents: &[u8]) -> std::io::Result<PathBuf> {
    let mut names = names.into_iter().peekable();
    let first = names.peek().ok_or_else(|| std::io::Error::other("no file name given"))?;
    // Its own temporary name: two runs at once do not write into one file.
    let tmp = with_suffix(first, &format!(".{}.tmp", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(contents)?;
        f.sync_all()?;
        for name in names {
            match std::fs::hard_link(&tmp, &name) {
                Ok(()) => return sync_parent(&name).map(|()| name),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("every file name is taken"))
    });
    let _ = std::fs::remove_file(&tmp);
    written
}

/// Removes `path` (gone already is fine), the folder synced so that it does not come back.
pub fn remove_durably(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => sync_parent(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
