//! The soak run: the real `vigil serve` (its own process) under concurrent signed appenders and
//! public readers together, for a bounded time on loopback. Every report interval it prints the
//! interval's throughput, p50/p99 latency of appends and reads, errors so far, and the server's
//! resident memory; at the end, the totals, the memory trend (must stay flat), and the log
//! verified end to end with every acknowledged entry in it. Exits 1 on any error.
//!
//! Knobs: `VIGIL_SOAK_SECS` (600), `VIGIL_SOAK_RATE` appended events/s (2,000), `VIGIL_SOAK_READS`
//! reads/s (1,000), `VIGIL_SOAK_REPORT_SECS` (60). See RELIABILITY.md for the command and results.

mod common;

use common::{arg, dir_bytes, free_port, now_ms, percentile, withdrawal};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use vigil::client::{sign_event, AppendClient};
use vigil_core::keys::SignerKey;

const APPENDERS: u64 = 4;
const READERS: u64 = 4;
const BATCH: u64 = 20;

/// Latencies of one interval, and the errors seen.
#[derive(Default)]
struct Window {
    appends: Vec<Duration>,
    appended: u64,
    reads: Vec<Duration>,
}

/// The `p` quantile of unsorted latencies.
fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    percentile(v, p)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// RocksDB's memory as the server reports it: memtables, table readers, block cache (MiB).
fn rocksdb_mib(public: &str) -> [f64; 3] {
    let text = vigil::client::agent(Duration::from_secs(10))
        .get(&format!("{public}/metrics"))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default();
    ["vigil_rocksdb_memtable_bytes ", "vigil_rocksdb_table_readers_bytes ", "vigil_rocksdb_block_cache_bytes "].map(
        |m| text.lines().find_map(|l| l.strip_prefix(m)?.trim().parse::<f64>().ok()).unwrap_or(0.0) / (1 << 20) as f64,
    )
}

fn main() {
    let secs = arg("VIGIL_SOAK_SECS", 600u64);
    let rate = arg("VIGIL_SOAK_RATE", 2_000u64) as f64;
    let read_rate = arg("VIGIL_SOAK_READS", 1_000u64) as f64;
    let report = Duration::from_secs(arg("VIGIL_SOAK_REPORT_SECS", 60u64));
    println!(
        "soak: {secs} s, {rate} events/s appended by {APPENDERS} clients in batches of {BATCH}, {read_rate} reads/s by {READERS} clients"
    );

    let dir = tempfile::tempdir().unwrap();
    let log = SignerKey::from_seed("soak.example/log", [1; 32]).unwrap();
    let operator = SignerKey::from_seed("operator", [2; 32]).unwrap();
    let svc = SignerKey::from_seed("withdrawals", [3; 32]).unwrap();
    for (name, k) in [("log", &log), ("operator", &operator), ("svc", &svc)] {
        std::fs::write(dir.path().join(format!("{name}.key")), k.to_skey()).unwrap();
        std::fs::write(dir.path().join(format!("{name}.vkey")), k.verifier().to_vkey()).unwrap();
    }
    let (pp, ip) = (free_port(), free_port());
    let cfg = dir.path().join("vigil.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"data\"\nlog_key = \"log.key\"\noperator_key = \"operator.key\"\n\
             [[services]]\nvkey = \"svc.vkey\"\nkinds = [\"withdrawal\"]\n\
             [server]\npublic = \"127.0.0.1:{pp}\"\ninternal = \"127.0.0.1:{ip}\"\n"
        ),
    )
    .unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = std::io::BufRead::lines(std::io::BufReader::new(server.stdout.take().unwrap()));
    out.next().unwrap().unwrap();
    std::thread::spawn(move || out.for_each(drop));
    let (public, internal) = (format!("http://127.0.0.1:{pp}"), format!("http://127.0.0.1:{ip}"));

    let stop = AtomicBool::new(false);
    let errors = AtomicU64::new(0);
    let window = Mutex::new(Window::default());
    let acked: Mutex<Vec<(u64, String)>> = Mutex::default();
    let t0 = Instant::now();
    let mut memory: Vec<u64> = Vec::new();
    let (mut total_appends, mut total_reads): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
    let mut appended = 0u64;
    std::thread::scope(|s| {
        for a in 0..APPENDERS {
            let (svc, internal, stop, errors, window, acked) = (&svc, &internal, &stop, &errors, &window, &acked);
            s.spawn(move || {
                // A saturated answer is an error here, not a wait hidden in the latency.
                let client = AppendClient::new(internal).with_retries(0);
                // Open loop: batch n of this client is due at its slot, late or not.
                for n in 0.. {
                    let slot = t0 + Duration::from_secs_f64((n * APPENDERS + a) as f64 * BATCH as f64 / rate);
                    if let Some(wait) = slot.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let first = (n * APPENDERS + a) * BATCH;
                    let batch: Vec<_> = (first..first + BATCH)
                        .map(|i| sign_event(svc, withdrawal("soak", i), &format!("soak-{i}"), now_ms()).unwrap())
                        .collect();
                    let t = Instant::now();
                    match client.append(&batch) {
                        Ok(receipts) => {
                            let took = t.elapsed();
                            let mut w = window.lock().unwrap();
                            w.appends.push(took);
                            w.appended += receipts.len() as u64;
                            acked.lock().unwrap().extend(receipts.iter().map(|r| (r.seq, r.entry_hash.clone())));
                        }
                        Err(e) => {
                            eprintln!("append error: {e}");
                            errors.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            });
        }
        for r in 0..READERS {
            let (public, stop, errors, window) = (&public, &stop, &errors, &window);
            s.spawn(move || {
                let agent = vigil::client::agent(Duration::from_secs(30));
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ r;
                for n in 0.. {
                    let slot = t0 + Duration::from_secs_f64((n * READERS + r) as f64 / read_rate);
                    if let Some(wait) = slot.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let t = Instant::now();
                    let result = (|| -> Result<(), String> {
                        let get = |path: &str| -> Result<Vec<u8>, String> {
                            let mut res = agent.get(&format!("{public}{path}")).call().map_err(|e| e.to_string())?;
                            if res.status() != 200 {
                                return Err(format!("GET {path}: {}", res.status()));
                            }
                            res.body_mut().read_to_vec().map_err(|e| e.to_string())
                        };
                        let note = String::from_utf8(get("/checkpoint")?).map_err(|e| e.to_string())?;
                        let size: u64 = note.lines().nth(1).and_then(|l| l.parse().ok()).ok_or("no size")?;
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let seq = x % size.max(1);
                        match n % 4 {
                            0 => get(&format!("/v1/proofs/inclusion?seq={seq}&size={size}")).map(drop),
                            1 => get(&format!("/v1/entries/{seq}")).map(drop),
                            2 if size >= 256 => {
                                let tile = vigil_core::merkle::TilePath {
                                    entries: false,
                                    level: 0,
                                    index: seq / 256 % (size / 256),
                                    width: 256,
                                };
                                get(&format!("/tile/{}", tile.to_path())).map(drop)
                            }
                            _ => get(&format!("/v1/proofs/consistency?from={}&to={size}", seq.max(1))).map(drop),
                        }
                    })();
                    match result {
                        Ok(()) => window.lock().unwrap().reads.push(t.elapsed()),
                        Err(e) => {
                            eprintln!("read error: {e}");
                            errors.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            });
        }
        // The reporter.
        println!(
            "{:>6} {:>10} {:>9} {:>9} {:>9} {:>8} {:>9} {:>9} {:>6} {:>8} {:>24} {:>9}",
            "t(s)",
            "appended",
            "events/s",
            "app p50",
            "app p99",
            "reads/s",
            "read p50",
            "read p99",
            "errors",
            "RSS MiB",
            "memtab/readers/cache MiB",
            "data MiB"
        );
        let mut last = Instant::now();
        while t0.elapsed() < Duration::from_secs(secs) {
            std::thread::sleep(
                report.min(Duration::from_secs(secs).saturating_sub(t0.elapsed())).max(Duration::from_millis(10)),
            );
            let mut w = std::mem::take(&mut *window.lock().unwrap());
            let dt = last.elapsed().as_secs_f64();
            last = Instant::now();
            appended += w.appended;
            let rss = rss_kib(server.id());
            memory.push(rss);
            let [memtables, readers, cache] = rocksdb_mib(&public);
            println!(
                "{:>6.0} {:>10} {:>9.0} {:>9.2?} {:>9.2?} {:>8.0} {:>9.2?} {:>9.2?} {:>6} {:>8.1} {:>24} {:>9.1}",
                t0.elapsed().as_secs_f64(),
                appended,
                w.appended as f64 / dt,
                pct(&mut w.appends, 0.5),
                pct(&mut w.appends, 0.99),
                w.reads.len() as f64 / dt,
                pct(&mut w.reads, 0.5),
                pct(&mut w.reads, 0.99),
                errors.load(Ordering::SeqCst),
                rss as f64 / 1024.0,
                format!("{memtables:.1} / {readers:.1} / {cache:.1}"),
                dir_bytes(&dir.path().join("data")) as f64 / (1 << 20) as f64,
            );
            total_appends.append(&mut w.appends);
            total_reads.append(&mut w.reads);
        }
        stop.store(true, Ordering::SeqCst);
    });
    let w = std::mem::take(&mut *window.lock().unwrap());
    appended += w.appended;
    total_appends.extend(w.appends);
    total_reads.extend(w.reads);
    let elapsed = t0.elapsed().as_secs_f64();

    // Stop gracefully, then check the log: end to end, and every acknowledged entry in it.
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let status = server.wait().unwrap();
    let report = vigil::verify::verify_data_dir(&dir.path().join("data"), &log.verifier()).unwrap();
    let store = vigil::store::Store::open_read_only(&dir.path().join("data")).unwrap();
    let acked = acked.into_inner().unwrap();
    let lost = acked
        .iter()
        .filter(|(seq, hash)| {
            store.entry(*seq).ok().flatten().map(|b| vigil_core::hash::chain_hash(&b).to_hex()) != Some(hash.clone())
        })
        .count();
    let errors = errors.load(Ordering::SeqCst);
    println!(
        "total: {appended} events appended ({:.0}/s), append p50 {:.2?} p99 {:.2?}; {} reads ({:.0}/s), read p50 {:.2?} p99 {:.2?}; errors {errors}",
        appended as f64 / elapsed,
        pct(&mut total_appends, 0.5),
        pct(&mut total_appends, 0.99),
        total_reads.len(),
        total_reads.len() as f64 / elapsed,
        pct(&mut total_reads, 0.5),
        pct(&mut total_reads, 0.99),
    );
    // Memory: the second report against the last (the first includes warm-up), and the peak.
    let (second, final_, peak) = (
        memory.get(1).or(memory.first()).copied().unwrap_or(0),
        memory.last().copied().unwrap_or(0),
        memory.iter().max().copied().unwrap_or(0),
    );
    println!(
        "server memory (RSS): {:.1} MiB at the second report, {:.1} MiB at the end, peak {:.1} MiB",
        second as f64 / 1024.0,
        final_ as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!(
        "log after a graceful stop ({status}): {} entries verified end to end; {} acknowledged, {lost} of them missing or changed",
        report.size,
        acked.len()
    );
    if errors > 0 || lost > 0 || !status.success() {
        std::process::exit(1);
    }
}
