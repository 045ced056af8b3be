//! Tiles (C2SP tlog-tiles, docs/FORMAT.md §5): `TilePath::parse` of the part of a URL after
//! `tile/`, `TileNodes::from_bytes` of a hash tile, and `TileTree::load` of a tree's right edge
//! from tiles read back from storage, with `TileTree::{root, node, inclusion_proof,
//! consistency_proof}` over them.
//!
//! Input: the first line is tried as a tile path; the rest (after the first `\n`) is an 8-byte
//! tree size, then a tile's bytes, served for every tile the tree asks for (including
//! inconsistent ones: the point is that nothing panics).
//!
//! Round trips: a parsed path prints back to itself (`TilePath::to_path`), a parsed tile's bytes
//! are the input (`TileNodes::to_bytes`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use vigil_core::merkle::{TileNodes, TilePath, TileSource, TileTree};

/// Serves the same tile (or none) for every (level, index).
struct Same(Option<Arc<TileNodes>>);

impl TileSource for Same {
    fn tile(&self, _level: u8, _index: u64) -> Result<Option<Arc<TileNodes>>, String> {
        Ok(self.0.clone())
    }
}

fuzz_target!(|data: &[u8]| {
    let (first, rest) = vigil_fuzz::split(data, b"\n");
    if let Ok(s) = std::str::from_utf8(first) {
        if let Some(p) = TilePath::parse(s) {
            assert_eq!(p.to_path(), s, "tile path round trip");
        }
    }
    for bytes in [data, rest] {
        if let Some(t) = TileNodes::from_bytes(bytes) {
            assert_eq!(t.to_bytes(), bytes, "tile round trip");
            assert_eq!(t.width() * 32, bytes.len() as u64);
            for k in 0..=8 {
                let _ = t.node(k, 0);
                let _ = t.node(k, t.width() >> k);
            }
        }
    }
    let Some((size, tile)) = rest.split_first_chunk::<8>() else { return };
    let size = u64::from_be_bytes(*size);
    let src = Same(TileNodes::from_bytes(tile).map(Arc::new));
    let Ok(tree) = TileTree::load(size, &src) else { return };
    for s in [size, size / 2, size.saturating_sub(1), 1] {
        let _ = tree.root(s, &src);
        let _ = tree.inclusion_proof(s / 3, s, &src);
        let _ = tree.consistency_proof(s / 2, s, &src);
    }
    let _ = tree.inclusion_proofs(&[0, size / 2, size.saturating_sub(1)], size, &src);
    for level in [0u8, 7, 8, 15, 63, 64, 255] {
        let _ = tree.node(level, size >> level.min(63), &src);
    }
});
