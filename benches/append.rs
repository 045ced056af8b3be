//! Engine append throughput against raw RocksDB, measured in the same run.
//!
//! Signed withdrawals (signatures already checked, as the API layer hands them over) are
//! appended in-process through the real engine onto RocksDB on disk by concurrent callers;
//! then the very same entry bytes are written with raw RocksDB synced WriteBatches of the
//! same size. Prints both rates and their ratio. See BENCHMARKS.md for the command.

use rocksdb::{Options, WriteBatch, WriteOptions, DB};
use std::sync::Arc;
use std::time::Instant;
use vigil::config::bootstrap_submissions;
use vigil::engine::{Engine, EngineConfig};
use vigil_core::event::{Event, EventKind};
use vigil_core::keys::SignerKey;

fn arg(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let total = arg("VIGIL_BENCH_EVENTS", 200_000);
    let batch = arg("VIGIL_BENCH_BATCH", 1000);
    let callers = arg("VIGIL_BENCH_CALLERS", 4);
    let dir = tempfile::tempdir().unwrap();
    let log = SignerKey::from_seed("bench.example/log", [1; 32]).unwrap();
    let operator = SignerKey::from_seed("operator", [2; 32]).unwrap();
    let svc = SignerKey::from_seed("withdrawals", [3; 32]).unwrap();
    let engine = Arc::new(Engine::open(&dir.path().join("engine"), EngineConfig::new(log)).unwrap());
    engine
        .append_blocking(bootstrap_submissions(&operator, &[(svc.verifier(), vec![EventKind::Withdrawal])], 0).unwrap())
        .unwrap();

    eprintln!("signing and verifying {total} events (not timed)...");
    let mut batches = Vec::new();
    for b in 0..total.div_ceil(batch) {
        let subs = (b * batch..((b + 1) * batch).min(total))
            .map(|i| {
                let ev = Event::from_value(serde_json::json!({
                    "kind": "withdrawal", "withdrawal_id": format!("w-{i}"), "stage": "executed", "asset": "BTC",
                    "amount": (100_000 + i).to_string(), "destination": "bc1qbenchdestination0000000000000000",
                    "tx_id": format!("tx-{i:064}"), "wallet": "hot-btc-1", "wallet_tier": "hot", "account": format!("acct-{}", i % 10_007),
                }))
                .unwrap();
                vigil::client::signed(&svc, ev, &format!("bench-{i}"), 1_700_000_000_000).unwrap()
            })
            .collect();
        batches.push(engine.verify(subs).unwrap());
    }

    let start_size = engine.head().state.size;
    let queue = Arc::new(std::sync::Mutex::new(batches));
    let t0 = Instant::now();
    let handles: Vec<_> = (0..callers)
        .map(|_| {
            let (engine, queue) = (engine.clone(), queue.clone());
            std::thread::spawn(move || loop {
                let Some(b) = queue.lock().unwrap().pop() else {
                    break;
                };
                engine.append_verified_blocking(b).unwrap();
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let engine_secs = t0.elapsed().as_secs_f64();
    let appended = engine.head().state.size - start_size;
    assert_eq!(appended as usize, total);

    // The same bytes, raw: synced WriteBatches of `batch` values, keyed by sequence number.
    let entries: Vec<Vec<u8>> =
        engine.store().entries(start_size, start_size + appended).map(|r| r.unwrap().1).collect();
    let bytes: usize = entries.iter().map(|e| e.len()).sum();
    let mut opts = Options::default();
    opts.create_if_missing(true);
    let raw = DB::open(&opts, dir.path().join("raw")).unwrap();
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    let t1 = Instant::now();
    for (c, chunk) in entries.chunks(batch).enumerate() {
        let mut wb = WriteBatch::default();
        for (i, e) in chunk.iter().enumerate() {
            wb.put(((c * batch + i) as u64).to_be_bytes(), e);
        }
        raw.write_opt(wb, &wo).unwrap();
    }
    let raw_secs = t1.elapsed().as_secs_f64();

    let (er, rr) = (total as f64 / engine_secs, total as f64 / raw_secs);
    println!("events: {total}, caller batch: {batch}, callers: {callers}, mean entry: {} bytes", bytes / total);
    println!("engine append (group commit, indexes, Merkle tiles, signed checkpoint, receipts): {er:>10.0} entries/s");
    println!("raw RocksDB synced WriteBatches of the same bytes:                               {rr:>10.0} entries/s");
    println!("ratio engine/raw: {:.2}", er / rr);
}
