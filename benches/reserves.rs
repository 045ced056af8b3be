//! Proof-of-reserves tree: build time, peak memory, proof size, proof generation and
//! verification, for N accounts × A assets (`VIGIL_BENCH_ACCOUNTS`, comma-separated, default
//! 1000000; `VIGIL_BENCH_ASSETS`, default 4). Beside each build, measured in the same run: the
//! hashing it cannot avoid (every record secret, record id, leaf, padding leaf and node hash, on
//! all cores), and the ratio of the two. See BENCHMARKS.md for the command and figures.

mod common;

use common::{arg, dir_bytes};
use rayon::prelude::*;
use std::io::Write;
use std::time::Instant;
use vigil_core::event::{Amount, AssetReserves, ReserveSnapshot};
use vigil_core::reserves::{record_id, Hashers, Proof};

/// Peak resident memory (VmHWM) in MiB, and a reset of it (Linux).
fn peak_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Deterministic balances: most accounts small, some large (xorshift).
fn write_balances(path: &std::path::Path, n: u64, assets: &[String]) {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    writeln!(out, "account,{}", assets.join(",")).unwrap();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut line = String::new();
    for i in 0..n {
        line.clear();
        line.push_str(&format!("user-{i:09}"));
        for _ in assets {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = if x % 100 == 0 { x % 1_000_000_000_000 } else { x % 100_000_000 };
            line.push(',');
            line.push_str(&v.to_string());
        }
        line.push('\n');
        out.write_all(line.as_bytes()).unwrap();
    }
    out.flush().unwrap();
}

/// The hashes a build must compute, timed on all cores: per account its record secret, record
/// id and leaf; per other slot a padding leaf; per inner node one node hash.
fn hash_floor(n: u64, padded: u64, a: usize) -> f64 {
    let hs = Hashers::default();
    let sums = vec![12_345u128; a];
    let secret = [7u8; 32];
    let t = Instant::now();
    let x: u64 = (0..n)
        .into_par_iter()
        .map(|i| {
            let account = format!("user-{i:09}");
            let s = hs.record_secret(&secret, &account);
            let id = hs.record_id(&s);
            (hs.leaf(&s, &sums, &account).0[0] ^ id[0]) as u64
        })
        .sum::<u64>()
        + (n..padded).into_par_iter().map(|i| hs.padding(&secret, i).0[0] as u64).sum::<u64>()
        + (1..padded)
            .into_par_iter()
            .map(|i| {
                let d = vigil_core::hash::Digest([i as u8; 32]);
                hs.node(&d, &sums, &d, &sums).0[0] as u64
            })
            .sum::<u64>();
    std::hint::black_box(x);
    t.elapsed().as_secs_f64()
}

fn main() {
    let sizes: Vec<u64> =
        arg("VIGIL_BENCH_ACCOUNTS", "1000000".to_string()).split(',').map(|s| s.trim().parse().unwrap()).collect();
    let a: usize = arg("VIGIL_BENCH_ASSETS", 4usize);
    let proofs: usize = arg("VIGIL_BENCH_PROOFS", 1000usize);
    let assets: Vec<String> = ["BTC", "ETH", "USDT", "BNB", "XRP", "SOL", "ADA", "DOGE"]
        .iter()
        .cycle()
        .take(a)
        .enumerate()
        .map(|(i, s)| if i < 8 { s.to_string() } else { format!("A{i:02}") })
        .collect();
    println!("threads: {}, assets: {}", rayon::current_num_threads(), assets.join(","));
    for n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("balances.csv");
        write_balances(&input, n, &assets);
        let input_mb = std::fs::metadata(&input).unwrap().len() as f64 / 1e6;
        let (records, tree_dir) = (dir.path().join("records.csv"), dir.path().join("tree"));
        reset_peak();
        let base_mib = peak_mib();
        let t = Instant::now();
        let built = vigil::reserves::build("bench", &assets, &[3; 32], &input, &records, &tree_dir, false).unwrap();
        let secs = t.elapsed().as_secs_f64();
        let peak = peak_mib();
        let padded = built.meta.padded_size();
        let floor = hash_floor(n, padded, a);
        println!(
            "{n} accounts x {a} assets: build {secs:.2} s ({:.2} us/account), peak RSS {peak:.0} MiB (before {base_mib:.0}), \
             input {input_mb:.0} MB, tree {:.0} MB, records {:.0} MB, padded {padded}",
            secs * 1e6 / n as f64,
            dir_bytes(&tree_dir) as f64 / 1e6,
            std::fs::metadata(&records).unwrap().len() as f64 / 1e6,
        );
        for (phase, d) in &built.phases {
            println!("  {phase}: {:.2} s", d.as_secs_f64());
        }
        println!("  unavoidable hashing alone: {floor:.2} s; ratio hashing/build {:.2}", floor / secs);

        // Proofs of accounts spread over the records file.
        let tree = vigil::reserves::Tree::open(&tree_dir).unwrap();
        let snap = ReserveSnapshot {
            snapshot: "bench".into(),
            cut_off_ms: 0,
            liabilities_root: tree.meta.root.clone(),
            padded_size: padded,
            assets: tree
                .meta
                .assets
                .iter()
                .zip(&tree.meta.liabilities)
                .map(|(s, l)| AssetReserves {
                    asset: s.clone(),
                    liabilities: *l,
                    reserves: Amount(l.0),
                    ratio: vigil_core::event::ratio(l.0, l.0),
                })
                .collect(),
            attestations: vec![0],
        };
        let text = std::fs::read_to_string(&records).unwrap();
        let step = (n as usize / proofs).max(1);
        // (account, secret); the benchmark's account ids need no CSV quoting.
        let secrets: Vec<(String, [u8; 32])> = text
            .lines()
            .skip(1)
            .step_by(step)
            .take(proofs)
            .map(|l| {
                let mut s = [0u8; 32];
                hex::decode_to_slice(l.rsplit(',').next().unwrap(), &mut s).unwrap();
                (l.split(',').next().unwrap().to_string(), s)
            })
            .collect();
        drop(text);
        let t = Instant::now();
        let encoded: Vec<Vec<u8>> =
            secrets.iter().map(|(_, s)| tree.proof(&record_id(s)).unwrap().unwrap().encode()).collect();
        let gen = t.elapsed().as_secs_f64() / secrets.len() as f64;
        let t = Instant::now();
        for ((account, s), b) in secrets.iter().zip(&encoded) {
            Proof::decode(b).unwrap().verify(s, account, &snap).unwrap();
        }
        let ver = t.elapsed().as_secs_f64() / secrets.len() as f64;
        let max = encoded.iter().map(Vec::len).max().unwrap();
        let mean = encoded.iter().map(Vec::len).sum::<usize>() as f64 / encoded.len() as f64;
        println!(
            "  proofs ({}): size max {max} B, mean {mean:.0} B; generate {:.0} us; decode+verify {:.0} us",
            encoded.len(),
            gen * 1e6,
            ver * 1e6
        );
    }
}
