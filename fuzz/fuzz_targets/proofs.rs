//! Merkle proofs (docs/FORMAT.md §5): `InclusionProof` and `ConsistencyProof` read from JSON
//! (their serde forms: base64 hashes, at most 65) and `InclusionProof::verify` /
//! `ConsistencyProof::verify` of them, and of proofs built straight from raw bytes (an 8-byte
//! index or old size, an 8-byte tree size, then 32-byte hashes) to reach every size quickly.
//! Also `merkle::CompactRange::from_parts`.
//!
//! Properties: JSON round trip; against the fixed tree's real roots, a proof verifies only if
//! it is the tree's own proof (anything else would be a hash collision); a consistency proof
//! never links the tree to its fork.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::hash::Digest;
use vigil_core::merkle::{CompactRange, ConsistencyProof, InclusionProof};
use vigil_fuzz::{FORK, TREE, TREE_SIZE};

fn inclusion(p: &InclusionProof) {
    if p.index < p.tree_size && p.tree_size <= TREE_SIZE {
        let (leaf, root) = (TREE.leaves[p.index as usize], TREE.root(p.tree_size));
        if p.verify(&leaf, &root).is_ok() {
            let real = TREE.tree.inclusion_proof(p.index, p.tree_size, &TREE.tiles).expect("in the tree");
            assert_eq!(p.hashes, real.hashes, "a verifying inclusion proof that is not the tree's");
        }
        let _ = p.verify(&FORK.leaves[p.index as usize], &root);
    }
    let any = p.hashes.first().copied().unwrap_or_default();
    let _ = p.verify(&any, &any);
    let _ = p.verify(&Digest::ZERO, &TREE.root(TREE_SIZE));
}

fn consistency(p: &ConsistencyProof) {
    if p.old_size <= p.new_size && p.new_size <= TREE_SIZE {
        let (old, new) = (TREE.root(p.old_size), TREE.root(p.new_size));
        if p.verify(&old, &new).is_ok() {
            let real = TREE.tree.consistency_proof(p.old_size, p.new_size, &TREE.tiles).expect("in the tree");
            assert_eq!(p.hashes, real.hashes, "a verifying consistency proof that is not the tree's");
        }
        if p.old_size > 0 {
            assert!(p.verify(&old, &FORK.root(p.new_size)).is_err(), "a consistency proof to a fork");
            assert!(p.verify(&FORK.root(p.old_size), &new).is_err(), "a consistency proof from a fork");
        }
    }
    let any = p.hashes.last().copied().unwrap_or_default();
    let _ = p.verify(&any, &any);
    let _ = p.verify(&Digest::ZERO, &TREE.root(TREE_SIZE));
}

fuzz_target!(|data: &[u8]| {
    if data.first() == Some(&b'{') {
        if let Ok(p) = serde_json::from_slice::<InclusionProof>(data) {
            let back: InclusionProof = serde_json::from_slice(&serde_json::to_vec(&p).unwrap()).unwrap();
            assert_eq!(back, p, "inclusion proof JSON round trip");
            inclusion(&p);
        }
        if let Ok(p) = serde_json::from_slice::<ConsistencyProof>(data) {
            let back: ConsistencyProof = serde_json::from_slice(&serde_json::to_vec(&p).unwrap()).unwrap();
            assert_eq!(back, p, "consistency proof JSON round trip");
            consistency(&p);
        }
        return;
    }
    let Some((head, rest)) = data.split_first_chunk::<16>() else { return };
    let a = u64::from_be_bytes(head[..8].try_into().unwrap());
    let b = u64::from_be_bytes(head[8..].try_into().unwrap());
    let hashes: Vec<Digest> = rest.chunks_exact(32).map(|c| Digest(c.try_into().unwrap())).collect();
    inclusion(&InclusionProof { index: a, tree_size: b, hashes: hashes.clone() });
    consistency(&ConsistencyProof { old_size: a, new_size: b, hashes: hashes.clone() });
    if let Ok(r) = CompactRange::from_parts(b, hashes) {
        let _ = r.root();
    }
});
