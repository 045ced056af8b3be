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
use vigil_core::merkle::TileTree;

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
        child.kill().unwrap(); // SIGKILL
                               // Whatever it printed before dying was acknowledged too.
        acked.extend(lines.map_while(Result::ok).filter_map(|l| receipt(&l)));
        let status = child.wait().unwrap();
        assert!(seen > 0, "round {round}: the child acknowledged nothing ({status:?})");
        check_after_crash(&dir.path().join("data"), &keys, &acked, round);
    }
}

/// The real `vigil serve` with four concurrent signed appenders over HTTP, killed with SIGKILL
/// at a random moment, restarted on the same data dir, many times. After every restart: every
/// acknowledged receipt's entry is at its sequence number with the same hash, the log verifies
/// end to end, and the checkpoint served is consistent with every checkpoint handed out before.
#[test]
fn sigkill_of_vigil_serve_under_concurrent_appenders_loses_nothing_acknowledged() {
    use crate::serve::Server;
    use std::sync::{Arc, Mutex};
    let kills: usize = std::env::var("VIGIL_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let keys = Keys::new();
    let mut dir = tempfile::tempdir().unwrap();
    // (seq, entry hash, checkpoint) of every acknowledged event.
    let acked: Arc<Mutex<Vec<(u64, String, String)>>> = Arc::default();
    let mut rng = 0x2545f4914f6cdd1du64;
    for round in 0..kills {
        // Offline, between the kill and the restart: nothing acknowledged is lost, the log
        // verifies, and every checkpoint handed out is a prefix of it.
        let data = dir.path().join("data");
        let recovered = data.exists().then(|| check_after_crash(&data, &keys, &acked.lock().unwrap(), round));
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
                        for r in receipts {
                            a.push((
                                r["seq"].as_u64().unwrap(),
                                r["entry_hash"].as_str().unwrap().to_string(),
                                r["checkpoint"].as_str().unwrap().to_string(),
                            ));
                        }
                    }
                })
            })
            .collect();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(30 + rng % 300));
        dir = server.kill();
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
) -> (u64, vigil_core::hash::Digest) {
    let report = verify_data_dir(data, &keys.log.verifier()).unwrap_or_else(|e| panic!("round {round}: {e}"));
    let store = vigil::store::Store::open_read_only(data).unwrap();
    let tree = TileTree::load(report.size, &store).unwrap();
    let root = tree.root(report.size, &store).unwrap();
    let mut checked = std::collections::BTreeSet::new();
    for (seq, hash, cp) in acked {
        let bytes =
            store.entry(*seq).unwrap().unwrap_or_else(|| panic!("round {round}: acknowledged entry {seq} lost"));
        assert_eq!(&vigil_core::hash::chain_hash(&bytes).to_hex(), hash, "round {round}: entry {seq} changed");
        let old = checkpoint::verify(cp.as_bytes(), &keys.log.verifier()).unwrap().checkpoint;
        if !checked.insert(old.size) {
            continue;
        }
        assert!(old.size <= report.size, "round {round}: checkpoint {} rolled back to {}", old.size, report.size);
        let proof = tree.consistency_proof(old.size, report.size, &store).unwrap();
        proof.verify(&old.root, &root).unwrap_or_else(|e| panic!("round {round}: checkpoint {} forked: {e}", old.size));
    }
    (report.size, root)
}

/// The restarted server serves exactly the recovered log's checkpoint.
fn assert_served(
    server: &crate::serve::Server,
    keys: &Keys,
    recovered: Option<(u64, vigil_core::hash::Digest)>,
    round: usize,
) {
    let Some((size, root)) = recovered else { return };
    let note = ureq::get(&format!("{}/checkpoint", server.public)).call().unwrap().body_mut().read_to_string().unwrap();
    let served = checkpoint::verify(note.as_bytes(), &keys.log.verifier()).unwrap().checkpoint;
    assert_eq!((served.size, served.root), (size, root), "round {round}: the restarted server serves another log");
}
