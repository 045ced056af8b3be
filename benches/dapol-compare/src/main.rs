//! dapol-compare: time and memory of building a DAPOL+ proof-of-liabilities tree
//! with the `dapol` crate (NDM-SMT accumulator), for comparison with vigil.
//!
//! Measures, for N entities with distinct ids and random liabilities (uniform
//! below 10^9):
//! - wall time of `DapolTree::new` (random leaf mapping, leaf Pedersen
//!   commitments, padding nodes and the multi-threaded sum-tree build);
//! - peak resident memory (VmHWM) of the build, with the high-water mark reset
//!   via /proc/self/clear_refs after the input is generated;
//! - one inclusion proof: generation time, bincode size, verification time.
//!   dapol 0.4.0's default (aggregate all `height` path range proofs into one
//!   Bulletproof) only verifies when `height` is a power of two: the padded
//!   verifier drops its padding commitments (AggregatedRangeProof::verify). So
//!   we aggregate the largest power of two <= height (all of them for height
//!   16 or 32) and prove the rest individually, via generate_inclusion_proof_with.
//!
//! One asset only: a DAPOL+ tree carries exactly one u64 liability per entity.
//!
//! Run (standalone crate, not part of the vigil workspace):
//!   cd benches/dapol-compare
//!   CARGO_TARGET_DIR=/root/.cache/vigil/dapol-target cargo build --release -j 2
//!   DAPOL_ENTITIES=100000 /root/.cache/vigil/dapol-target/release/dapol-compare
//! Env: DAPOL_ENTITIES (default 100000); DAPOL_HEIGHT (default: the smallest
//! height dapol does not warn about, i.e. sparsity 2^(height-1) / N > 2, its
//! MIN_RECOMMENDED_SPARSITY; dapol's own default height is 32).

use std::str::FromStr;
use std::time::Instant;

use dapol::{
    AccumulatorType, AggregationFactor, DapolTree, Entity, EntityId, Height, MaxLiability, MaxThreadCount, Salt, Secret,
};
use rand::{rngs::StdRng, Rng, SeedableRng};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("bad {name}")))
}

/// Peak resident set size in KiB (VmHWM from /proc/self/status).
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// User + system CPU seconds of the whole process so far (/proc/self/stat, 100 ticks/s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    (fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()) as f64 / 100.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let n = env_u64("DAPOL_ENTITIES", 100_000);
    // A tree of height h has 2^(h-1) bottom-layer leaves; dapol rejects N above that
    // and warns unless (2^(h-1) / N) > 2 (integer division).
    let min_height = (2..=64u64).find(|h| (1u64 << (h - 1)) / n > 2).unwrap();
    let height = env_u64("DAPOL_HEIGHT", min_height);

    // Use every core: leaf hashing/commitments run on rayon's global pool, and the
    // tree builder spawns up to max_thread_count threads.
    dapol::initialize_machine_parallelism();
    let threads = MaxThreadCount::default();

    // Input generation (not counted in time or peak memory).
    let mut rng = StdRng::seed_from_u64(42);
    let entities: Vec<Entity> = (0..n)
        .map(|i| Entity {
            liability: rng.gen_range(0..1_000_000_000u64),
            id: EntityId::from_str(&format!("user-{i:010}")).unwrap(),
        })
        .collect();
    let probe_id = entities[(n / 2) as usize].id.clone();

    println!("dapol entities {n}");
    println!("dapol height {height} threads {}", threads.as_u8());
    println!("dapol VmHWM before reset MiB {:.1}", mib(vm_hwm_kib()));
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM via /proc/self/clear_refs");

    // Default 2^32: liabilities < 10^9 fit, and dapol then uses 64-bit range
    // proofs, so internal-node sums (up to N * 10^9) stay in range.
    let max_liability = MaxLiability::default();
    let bits = max_liability.as_range_proof_upper_bound_bit_length();
    let (start, cpu_start) = (Instant::now(), cpu_seconds());
    let tree = DapolTree::new(
        AccumulatorType::NdmSmt,
        Secret::from_str("master_secret").unwrap(),
        Salt::from_str("salt_b").unwrap(),
        Salt::from_str("salt_s").unwrap(),
        max_liability,
        threads,
        Height::expect_from(height as u8),
        entities,
    )
    .expect("build DAPOL tree");
    let secs = start.elapsed().as_secs_f64();

    println!("dapol build seconds {secs:.3}");
    println!("dapol build cpu seconds {:.3}", cpu_seconds() - cpu_start);
    println!("dapol build us/account {:.3}", secs * 1e6 / n as f64);
    println!("dapol peak RSS MiB {:.1}", mib(vm_hwm_kib()));

    let start = Instant::now();
    let aggregated = 1u8 << (7 - (height as u8).leading_zeros()); // largest 2^k <= height
    let proof =
        tree.generate_inclusion_proof_with(&probe_id, AggregationFactor::Number(aggregated)).expect("generate proof");
    let gen_ms = start.elapsed().as_secs_f64() * 1e3;
    let bytes = bincode::serialize(&proof).expect("serialize proof").len();
    let start = Instant::now();
    proof.verify(*tree.root_hash()).expect("verify proof");
    let verify_ms = start.elapsed().as_secs_f64() * 1e3;

    println!(
        "dapol proof range proofs: {aggregated} aggregated + {} individual, {bits}-bit",
        height as u8 - aggregated
    );
    println!("dapol proof bytes {bytes}");
    println!("dapol proof generate ms {gen_ms:.3}");
    println!("dapol proof verify ms {verify_ms:.3}");
}
