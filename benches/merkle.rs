//! The Merkle tree beside the `ct-merkle` crate (RFC 6962 over SHA-256, in memory), in the same
//! run, on the same leaves:
//!
//! 1. append + root: every leaf hashed and appended in batches (as the engine's groups do), the
//!    root computed after each batch; vigil's `TileTree` keeps its 256-wide tiles in memory
//!    (`MemoryTiles`), `ct-merkle`'s `MemoryBackedTree` its flat array of nodes;
//! 2. inclusion proofs at the full size for pseudo-random leaves;
//! 3. consistency proofs from pseudo-random old sizes to the full size.
//!
//! Roots and proofs are checked equal between the two, so both compute the same thing.
//! Knobs: `VIGIL_BENCH_LEAVES` (1,000,000), `VIGIL_BENCH_BATCH` (1,000), `VIGIL_BENCH_PROOFS`
//! (100,000), `VIGIL_BENCH_ROUNDS` (3). Figures and command in BENCHMARKS.md.

mod common;

use common::arg;
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use sha2::Sha256;
use std::time::Instant;
use vigil_core::merkle::{leaf_hash, MemoryTiles, NoTiles, TileTree};

fn bytes(hashes: &[vigil_core::hash::Digest]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.0).collect()
}

fn main() {
    let n = arg("VIGIL_BENCH_LEAVES", 1_000_000usize);
    let batch = arg("VIGIL_BENCH_BATCH", 1_000usize);
    let proofs = arg("VIGIL_BENCH_PROOFS", 100_000usize);
    let rounds = arg("VIGIL_BENCH_ROUNDS", 3usize);
    println!(
        "{n} leaves of 64 bytes appended in batches of {batch}; {proofs} inclusion and {proofs} consistency proofs"
    );
    let leaves: Vec<[u8; 64]> = (0..n as u64)
        .map(|i| {
            let mut l = [0u8; 64];
            for (j, c) in l.chunks_mut(8).enumerate() {
                c.copy_from_slice(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ j as u64).to_be_bytes());
            }
            l
        })
        .collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |bound: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % bound
    };
    let indices: Vec<u64> = (0..proofs).map(|_| next(n as u64)).collect();
    let olds: Vec<u64> = (0..proofs).map(|_| 1 + next(n as u64 - 1)).collect();
    let size = n as u64;

    println!(
        "{:>5} | {:>26} | {:>26} | {:>26}",
        "round", "append+root leaves/s (ratio)", "inclusion proofs/s (ratio)", "consistency proofs/s (ratio)"
    );
    for round in 0..rounds {
        // 1. Append + root per batch.
        let t = Instant::now();
        let (mut tree, mut tiles) = (TileTree::new(), MemoryTiles::default());
        let mut root = None;
        for chunk in leaves.chunks(batch) {
            let hashes: Vec<_> = chunk.iter().map(|l| leaf_hash(l)).collect();
            tiles.store(tree.append(&hashes));
            root = Some(tree.root(tree.size(), &NoTiles).unwrap());
        }
        let v_append = n as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut ct = MemoryBackedTree::<Sha256, [u8; 64]>::new();
        let mut ct_root = None;
        for chunk in leaves.chunks(batch) {
            for l in chunk {
                ct.push(*l);
            }
            ct_root = Some(ct.root());
        }
        let c_append = n as f64 / t.elapsed().as_secs_f64();
        assert_eq!(root.unwrap().0.as_slice(), ct_root.unwrap().as_bytes().as_slice(), "the two roots differ");

        // 2. Inclusion proofs.
        let t = Instant::now();
        let ours: Vec<_> = indices.iter().map(|&i| tree.inclusion_proof(i, size, &tiles).unwrap()).collect();
        let v_incl = proofs as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        let theirs: Vec<_> = indices.iter().map(|&i| ct.prove_inclusion(i as usize)).collect();
        let c_incl = proofs as f64 / t.elapsed().as_secs_f64();
        for (o, t) in ours.iter().zip(&theirs).step_by(997) {
            assert_eq!(bytes(&o.hashes), t.as_bytes(), "inclusion proofs differ at {}", o.index);
        }

        // 3. Consistency proofs.
        let t = Instant::now();
        let ours: Vec<_> = olds.iter().map(|&o| tree.consistency_proof(o, size, &tiles).unwrap()).collect();
        let v_cons = proofs as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        let theirs: Vec<_> = olds.iter().map(|&o| ct.prove_consistency((size - o) as usize)).collect();
        let c_cons = proofs as f64 / t.elapsed().as_secs_f64();
        for (o, t) in ours.iter().zip(&theirs).step_by(997) {
            assert_eq!(bytes(&o.hashes), t.as_bytes(), "consistency proofs differ from {}", o.old_size);
        }
        println!(
            "{round:>5} | {v_append:>10.0} / {c_append:>9.0} ({:.2}) | {v_incl:>10.0} / {c_incl:>9.0} ({:.2}) | {v_cons:>10.0} / {c_cons:>9.0} ({:.2})",
            v_append / c_append,
            v_incl / c_incl,
            v_cons / c_cons
        );
    }
    println!("(each cell: vigil / ct-merkle, and vigil's ratio to ct-merkle; above 1 is faster)");
}
