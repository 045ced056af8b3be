//! Crashes: the real `vigil` process killed with SIGKILL mid-append, then reopened: every
//! acknowledged entry is there with the same hash, the log verifies end to end, and every
//! checkpoint handed out before the crash is consistent with the log after it.
//! (The long run with a thousand kills is in RELIABILITY.md's commands; CI runs a few.)

use crate::support::*;
use std::collections::BTreeMap;
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
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    // Every checkpoint handed out with a receipt, by size.
    let mut handed_out: BTreeMap<u64, String> = BTreeMap::new();
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
        let started = Instant::now();
        let mut seen = 0;
        while seen < want && started.elapsed() < Duration::from_secs(60) {
            let Some(Ok(line)) = lines.next() else { break };
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            acked.insert(v["seq"].as_u64().unwrap(), v["entry_hash"].as_str().unwrap().to_string());
            let cp = v["checkpoint"].as_str().unwrap().to_string();
            let size = checkpoint::verify(cp.as_bytes(), &keys.log.verifier()).unwrap().checkpoint.size;
            handed_out.insert(size, cp);
            seen += 1;
        }
        child.kill().unwrap(); // SIGKILL
                               // Whatever it printed before dying was acknowledged too.
        for line in lines.map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                acked.insert(v["seq"].as_u64().unwrap(), v["entry_hash"].as_str().unwrap().to_string());
            }
        }
        let status = child.wait().unwrap();
        assert!(seen > 0, "round {round}: the child acknowledged nothing ({status:?})");

        // After the crash: the log verifies end to end and holds every acknowledged entry.
        let data = dir.path().join("data");
        let report = verify_data_dir(&data, &keys.log.verifier()).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let store = vigil::store::Store::open_read_only(&data).unwrap();
        for (seq, hash) in &acked {
            assert!(*seq < report.size, "round {round}: acknowledged entry {seq} is beyond the log ({})", report.size);
            let bytes =
                store.entry(*seq).unwrap().unwrap_or_else(|| panic!("round {round}: acknowledged entry {seq} lost"));
            assert_eq!(&vigil_core::hash::chain_hash(&bytes).to_hex(), hash, "round {round}: entry {seq} changed");
        }
        // Every checkpoint handed out before the crash is a prefix of the log after it:
        // no rollback, no fork.
        let tree = TileTree::load(report.size, &store).unwrap();
        let root = tree.root(report.size, &store).unwrap();
        for (size, note) in &handed_out {
            let old = checkpoint::verify(note.as_bytes(), &keys.log.verifier()).unwrap().checkpoint;
            assert!(
                *size <= report.size,
                "round {round}: checkpoint of size {size} was rolled back to {}",
                report.size
            );
            let proof = tree.consistency_proof(*size, report.size, &store).unwrap();
            proof.verify(&old.root, &root).unwrap_or_else(|e| panic!("round {round}: checkpoint {size} forked: {e}"));
        }
    }
}
