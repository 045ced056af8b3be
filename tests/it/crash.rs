//! Crashes: the real `vigil` process killed with SIGKILL mid-append, then reopened: every
//! acknowledged entry is there with the same hash, the log verifies end to end, and every
//! checkpoint handed out before the crash is consistent with the log after it.
//! Two tests: `vigil serve` under concurrent HTTP appenders, and the engine alone
//! (`vigil stress`) killed mid group commit. Rounds: `VIGIL_CRASH_KILLS` (default 50 and 6).

use crate::support::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vigil::verify::verify_data_dir;
use vigil_core::checkpoint;
use vigil_core::entry::Entry;
use vigil_core::hash::{chain_hash, Digest};
use vigil_core::merkle::{leaf_hash, TileTree};

fn write_config(dir: &std::path::Path, keys: &Keys) -> std::path::PathBuf {
    for (name, k) in [("log", &keys.log), ("operator", &keys.operator)] {
        std::fs::write(dir.join(format!("{name}.key")), k.to_skey()).unwrap();
    }
    std::fs::write(dir.join("withdrawals.vkey"), keys.withdrawals.verifier().to_vkey()).unwrap();
    std::fs::write(dir.join("withdrawals.key"), keys.withdrawals.to_skey()).unwrap();
    let cfg = dir.join("vigil.toml");
    std::fs::write(
        &cfg,
        "data_dir = \"data\"\nlog_key = \"log.key\"\noperator_key = \"operator.key\"\n[[services]]\nvkey = \"withdrawals.vkey\"\nkinds = [\"withdrawal\"]\n",
    )
    .unwrap();
    cfg
}

#[test]
fn sigkill_mid_append_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    let cfg = write_config(dir.path(), &keys);
    let kills: usize = std::env::var("VIGIL_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
    // (seq, entry hash, checkpoint) of every acknowledged event.
    let mut acked: Vec<(u64, String, String)> = Vec::new();
    let mut rng_state = 0x9e3779b97f4a7c15u64;
    for round in 0..kills {
        let mut child = Command::new(vigil_bin())
            .args(["stress", "--config"])
            .arg(&cfg)
            .arg("--key")
            .arg(dir.path().join("withdrawals.key"))
            .args(["--count", "1000000", "--batch", "7", "--tag", &format!("round{round}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Kill after a pseudo-random number of acknowledgements (1..=120), mid-stream.
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        let want = 1 + (rng_state % 120) as usize;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let receipt = |line: &str| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            Some((v["seq"].as_u64()?, v["entry_hash"].as_str()?.to_string(), v["checkpoint"].as_str()?.to_string()))
        };
        let started = Instant::now();
        let mut seen = 0;
        while seen < want && started.elapsed() < Duration::from_secs(60) {
            let Some(Ok(line)) = lines.next() else { break };
            acked.push(receipt(&line).unwrap_or_else(|| panic!("round {round}: not a receipt: {line}")));
            seen += 1;
        }
        // SIGKILL. Whatever it printed before dying was acknowledged too.
        child.kill().unwrap();
        acked.extend(lines.map_while(Result::ok).filter_map(|l| receipt(&l)));
        let status = child.wait().unwrap();
        assert!(seen > 0, "round {round}: the child acknowledged nothing ({status:?})");
        check_after_crash(&dir.path().join("data"), &keys, &acked, round);
    }
}

/// The real `vigil serve` with four concurrent signed appenders over HTTP, killed with SIGKILL
/// at a random moment (every fifth time stopped with SIGTERM instead), restarted on the same
/// data dir, many times. After every restart: every
/// acknowledged receipt's entry is at its sequence number with the same hash, the log verifies
/// end to end, and the checkpoint served is consistent with every checkpoint handed out before.
#[test]
fn sigkill_of_vigil_serve_under_concurrent_appenders_loses_nothing_acknowledged() {
    use crate::serve::Server;
    use std::sync::{Arc, Mutex};
    let env = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let kills = env("VIGIL_CRASH_KILLS", 50);
    // The long run checks the whole log every this many rounds and the rounds between
    // incrementally (`check_since`); CI checks the whole log every round.
    let full_every = env("VIGIL_CRASH_FULL_EVERY", 1).max(1);
    let keys = Keys::new();
    let mut dir = tempfile::tempdir().unwrap();
    // (seq, entry hash, checkpoint) of every acknowledged event.
    let acked: Arc<Mutex<Vec<(u64, String, String)>>> = Arc::default();
    // The log as last checked, and how many acknowledged events that check covered.
    let (mut checked, mut checked_acks) = (None, 0);
    let mut rng = 0x2545f4914f6cdd1du64;
    let started = std::time::Instant::now();
    for round in 0..kills {
        // Offline, between the kill and the restart: nothing acknowledged is lost, the log
        // verifies, and every checkpoint handed out is a prefix of it.
        let data = dir.path().join("data");
        let recovered = data.exists().then(|| {
            let acked = acked.lock().unwrap();
            let r = match checked {
                Some(prev) if round % full_every != 0 => check_since(&data, &keys, prev, &acked[checked_acks..], round),
                _ => check_after_crash(&data, &keys, &acked, round),
            };
            checked_acks = acked.len();
            r
        });
        checked = recovered.or(checked);
        if round > 0 && round % 50 == 0 {
            let size = checked.map_or(0, |c| c.0);
            eprintln!("crash: {round} kills, log of {size} entries, {:.0?}", started.elapsed());
        }
        let server = Server::start_in(dir, "");
        assert_served(&server, &keys, recovered, round);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let appenders: Vec<_> = (0..4)
            .map(|t| {
                let (url, key, acked, stop) =
                    (server.internal.clone(), keys.withdrawals.clone(), acked.clone(), stop.clone());
                std::thread::spawn(move || {
                    let client = vigil::client::AppendClient::new(&url);
                    for i in 0.. {
                        if stop.load(std::sync::atomic::Ordering::SeqCst) {
                            return;
                        }
                        let batch: Vec<_> = (0..5)
                            .map(|j| {
                                let id = format!("r{round}-t{t}-{i}-{j}");
                                let ev = vigil_core::event::Event::from_value(withdrawal(&id)).unwrap();
                                vigil::client::sign_event(&key, ev, &id, now_ms()).unwrap()
                            })
                            .collect();
                        // The server dies mid-request: no answer, and that batch was never
                        // acknowledged. Any answer but receipts is a failure of the test.
                        let receipts = match client.append(&batch) {
                            Ok(r) => r,
                            Err(e) if e.status == 0 => return,
                            Err(e) => panic!("round {round}: an append was refused: {e}"),
                        };
                        let mut a = acked.lock().unwrap();
                        a.extend(receipts.into_iter().map(|r| (r.seq, r.entry_hash, r.checkpoint)));
                    }
                })
            })
            .collect();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(30 + rng % 300));
        // Every fifth round a graceful shutdown under the same load instead: SIGTERM, a clean
        // exit, and the same checks after it (nothing acknowledged lost). (Whether the requests
        // in flight were answered is not counted: an appender stops at its first failure either
        // way.)
        dir = if round % 5 == 4 { server.stop() } else { server.kill() };
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for a in appenders {
            a.join().unwrap();
        }
    }
    let acked = acked.lock().unwrap();
    let recovered = Some(check_after_crash(&dir.path().join("data"), &keys, &acked, kills));
    let server = Server::start_in(dir, "");
    assert_served(&server, &keys, recovered, kills);
    // A sanity floor, not a speed target: a round that acknowledged nothing checks nothing.
    assert!(acked.len() > kills * 5, "only {} events were acknowledged in {kills} rounds", acked.len());
}

/// Checks a closed (or killed) ledger's data dir, given every acknowledged event as (seq, entry
/// hash, checkpoint of its receipt): the log verifies end to end, every acknowledged entry is
/// at its sequence number with the same hash, and every checkpoint handed out is a prefix of
/// the log (no rollback, no fork). Returns the recovered log's size and root.
pub(crate) fn check_after_crash(
    data: &std::path::Path,
    keys: &Keys,
    acked: &[(u64, String, String)],
    round: impl std::fmt::Display,
) -> (u64, Digest) {
    let report = verify_data_dir(data, &keys.log.verifier()).unwrap_or_else(|e| panic!("round {round}: {e}"));
    let store = vigil::store::Store::open_read_only(data).unwrap();
    let log = Log::load(&store, report.size, &round);
    log.check_acked(acked, keys, |seq| store.entry(seq).unwrap().map(|b| chain_hash(&b)));
    (report.size, log.root)
}

/// A stored log's tree at one size, for the checks after a crash.
struct Log<'a, R: std::fmt::Display> {
    store: &'a vigil::store::Store,
    tree: TileTree,
    size: u64,
    root: Digest,
    round: &'a R,
}

impl<'a, R: std::fmt::Display> Log<'a, R> {
    fn load(store: &'a vigil::store::Store, size: u64, round: &'a R) -> Self {
        let tree = TileTree::load(size, store).unwrap();
        let root = tree.root(size, store).unwrap();
        Log { store, tree, size, root, round }
    }

    /// The log of `old_size` and `old_root` is a prefix of this one (no rollback, no fork).
    fn assert_extends(&self, old_size: u64, old_root: &Digest) {
        let round = self.round;
        assert!(old_size <= self.size, "round {round}: checkpoint {old_size} rolled back to {}", self.size);
        let proof = self.tree.consistency_proof(old_size, self.size, self.store).unwrap();
        proof
            .verify(old_root, &self.root)
            .unwrap_or_else(|e| panic!("round {round}: checkpoint {old_size} forked: {e}"));
    }

    /// Every acknowledged event's entry is at its sequence number with the same chain hash
    /// (`hash_of` gives a stored entry's), and every checkpoint handed out with a receipt is a
    /// prefix of the log. A group's receipts share one checkpoint: each is verified once.
    fn check_acked(&self, acked: &[(u64, String, String)], keys: &Keys, hash_of: impl Fn(u64) -> Option<Digest>) {
        let round = self.round;
        let mut checked = std::collections::HashSet::new();
        for (seq, hash, cp) in acked {
            let stored = hash_of(*seq).unwrap_or_else(|| panic!("round {round}: acknowledged entry {seq} lost"));
            assert_eq!(&stored.to_hex(), hash, "round {round}: entry {seq} changed");
            if checked.insert(cp.as_str()) {
                let old = checkpoint::verify(cp.as_bytes(), &keys.log.verifier()).unwrap().checkpoint;
                self.assert_extends(old.size, &old.root);
            }
        }
    }
}

/// The check of [`check_after_crash`] for the part of the log after one already checked
/// (`prev`: its size and root), given the events acknowledged since: the stored checkpoint
/// is signed by the log and its root is the stored tree's; the tree extends `prev`'s (a
/// consistency proof, so nothing before it changed); every entry after `prev` carries its
/// sequence number and the previous entry's chain hash, and is a leaf of the tree; every
/// newly acknowledged entry is there with its hash, and its receipt's checkpoint is a prefix.
/// Not checked here: the statements' signatures and the rules a full verification applies.
pub(crate) fn check_since(
    data: &std::path::Path,
    keys: &Keys,
    prev: (u64, Digest),
    acked: &[(u64, String, String)],
    round: impl std::fmt::Display,
) -> (u64, Digest) {
    let store = vigil::store::Store::open_read_only(data).unwrap();
    let note = store.checkpoint().unwrap().unwrap();
    let cp =
        checkpoint::verify(&note, &keys.log.verifier()).unwrap_or_else(|e| panic!("round {round}: {e}")).checkpoint;
    let log = Log::load(&store, cp.size, &round);
    assert_eq!(log.root, cp.root, "round {round}: the stored tree is not the signed checkpoint's");
    log.assert_extends(prev.0, &prev.1);
    // The chain hashes of entries prev.0.., which the newly acknowledged ones are among.
    let mut hashes = Vec::new();
    let mut last = match prev.0 {
        0 => Digest::default(),
        n => chain_hash(&store.entry(n - 1).unwrap().unwrap()),
    };
    for r in store.entries(prev.0, cp.size) {
        let (seq, bytes) = r.unwrap();
        let expected = prev.0 + hashes.len() as u64;
        assert_eq!(seq, expected, "round {round}: entry {expected} missing");
        let e = Entry::decode_header(&bytes).unwrap_or_else(|err| panic!("round {round}: entry {seq}: {err}"));
        assert_eq!((e.seq, e.prev), (seq, last), "round {round}: entry {seq} is not chained to the one before");
        let proof = log.tree.inclusion_proof(seq, cp.size, &store).unwrap();
        proof.verify(&leaf_hash(&bytes), &log.root).unwrap_or_else(|err| panic!("round {round}: entry {seq}: {err}"));
        last = chain_hash(&bytes);
        hashes.push(last);
    }
    let end = prev.0 + hashes.len() as u64;
    assert_eq!(end, cp.size, "round {round}: entries end at {end}, the checkpoint at {}", cp.size);
    log.check_acked(acked, keys, |seq| match seq.checked_sub(prev.0) {
        Some(i) => hashes.get(i as usize).copied(),
        None => store.entry(seq).unwrap().map(|b| chain_hash(&b)),
    });
    (cp.size, log.root)
}

/// The restarted server serves exactly the recovered log's checkpoint.
fn assert_served(server: &crate::serve::Server, keys: &Keys, recovered: Option<(u64, Digest)>, round: usize) {
    let Some((size, root)) = recovered else { return };
    let note = get_text(&format!("{}/checkpoint", server.public));
    let served = checkpoint::verify(note.as_bytes(), &keys.log.verifier()).unwrap().checkpoint;
    assert_eq!((served.size, served.root), (size, root), "round {round}: the restarted server serves another log");
}

/// The long run's incremental check must find what it claims to: damage after the checked
/// prefix, a prefix the log does not extend, and a receipt's forked checkpoint.
#[test]
fn the_incremental_check_finds_damage_after_the_checked_prefix() {
    let l = Ledger::new_with_withdrawals(3);
    let prev = (l.engine.head().state.size, l.engine.head().state.root);
    for i in 3..6 {
        let sub = l.sub(&l.keys.withdrawals, withdrawal(&format!("w-{i}")), &format!("k{i}"));
        l.engine.append_blocking(vec![sub]).unwrap();
    }
    let size = l.engine.head().state.size;
    let Ledger { dir, engine, keys, .. } = l;
    drop(engine);
    let data = dir.path().join("data");
    assert_eq!(check_since(&data, &keys, prev, &[], "intact").0, size);
    let failure = |prev: (u64, Digest), acked: Vec<(u64, String, String)>| {
        let panic = std::panic::catch_unwind(|| check_since(&data, &keys, prev, &acked, "damaged")).unwrap_err();
        panic.downcast_ref::<String>().cloned().unwrap_or_default()
    };
    let other_root = Digest([7; 32]);
    let msg = failure((prev.0, other_root), vec![]);
    assert!(msg.contains(&format!("checkpoint {} forked", prev.0)), "{msg}");
    // Receipts that carried the true checkpoint and a forked one of the same size, both signed
    // by the log: the second is not skipped for having a size already checked.
    let last = size - 1;
    let hash = chain_hash(&vigil::store::Store::open_read_only(&data).unwrap().entry(last).unwrap().unwrap()).to_hex();
    let signed = |root| {
        let cp = vigil_core::checkpoint::Checkpoint::new(keys.log.name(), prev.0, root);
        String::from_utf8(checkpoint::sign(&cp, &keys.log, 1).unwrap()).unwrap()
    };
    let receipts = vec![(last, hash.clone(), signed(prev.1)), (last, hash, signed(other_root))];
    let msg = failure(prev, receipts);
    assert!(msg.contains(&format!("checkpoint {} forked", prev.0)), "{msg}");
    edit_stored_entry(&data, prev.0 + 1, |v| v[200] ^= 0x20);
    let msg = failure(prev, vec![]);
    assert!(msg.contains(&format!("entry {}", prev.0 + 1)), "{msg}");
}
