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
