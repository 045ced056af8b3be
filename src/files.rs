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

/// A temporary name beside `path` that no other write takes: not another process's (the
/// process id), nor another of this process's (a counter). Two runs at once on one `--state`
/// must not write into one temporary file and rename each other's half-written bytes.
fn temporary_name(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    with_suffix(path, &format!(".{}-{n}.tmp", std::process::id()))
}

/// Writes `contents` to `path` atomically and durably: to a temporary file beside it, synced,
/// renamed over `path`, the folder synced. A crash leaves the old file or the new one, never a
/// mix; two writers at once each replace the file whole (the last rename wins).
pub fn write_durably(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = temporary_name(path);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    sync_parent(path)
}

/// Writes `contents` durably under the first of `names` that is not taken, never replacing a
/// file: to a temporary file, synced, then linked under the name (a link fails on a name
/// taken), the folder synced. A crash leaves the whole file under its name or nothing under
/// it, so a later run never takes a cut-short file for one written. Returns the name.
pub fn write_new_durably(names: impl IntoIterator<Item = PathBuf>, contents: &[u8]) -> std::io::Result<PathBuf> {
    let mut names = names.into_iter().peekable();
    let first = names.peek().ok_or_else(|| std::io::Error::other("no file name given"))?;
    let tmp = temporary_name(first);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Writers at once on one file: every read finds one writer's bytes whole, and no
    /// temporary file is left behind.
    #[test]
    fn writers_at_once_each_replace_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_durably(&path, &[0; 10]).unwrap();
        let whole = |bytes: &[u8]| {
            let first = *bytes.first().expect("never empty");
            bytes.len() == 10 + 997 * usize::from(first) && bytes.iter().all(|&b| b == first)
        };
        std::thread::scope(|s| {
            for writer in 1..=4u8 {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..40 {
                        write_durably(path, &vec![writer; 10 + 997 * usize::from(writer)]).unwrap();
                    }
                });
            }
            for _ in 0..200 {
                let read = std::fs::read(&path).unwrap();
                assert!(whole(&read), "a read found a mix of {} bytes", read.len());
            }
        });
        assert!(whole(&std::fs::read(&path).unwrap()));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["state.json"], "only the file itself is left");
    }
}
