//! Helpers the benchmarks share (each bench includes this module; not every bench uses all).
#![allow(dead_code)]

use std::time::Duration;
use vigil_core::event::Event;

/// A knob from the environment, or its default.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// The `p` quantile of sorted latencies (zero for none).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    match sorted.len() {
        0 => Duration::ZERO,
        n => sorted[((n as f64 * p) as usize).min(n - 1)],
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Bytes of the files directly in `p`.
pub fn dir_bytes(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p).map_or(0, |d| d.flatten().map(|e| e.metadata().map_or(0, |m| m.len())).sum())
}

/// The `i`-th executed withdrawal of a benchmark's traffic, its id prefixed by `tag`.
pub fn withdrawal(tag: &str, i: u64) -> Event {
    Event::from_value(serde_json::json!({
        "kind": "withdrawal", "withdrawal_id": format!("{tag}-{i}"), "stage": "executed", "asset": "BTC",
        "amount": (100_000 + i).to_string(), "destination": "bc1qbenchdestination0000000000000000",
        "tx_id": format!("tx-{i:064}"), "wallet": "hot-btc-1", "wallet_tier": "hot", "account": format!("acct-{}", i % 10_007),
    }))
    .unwrap()
}

/// CPU time of this process so far, every thread's, those that have ended included (Linux:
/// `/proc/self/stat`, in clock ticks of 10 ms; 0 elsewhere).
#[allow(dead_code)]
pub fn process_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // After the command name (which may hold spaces) in parentheses: utime and stime are the
    // 12th and 13th fields.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest.split_whitespace().skip(11).take(2).filter_map(|x| x.parse().ok()).collect();
    f.iter().sum::<u64>() as f64 / 100.0
}

/// A figure of each live thread of this process, summed by thread name: `read` gets it from
/// the thread's `/proc/self/task/<tid>` directory (Linux; empty elsewhere).
fn per_thread(read: impl Fn(&std::path::Path) -> Option<u64>) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return out };
    for t in dir.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default().trim().to_string();
        *out.entry(comm).or_default() += read(&t.path()).unwrap_or(0);
    }
    out
}

/// CPU time (ns) of the thread whose `/proc` directory is `task` (its `schedstat`).
fn schedstat_ns(task: &std::path::Path) -> Option<u64> {
    let s = std::fs::read_to_string(task.join("schedstat")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// CPU time (ns) of each live thread by name.
pub fn thread_cpu() -> std::collections::BTreeMap<String, u64> {
    per_thread(schedstat_ns)
}

/// CPU time (ns) of the calling thread (Linux: `/proc/thread-self`; 0 elsewhere).
pub fn own_thread_cpu_ns() -> u64 {
    schedstat_ns(std::path::Path::new("/proc/thread-self")).unwrap_or(0)
}

/// Bytes each live thread by name has passed to `write` and its kin, to files and sockets
/// alike (`wchar` of `io`).
pub fn thread_written() -> std::collections::BTreeMap<String, u64> {
    per_thread(|t| {
        let io = std::fs::read_to_string(t.join("io")).ok()?;
        io.lines().find_map(|l| l.strip_prefix("wchar: "))?.trim().parse().ok()
    })
}
