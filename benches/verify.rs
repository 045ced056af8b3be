//! Full verification of a local log (`vigil verify --data-dir`), beside the work verification
//! cannot avoid, measured in the same run on the same bytes: SHA-256 leaf hashes and BLAKE3
//! chain hashes of every entry, plus Ed25519 batch verification of every signature on all
//! cores. See BENCHMARKS.md for the command and the figures.

mod common;

use common::arg;
use std::sync::Arc;
use std::time::Instant;
use vigil::config::bootstrap_submissions;
use vigil::engine::{Engine, EngineConfig};
use vigil_core::entry::Entry;
use vigil_core::event::{Event, EventKind};
use vigil_core::keys::SignerKey;

fn main() {
    let total = arg("VIGIL_BENCH_ENTRIES", 200_000usize);
    let dir = tempfile::tempdir().unwrap();
    let log = SignerKey::from_seed("bench.example/log", [1; 32]).unwrap();
    let operator = SignerKey::from_seed("operator", [2; 32]).unwrap();
    let svc = SignerKey::from_seed("withdrawals", [3; 32]).unwrap();
    let engine = Arc::new(Engine::open(&dir.path().join("log"), EngineConfig::new(log.clone())).unwrap());
    engine
        .append_blocking(bootstrap_submissions(&operator, &[(svc.verifier(), vec![EventKind::Withdrawal])], 0).unwrap())
        .unwrap();
    // Build the log: signed on all cores, appended in batches of 1,000.
    let t = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = total.div_ceil(threads);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (engine, svc) = (engine.clone(), svc.clone());
            s.spawn(move || {
                let range: Vec<usize> = (t * per..((t + 1) * per).min(total)).collect();
                for chunk in range.chunks(1000) {
                    let subs = chunk
                        .iter()
                        .map(|&i| {
                            let ev = Event::from_value(serde_json::json!({
                                "kind": "withdrawal", "withdrawal_id": format!("w-{i}"), "stage": "executed", "asset": "BTC",
                                "amount": (100_000 + i).to_string(), "destination": "bc1qbenchdestination0000000000000000",
                                "tx_id": format!("tx-{i:064}"), "wallet": "hot-btc-1", "wallet_tier": "hot", "account": format!("acct-{}", i % 10_007),
                            }))
                            .unwrap();
                            vigil::client::signed(&svc, ev, &format!("v-{i}"), 1_700_000_000_000).unwrap()
                        })
                        .collect();
                    engine.append_blocking(subs).unwrap();
                }
            });
        }
    });
    let size = engine.head().state.size;
    println!("built a log of {size} entries in {:.1?}", t.elapsed());
    drop(Arc::try_unwrap(engine).ok().expect("the only reference"));
    let path = dir.path().join("log");

    // vigil verify --data-dir.
    let t = Instant::now();
    let report = vigil::verify::verify_data_dir(&path, &log.verifier()).unwrap();
    let verify_secs = t.elapsed().as_secs_f64();
    assert_eq!(report.size, size);

    // The floor, on the same bytes: read, hash twice, verify the signatures on all cores
    // (streamed in chunks, so a 10-million-entry log fits in memory). Twice: with Ed25519 batch
    // verification under ZIP-215, the rule `vigil verify` applies (the floor), and with
    // each signature checked singly.
    let store = vigil::store::Store::open_read_only(&path).unwrap();
    let vkey = svc.verifier();
    let floor = |batch: bool| {
        let t = Instant::now();
        let mut it = store.entries(0, size).map(|r| r.unwrap().1);
        let mut first = true;
        loop {
            let chunk: Vec<Vec<u8>> = it.by_ref().take(65_536).collect();
            if chunk.is_empty() {
                break;
            }
            let mut checks: Vec<(Vec<u8>, [u8; 64])> = chunk
                .iter()
                .map(|b| {
                    let _ = vigil_core::merkle::leaf_hash(b);
                    let _ = vigil_core::hash::chain_hash(b);
                    let e = Entry::decode_header(b).unwrap();
                    (vigil_core::statement::signing_message(&e.statement_bytes), e.signature)
                })
                .collect();
            if first {
                // Entries 0 and 1 are the operator's registrations: two signatures in millions.
                checks.drain(..2);
                first = false;
            }
            std::thread::scope(|s| {
                for part in checks.chunks(checks.len().div_ceil(threads).max(1)) {
                    let vkey = &vkey;
                    s.spawn(move || {
                        for b in part.chunks(64) {
                            if batch {
                                let items = b.iter().map(|(m, s)| (vkey, m.as_slice(), s));
                                assert!(vigil_core::statement::verify_batch(items, rand::thread_rng()));
                            } else {
                                for (m, sig) in b {
                                    assert!(vigil_core::statement::verify_message(vkey, m, sig));
                                }
                            }
                        }
                    });
                }
            });
        }
        size as f64 / t.elapsed().as_secs_f64()
    };
    let (f, single) = (floor(true), floor(false));
    let v = size as f64 / verify_secs;
    println!("vigil verify --data-dir: {v:>9.0} entries/s");
    println!(
        "floor (read, SHA-256 + BLAKE3, Ed25519 ZIP-215 batch verification on {threads} cores): {f:>9.0} entries/s"
    );
    println!("the same with each signature checked singly:                               {single:>9.0} entries/s");
    println!("ratio to the single-check floor {:.2}", v / single);
    println!("ratio {:.2} (target 0.7)", v / f);
}
