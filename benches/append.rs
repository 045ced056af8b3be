//! Engine append throughput against raw RocksDB, measured in the same run.
//!
//! Signed withdrawals (signatures already checked, as the API layer hands them over) are
//! appended in-process through the real engine onto RocksDB on disk by concurrent callers;
//! then the very same entry bytes are written with raw RocksDB synced WriteBatches of the
//! same size. Prints both rates and their ratio. See BENCHMARKS.md for the command.

mod common;

use common::{arg, own_thread_cpu_ns, thread_cpu};
use rocksdb::{Options, WriteBatch, WriteOptions, DB};
use std::sync::Arc;
use std::time::Instant;
use vigil::config::bootstrap_submissions;
use vigil::engine::{Engine, EngineConfig};
use vigil_core::event::{Event, EventKind};
use vigil_core::keys::SignerKey;

/// Writes back every dirty page before a timed phase, so that neither phase pays for the
/// other's writeback in its fsyncs (the largest source of noise between rounds here).
fn settle() {
    let _ = std::process::Command::new("sync").status();
}

struct Round {
    engine_rate: f64,
    raw_rate: f64,
    mean_entry: usize,
    /// CPU time of every thread of the process per entry (µs), engine and raw phase.
    engine_cpu_us: f64,
    raw_cpu_us: f64,
}

/// CPU time (ns) of every thread of this process together.
fn process_cpu() -> u64 {
    thread_cpu().values().sum()
}

fn main() {
    let total = arg("VIGIL_BENCH_EVENTS", 100_000usize);
    let batch = arg("VIGIL_BENCH_BATCH", 1000usize);
    let callers = arg("VIGIL_BENCH_CALLERS", 4usize);
    let rounds = arg("VIGIL_BENCH_ROUNDS", 3usize);
    println!("events per round: {total}, caller batch: {batch}, callers: {callers}, rounds: {rounds}");
    let mut ratios = Vec::new();
    for r in 0..rounds {
        let x = round(total, batch, callers);
        let ratio = x.engine_rate / x.raw_rate;
        println!(
            "round {r}: engine {:>8.0} entries/s, raw RocksDB {:>8.0} entries/s, ratio {ratio:.2} (mean entry {} bytes)",
            x.engine_rate, x.raw_rate, x.mean_entry
        );
        println!("  CPU per entry, all threads: engine {:.2} µs, raw RocksDB {:.2} µs", x.engine_cpu_us, x.raw_cpu_us);
        ratios.push(ratio);
    }
    ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("median ratio engine/raw: {:.2}", ratios[ratios.len() / 2]);
}

fn round(total: usize, batch: usize, callers: usize) -> Round {
    let dir = tempfile::tempdir().unwrap();
    let log = SignerKey::from_seed("bench.example/log", [1; 32]).unwrap();
    let operator = SignerKey::from_seed("operator", [2; 32]).unwrap();
    let svc = SignerKey::from_seed("withdrawals", [3; 32]).unwrap();
    let mut cfg = EngineConfig::new(log);
    cfg.max_group = arg("VIGIL_BENCH_GROUP", cfg.max_group);
    let engine = Arc::new(Engine::open(&dir.path().join("engine"), cfg).unwrap());
    engine
        .append_blocking(bootstrap_submissions(&operator, &[(svc.verifier(), vec![EventKind::Withdrawal])], 0).unwrap())
        .unwrap();

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
    settle();
    let queue = Arc::new(std::sync::Mutex::new(batches));
    let cpu0 = thread_cpu();
    let t0 = Instant::now();
    let handles: Vec<_> = (0..callers)
        .map(|_| {
            let (engine, queue) = (engine.clone(), queue.clone());
            std::thread::spawn(move || {
                let start = own_thread_cpu_ns();
                loop {
                    let Some(b) = queue.lock().unwrap().pop() else { break };
                    engine.append_verified_blocking(b).unwrap();
                }
                own_thread_cpu_ns() - start
            })
        })
        .collect();
    let callers_ns: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let engine_secs = t0.elapsed().as_secs_f64();
    let mut cpu1 = thread_cpu();
    // The callers have exited (their time is `callers_ns`), so they are not in `cpu1`.
    let engine_cpu_ns = (cpu1.values().sum::<u64>() + callers_ns).saturating_sub(cpu0.values().sum());
    cpu1.insert("callers".into(), callers_ns);
    let busy: Vec<String> = cpu1
        .iter()
        .map(|(name, ns)| (name, ns.saturating_sub(cpu0.get(name).copied().unwrap_or(0))))
        .filter(|(_, ns)| *ns > 0)
        .map(|(name, ns)| format!("{name} {:.0}%", ns as f64 / 1e7 / engine_secs))
        .collect();
    println!("  busy during the engine phase: {}", busy.join(", "));
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
    settle();
    let raw_cpu0 = process_cpu();
    let t1 = Instant::now();
    for (c, chunk) in entries.chunks(batch).enumerate() {
        let mut wb = WriteBatch::default();
        for (i, e) in chunk.iter().enumerate() {
            wb.put(((c * batch + i) as u64).to_be_bytes(), e);
        }
        raw.write_opt(wb, &wo).unwrap();
    }
    let raw_secs = t1.elapsed().as_secs_f64();
    let raw_cpu_ns = process_cpu().saturating_sub(raw_cpu0);

    Round {
        engine_rate: total as f64 / engine_secs,
        raw_rate: total as f64 / raw_secs,
        mean_entry: bytes / total,
        engine_cpu_us: engine_cpu_ns as f64 / 1e3 / total as f64,
        raw_cpu_us: raw_cpu_ns as f64 / 1e3 / total as f64,
    }
}
