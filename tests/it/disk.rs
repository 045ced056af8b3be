//! A full disk and a read-only data dir, for real: the data dir is a small tmpfs mounted for
//! the test (root is needed to mount; CI runs as root). A full disk makes appends fail with a
//! 503 that names the cause while reads go on; nothing acknowledged is lost, and appends
//! resume by themselves once space returns. A read-only data dir refuses to start with an
//! error that names it, and changes nothing. A file system without direct I/O (a ramfs) is
//! used without it.

use crate::crash::check_after_crash;
use crate::serve::Server;
use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A file system mounted on `dir/data` (created), unmounted on drop.
struct Mounted(PathBuf);

impl Mounted {
    /// A tmpfs of `size`.
    fn tmpfs(dir: &Path, size: &str) -> Mounted {
        Self::mount(dir, &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
    }

    /// A ramfs, which has no direct I/O.
    fn ramfs(dir: &Path) -> Mounted {
        Self::mount(dir, &["-t", "ramfs", "ramfs"])
    }

    fn mount(dir: &Path, args: &[&str]) -> Mounted {
        let mnt = dir.join("data");
        std::fs::create_dir_all(&mnt).unwrap();
        let out = Command::new("mount").args(args).arg(&mnt).output().unwrap();
        assert!(
            out.status.success(),
            "this test mounts a file system for the data dir and must run as root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Mounted(mnt)
    }

    fn remount(&self, opts: &str) {
        let out = Command::new("mount").args(["-o", &format!("remount,{opts}")]).arg(&self.0).output().unwrap();
        assert!(out.status.success(), "remount {opts}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn get(url: &str) -> (u16, String) {
    match vigil::client::agent(Duration::from_secs(10)).get(url).call() {
        Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// A batch of `n` signed withdrawals with fresh idempotency keys.
fn batch(keys: &Keys, tag: &str, n: usize) -> Vec<vigil_core::statement::Submission> {
    (0..n)
        .map(|i| {
            let id = format!("{tag}-{i}");
            let ev = vigil_core::event::Event::from_value(withdrawal(&id)).unwrap();
            vigil::client::sign_event(&keys.withdrawals, ev, &id, now_ms()).unwrap()
        })
        .collect()
}

fn receipts(r: Vec<vigil::engine::Receipt>) -> impl Iterator<Item = (u64, String, String)> {
    r.into_iter().map(|r| (r.seq, r.entry_hash, r.checkpoint))
}

#[test]
fn a_full_disk_refuses_appends_keeps_reads_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    // Large enough for what RocksDB reserves (a WAL block of 1.1 × its 64 MiB memtable) and
    // for its recovery (the memtable flushed to a table file): a tmpfs holds only what is written.
    let fs = Mounted::tmpfs(dir.path(), "1g");
    let server = Server::start_in(dir, "");
    let client = vigil::client::AppendClient::new(&server.internal);
    let mut acked: Vec<(u64, String, String)> = Vec::new();
    acked.extend(receipts(client.append(&batch(&server.keys, "before", 20)).unwrap()));

    // Fill the disk, then append until the ledger refuses (the first appends after the disk
    // filled still go into the WAL block RocksDB reserved).
    let filler = fs.0.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0x5a; 1 << 20];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let refusals = std::sync::Mutex::new(Vec::new());
    let more = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..4 {
            let (client, keys, stop, refusals, more) = (&client, &server.keys, &stop, &refusals, &more);
            s.spawn(move || {
                for round in 0..400 {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    match client.append(&batch(keys, &format!("full-{t}-{round}"), 200)) {
                        Ok(r) => more.lock().unwrap().extend(receipts(r)),
                        Err(e) => {
                            refusals.lock().unwrap().push(e);
                            stop.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                }
            });
        }
    });
    acked.extend(more.into_inner().unwrap());
    let refusal = refusals.into_inner().unwrap().into_iter().next();
    let refusal = refusal.expect("the ledger never refused an append on a full disk");
    assert_eq!(refusal.status, 503, "{refusal}");
    assert!(refusal.detail.contains("No space left on device"), "the refusal does not name the cause: {refusal}");
    let (status, health) = get(&format!("{}/healthz", server.internal));
    assert_eq!(status, 503, "{health}");
    assert!(health.contains("No space left on device"), "{health}");

    // Reads go on, and the log does not move while the disk is full.
    let (status, before) = get(&format!("{}/checkpoint", server.public));
    assert_eq!(status, 200, "{before}");
    let size = note_size(&before);
    let last = acked.iter().map(|a| a.0).max().unwrap();
    assert!(size > last, "the served checkpoint ({size}) lacks acknowledged entry {last}");
    assert_eq!(get(&format!("{}/v1/entries/{last}", server.public)).0, 200);
    let again = client.append(&batch(&server.keys, "still-full", 1)).unwrap_err();
    assert_eq!(again.status, 503, "{again}");
    assert_eq!(get(&format!("{}/checkpoint", server.public)).1, before, "the log changed on a full disk");

    // Space returns: the server recovers by itself and takes appends again.
    std::fs::remove_file(&filler).unwrap();
    let started = Instant::now();
    while get(&format!("{}/healthz", server.internal)).0 != 200 {
        assert!(started.elapsed() < Duration::from_secs(30), "no recovery after space returned");
        std::thread::sleep(Duration::from_millis(100));
    }
    acked.extend(receipts(client.append(&batch(&server.keys, "after", 20)).unwrap()));
    let dir = server.kill();
    check_after_crash(&dir.path().join("data"), &Keys::new(), &acked, "full disk");
    drop(fs);
}

#[test]
fn a_read_only_data_dir_refuses_to_start_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Mounted::tmpfs(dir.path(), "256m");
    let server = Server::start_in(dir, "");
    let client = vigil::client::AppendClient::new(&server.internal);
    let acked: Vec<_> = receipts(client.append(&batch(&server.keys, "a", 5)).unwrap()).collect();
    let dir = server.kill();
    fs.remount("ro");
    let listing = |p: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name()).collect();
        v.sort();
        v
    };
    let files = listing(&fs.0);
    let out =
        Command::new(vigil_bin()).args(["serve", "--config"]).arg(dir.path().join("vigil.toml")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Read-only file system") && stderr.contains(&fs.0.display().to_string()), "{stderr}");
    assert_eq!(listing(&fs.0), files);
    // Writable again: it starts on the same log, with every acknowledged entry.
    fs.remount("rw");
    check_after_crash(&fs.0, &Keys::new(), &acked, "read-only");
    let server = Server::start_in(dir, "");
    assert_eq!(
        note_size(&get(&format!("{}/checkpoint", server.public)).1),
        acked.iter().map(|a| a.0).max().unwrap() + 1
    );
    let dir = server.kill();
    drop(fs);
    drop(dir);
}

/// RocksDB refuses direct I/O for flushes at open on a file system without it (a ramfs): the
/// store opens without it, and what it flushes (the memtables recovered at reopen) reads back.
#[test]
fn a_file_system_without_direct_io_is_used_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Mounted::ramfs(dir.path());
    assert!(!has_direct_io(&fs.0), "a ramfs has no direct I/O");
    let l = Ledger::at(&fs.0.join("d"));
    l.engine.append_blocking(vec![l.sub(&l.keys.withdrawals, withdrawal("w-1"), "a")]).unwrap();
    let before = l.engine.head();
    let l = l.reopen();
    assert_flushed(&l.data_dir(), false);
    assert_eq!(l.engine.head().checkpoint, before.checkpoint);
    let r = l.engine.append_blocking(vec![l.sub(&l.keys.withdrawals, withdrawal("w-2"), "b")]).unwrap();
    assert_eq!(r[0].seq, before.state.size);
}
