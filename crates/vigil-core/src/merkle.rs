//! RFC 6962 / RFC 9162 Merkle tree over entry bytes with SHA-256, stored as C2SP tlog-tiles.
//!
//! The proof algorithms are the `tlog_tiles` crate's (a port of Go's `sumdb/tlog`, the code
//! behind the Go checksum database); this module adds typed proofs whose `verify` never panics,
//! the in-memory right edge of the tiled tree that the sequencer appends to ([`TileTree`]),
//! and a streaming root for verifiers ([`CompactRange`]).
//!
//! Tile geometry (tlog-tiles, height 8): the tile at tile level `L`, index `N` holds the hashes
//! of tree level `8L`, nodes `256N .. 256N+255`. Nodes of tree levels `8L+1 ..= 8L+7` are not
//! stored; they are recomputed from the tile below them.

use crate::hash::Digest;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tlog_tiles::{Hash, HashReader};

pub const TILE_HEIGHT: u8 = 8;
pub const TILE_WIDTH: u64 = 256;
/// An inclusion proof in a tree of fewer than 2^64 leaves never needs more hashes than this
/// (⌈log₂ n⌉).
pub const MAX_PROOF_HASHES: usize = 64;
/// Nor does a consistency proof need more than this: ⌈log₂ n⌉ + 1 (from 3 to 9, five hashes;
/// from 3 to 2^63 + 1, sixty-five). The most a proof read from JSON may hold.
pub const MAX_CONSISTENCY_HASHES: usize = 65;

/// The root of the empty tree: SHA-256 of nothing.
pub const EMPTY_ROOT: Digest = Digest(tlog_tiles::EMPTY_HASH.0);

/// Leaf hash: SHA-256(0x00 ‖ entry bytes).
pub fn leaf_hash(entry: &[u8]) -> Digest {
    Digest(tlog_tiles::record_hash(entry).0)
}

/// Interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    Digest(tlog_tiles::node_hash(Hash(left.0), Hash(right.0)).0)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizeOrder { old: u64, new: u64 },
    #[error("proof has {got} hashes; no valid proof of its kind has more than {most}")]
    TooLong { got: usize, most: usize },
    #[error("proof does not verify: the computed root differs")]
    Mismatch,
    #[error("the proof is in a tree of size {proof}, not the checkpoint's {checkpoint}")]
    OtherTree { proof: u64, checkpoint: u64 },
    #[error("the proof is for entry {proof}, not {entry}")]
    OtherEntry { proof: u64, entry: u64 },
    #[error("the two roots of equal-size trees differ")]
    DifferentRoots,
    #[error("a proof from the empty tree must be empty and start from the empty root")]
    FromEmpty,
}

/// Base64 hash lists in JSON, like the checkpoint's root line, written and read without a
/// `String` per hash: a receipt carries a proof of ~20 hashes per event.
mod b64_hashes {
    use crate::hash::Digest;
    use base64::prelude::{Engine, BASE64_STANDARD};
    use serde::{de, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Digest], s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for d in v {
            let mut buf = [0u8; 44];
            let n = BASE64_STANDARD.encode_slice(d.0, &mut buf).map_err(serde::ser::Error::custom)?;
            seq.serialize_element(std::str::from_utf8(&buf[..n]).map_err(serde::ser::Error::custom)?)?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Digest>, D::Error> {
        struct Hashes;
        impl<'de> de::Visitor<'de> for Hashes {
            type Value = Vec<Digest>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of base64 hashes")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Digest>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(super::MAX_CONSISTENCY_HASHES));
                while let Some(B64(d)) = seq.next_element()? {
                    if out.len() == super::MAX_CONSISTENCY_HASHES {
                        return Err(de::Error::custom("proof has too many hashes"));
                    }
                    out.push(d);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(Hashes)
    }

    /// One hash, base64 (canonical: padded, no stray bits).
    struct B64(Digest);

    impl<'de> serde::Deserialize<'de> for B64 {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<B64, D::Error> {
            struct V;
            impl de::Visitor<'_> for V {
                type Value = B64;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a base64 hash")
                }
                fn visit_str<E: de::Error>(self, s: &str) -> Result<B64, E> {
                    // Room for what 44 characters could decode to; a hash is exactly 32 bytes.
                    let mut buf = [0u8; 33];
                    if s.len() != 44 {
                        return Err(E::custom("a hash is 32 bytes"));
                    }
                    let n = BASE64_STANDARD.decode_slice(s, &mut buf).map_err(E::custom)?;
                    let a: [u8; 32] = buf[..n].try_into().map_err(|_| E::custom("a hash is 32 bytes"))?;
                    Ok(B64(Digest(a)))
                }
            }
            d.deserialize_str(V)
        }
    }
}

/// Proof that the leaf at `index` is in the tree of `tree_size` leaves (RFC 9162 §2.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InclusionProof {
    pub index: u64,
    pub tree_size: u64,
    /// Base64 SHA-256 hashes, bottom up.
    #[serde(with = "b64_hashes")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub hashes: Vec<Digest>,
}

impl InclusionProof {
    /// Checks the proof of entry `index` against its leaf hash and a checkpoint's tree: its
    /// size and root. Index and size matter: the same hashes can verify at another (index,
    /// size) under the same root (the last leaf of a tree of 5 and leaf 1 of a tree of 2 share
    /// a one-hash path), so neither is ever taken from the proof on trust (docs/FORMAT.md §5).
    /// Never panics.
    pub fn verify_in(&self, leaf: &Digest, index: u64, size: u64, root: &Digest) -> Result<(), ProofError> {
        if self.tree_size != size {
            return Err(ProofError::OtherTree { proof: self.tree_size, checkpoint: size });
        }
        if self.index != index {
            return Err(ProofError::OtherEntry { proof: self.index, entry: index });
        }
        self.verify(leaf, root)
    }

    /// Checks the proof against a leaf hash and the root of a tree of the proof's own
    /// `tree_size` (see [`InclusionProof::verify_in`] for a checkpoint's). Never panics.
    pub fn verify(&self, leaf: &Digest, root: &Digest) -> Result<(), ProofError> {
        if self.index >= self.tree_size {
            return Err(ProofError::IndexOutOfRange { index: self.index, size: self.tree_size });
        }
        if self.hashes.len() > MAX_PROOF_HASHES {
            return Err(ProofError::TooLong { got: self.hashes.len(), most: MAX_PROOF_HASHES });
        }
        let p: Vec<Hash> = self.hashes.iter().map(|h| Hash(h.0)).collect();
        tlog_tiles::check_record(&p, self.tree_size, Hash(root.0), self.index, Hash(leaf.0))
            .map_err(|_| ProofError::Mismatch)
    }
}

/// Proof that the tree of `old_size` leaves is a prefix of the tree of `new_size` leaves
/// (RFC 9162 §2.1.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    /// Base64 SHA-256 hashes (RFC 9162 §2.1.4.2).
    #[serde(with = "b64_hashes")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub hashes: Vec<Digest>,
}

impl ConsistencyProof {
    /// Checks the proof against both roots. Never panics.
    pub fn verify(&self, old_root: &Digest, new_root: &Digest) -> Result<(), ProofError> {
        if self.old_size > self.new_size {
            return Err(ProofError::SizeOrder { old: self.old_size, new: self.new_size });
        }
        if self.hashes.len() > MAX_CONSISTENCY_HASHES {
            return Err(ProofError::TooLong { got: self.hashes.len(), most: MAX_CONSISTENCY_HASHES });
        }
        if self.old_size == 0 {
            // Every tree extends the empty tree; the proof carries nothing. The empty tree has
            // one root only.
            if !self.hashes.is_empty() || *old_root != EMPTY_ROOT {
                return Err(ProofError::FromEmpty);
            }
            if self.new_size > 0 {
                return Ok(());
            }
        }
        if self.old_size == self.new_size {
            if !self.hashes.is_empty() {
                return Err(ProofError::Mismatch);
            }
            return if old_root == new_root { Ok(()) } else { Err(ProofError::DifferentRoots) };
        }
        let p: Vec<Hash> = self.hashes.iter().map(|h| Hash(h.0)).collect();
        tlog_tiles::check_tree(&p, self.new_size, Hash(new_root.0), self.old_size, Hash(old_root.0))
            .map_err(|_| ProofError::Mismatch)
    }
}

/// A tile with its inner levels: `levels[0]` are the tile's own hashes (tree level `8L`),
/// `levels[k]` the complete nodes `k` levels above them, up to `levels[8]` (the tile's root,
/// once the tile is full).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TileNodes {
    levels: Vec<Vec<Digest>>,
}

impl TileNodes {
    pub fn new() -> Self {
        TileNodes { levels: vec![Vec::new(); TILE_HEIGHT as usize + 1] }
    }

    /// Expands a stored tile (concatenated 32-byte hashes, at most 256).
    pub fn from_bytes(data: &[u8]) -> Option<Self> {
        if data.len() % 32 != 0 || data.len() > 32 * TILE_WIDTH as usize {
            return None;
        }
        let mut t = Self::new();
        for c in data.chunks_exact(32) {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            t.push(Digest(h));
        }
        Some(t)
    }

    /// Number of hashes in the tile (its tlog-tiles width).
    pub fn width(&self) -> u64 {
        self.levels[0].len() as u64
    }

    pub fn is_full(&self) -> bool {
        self.width() == TILE_WIDTH
    }

    /// The tile's bytes: its hashes concatenated.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.levels[0].iter().flat_map(|h| h.0).collect()
    }

    /// Appends one hash; returns the tile's root when this fills the tile.
    pub fn push(&mut self, h: Digest) -> Option<Digest> {
        debug_assert!(!self.is_full());
        self.levels[0].push(h);
        let mut k = 0;
        while self.levels[k].len() % 2 == 0 && k < TILE_HEIGHT as usize {
            let n = self.levels[k].len();
            let parent = node_hash(&self.levels[k][n - 2], &self.levels[k][n - 1]);
            self.levels[k + 1].push(parent);
            k += 1;
        }
        if self.is_full() {
            Some(self.levels[TILE_HEIGHT as usize][0])
        } else {
            None
        }
    }

    /// The complete node `i` at inner level `k`, if present.
    pub fn node(&self, k: u8, i: u64) -> Option<Digest> {
        self.levels.get(k as usize)?.get(usize::try_from(i).ok()?).copied()
    }
}

/// Reads full (immutable) tiles the tree does not keep in memory.
pub trait TileSource {
    /// The expanded tile at `(level, index)`; `None` if it does not exist.
    fn tile(&self, level: u8, index: u64) -> Result<Option<Arc<TileNodes>>, String>;
}

/// The levels of the hashes in the inclusion proof of leaf `index` in a tree of `size`
/// leaves (`index < size`), as a bit set (bit `l` for level `l`; the proof lists them bottom
/// up, RFC 9162 §2.1.3 PATH): every level below the one where `index` and `size - 1` part (the
/// topmost of them may hold the root of the incomplete right edge), then each level above it
/// where the leaf's ancestor is a right child.
fn proof_levels(index: u64, size: u64) -> u64 {
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let below = 1u64.checked_shl(inner).map_or(u64::MAX, |b| b - 1);
    below | index
}

/// Remembers the tiles one batch of proofs reads: proofs of neighbouring leaves read the same
/// few tiles, which are then fetched from the underlying source once.
struct RecentTiles<'a> {
    src: &'a dyn TileSource,
    /// (level, index) and the tile, most recent last.
    tiles: std::cell::RefCell<Vec<(TileId, Arc<TileNodes>)>>,
}

type TileId = (u8, u64);

impl TileSource for RecentTiles<'_> {
    fn tile(&self, level: u8, index: u64) -> Result<Option<Arc<TileNodes>>, String> {
        if let Some((_, t)) = self.tiles.borrow().iter().find(|(k, _)| *k == (level, index)) {
            return Ok(Some(t.clone()));
        }
        let t = self.src.tile(level, index)?;
        if let Some(t) = &t {
            let mut tiles = self.tiles.borrow_mut();
            if tiles.len() >= 64 {
                tiles.remove(0);
            }
            tiles.push(((level, index), t.clone()));
        }
        Ok(t)
    }
}

/// The right edge of the tiled tree: for each tile level, the one tile that is not full yet.
/// Full tiles are handed to the caller to store (see [`TileTree::append`]).
#[derive(Debug, Clone, Default)]
pub struct TileTree {
    size: u64,
    /// `edge[L]`: the partial tile at tile level L (possibly empty).
    edge: Vec<TileNodes>,
}

/// A tile whose bytes changed, to be written to storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyTile {
    pub level: u8,
    pub index: u64,
    pub nodes: Arc<TileNodes>,
}

impl TileTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Rebuilds the right edge of a tree of `size` leaves from storage.
    pub fn load(size: u64, src: &dyn TileSource) -> Result<Self, String> {
        let mut edge = Vec::new();
        let mut level = 0u8;
        while level < 8 && (size >> (8 * level as u32)) > 0 {
            let nodes_at_level = size >> (8 * level as u32);
            let index = nodes_at_level >> 8;
            let width = nodes_at_level & 0xff;
            let t = if width == 0 {
                TileNodes::new()
            } else {
                let t = src
                    .tile(level, index)?
                    .ok_or_else(|| format!("tile {level}/{index} is missing for tree size {size}"))?;
                if t.width() < width {
                    return Err(format!("tile {level}/{index} has {} hashes, expected at least {width}", t.width()));
                }
                // A stored edge tile may be wider than this size only if the tail was not
                // committed; rebuild it at the committed width.
                let mut fresh = TileNodes::new();
                for i in 0..width {
                    fresh.push(t.node(0, i).expect("width checked"));
                }
                fresh
            };
            edge.push(t);
            level += 1;
        }
        Ok(TileTree { size, edge })
    }

    /// Appends leaf hashes; returns every tile that changed (full ones and the new edge).
    pub fn append(&mut self, leaves: &[Digest]) -> Vec<DirtyTile> {
        let mut full: Vec<DirtyTile> = Vec::new();
        let mut touched_levels = 0usize;
        for leaf in leaves {
            let mut h = *leaf;
            let mut level = 0usize;
            loop {
                if self.edge.len() <= level {
                    self.edge.push(TileNodes::new());
                }
                touched_levels = touched_levels.max(level + 1);
                let nodes_before = self.size >> (8 * level as u32);
                match self.edge[level].push(h) {
                    None => break,
                    Some(root) => {
                        let done = std::mem::replace(&mut self.edge[level], TileNodes::new());
                        full.push(DirtyTile { level: level as u8, index: nodes_before >> 8, nodes: Arc::new(done) });
                        h = root;
                        level += 1;
                    }
                }
            }
            self.size += 1;
        }
        for level in 0..touched_levels {
            let w = self.edge[level].width();
            if w > 0 {
                let index = (self.size >> (8 * level as u32)) >> 8;
                full.push(DirtyTile { level: level as u8, index, nodes: Arc::new(self.edge[level].clone()) });
            }
        }
        full
    }

    /// Node `(level, index)` of the tree (a complete subtree), from the edge or from `src`.
    pub fn node(&self, level: u8, index: u64, src: &dyn TileSource) -> Result<Digest, String> {
        if level >= 64 {
            // The size is a u64: a tree has no node at level 64 or above (and the edge's
            // index below would shift by 64 bits or more).
            return Err(format!("no node at level {level}: a tree has fewer than 2^64 leaves"));
        }
        let tl = level / TILE_HEIGHT;
        let k = level % TILE_HEIGHT;
        let base = index.checked_shl(k as u32).ok_or("node index overflow")?;
        let tile_index = base >> 8;
        let inner = (base & 0xff) >> k;
        let edge_index = (self.size >> (8 * tl as u32)) >> 8;
        if let Some(t) = self.edge.get(tl as usize) {
            if tile_index == edge_index {
                return t.node(k, inner).ok_or_else(|| format!("node {level}/{index} is not in the tree"));
            }
        }
        let t = src.tile(tl, tile_index)?.ok_or_else(|| format!("tile {tl}/{tile_index} is missing"))?;
        t.node(k, inner).ok_or_else(|| format!("node {level}/{index} is not in tile {tl}/{tile_index}"))
    }

    /// Root of the tree at `size` (≤ the current size).
    pub fn root(&self, size: u64, src: &dyn TileSource) -> Result<Digest, String> {
        if size > self.size {
            return Err(format!("tree size {size} is beyond the current size {}", self.size));
        }
        if size == 0 {
            return Ok(EMPTY_ROOT);
        }
        self.range_root(0, size, src)
    }

    /// Hash of the leaves `start..end` (`start` aligned as RFC 6962 splits put it): the
    /// maximal complete subtrees left to right, folded from the right.
    fn range_root(&self, start: u64, end: u64, src: &dyn TileSource) -> Result<Digest, String> {
        let mut nodes = Vec::with_capacity(64);
        let mut lo = start;
        while lo < end {
            let mut level = lo.trailing_zeros().min(63);
            // `end - lo`, not `lo + 2^level`: that overflows when `end` is above 2^63.
            while (1u64 << level) > end - lo {
                level -= 1;
            }
            nodes.push(self.node(level as u8, lo >> level, src)?);
            lo += 1u64 << level;
        }
        let mut it = nodes.into_iter().rev();
        let mut h = it.next().ok_or("empty range")?;
        for left in it {
            h = node_hash(&left, &h);
        }
        Ok(h)
    }

    /// Inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3 PATH).
    ///
    /// Generated natively from the tiles (the hot path of every receipt); property tests check
    /// it against `tlog_tiles::prove_record`. Bottom up: the siblings on the levels below the
    /// point where `index` and `size - 1` part (the topmost of them may be the root of the
    /// incomplete right edge), then the left siblings above it.
    pub fn inclusion_proof(&self, index: u64, size: u64, src: &dyn TileSource) -> Result<InclusionProof, String> {
        let mut proofs = self.inclusion_proofs(&[index], size, src)?;
        proofs.pop().ok_or_else(|| "no proof".to_string())
    }

    /// Inclusion proofs of many leaves in the tree of `size` leaves, in the order given.
    ///
    /// Proofs into one tree share the roots of its incomplete right edge, computed once; and
    /// the proof of a leaf shares with the previous leaf's proof every hash from the level
    /// where their ancestors meet upwards: a hash at level `l` depends only on `index >> l`
    /// and `size`, and so does whether level `l` has a hash at all. Neighbouring leaves (a
    /// group commit's receipts) thus look up a level or two each, not the whole path.
    pub fn inclusion_proofs(
        &self,
        indexes: &[u64],
        size: u64,
        src: &dyn TileSource,
    ) -> Result<Vec<InclusionProof>, String> {
        let mut edge_roots = std::collections::HashMap::new();
        let src = RecentTiles { src, tiles: std::cell::RefCell::new(Vec::new()) };
        let mut proofs: Vec<InclusionProof> = Vec::with_capacity(indexes.len());
        for &index in indexes {
            if index >= size || size > self.size {
                return Err(format!("no leaf {index} in a tree of size {size} (log size {})", self.size));
            }
            let levels = proof_levels(index, size);
            // From level `shared` up, `index` and the previous leaf have the same ancestors, so
            // the same proof hashes: the last ones of the previous proof.
            let prev = proofs.last();
            let shared = prev.map_or(64, |p| 64 - (index ^ p.index).leading_zeros());
            let own = levels & 1u64.checked_shl(shared).map_or(u64::MAX, |b| b - 1);
            let mut hashes = Vec::with_capacity(levels.count_ones() as usize);
            for level in (0..64).filter(|l| own >> l & 1 == 1) {
                hashes.push(self.proof_hash(level, index, size, &src, &mut edge_roots)?);
            }
            if let Some(p) = prev {
                let reused = (levels ^ own).count_ones() as usize;
                hashes.extend_from_slice(&p.hashes[p.hashes.len() - reused..]);
            }
            debug_assert_eq!(hashes.len(), levels.count_ones() as usize);
            proofs.push(InclusionProof { index, tree_size: size, hashes });
        }
        Ok(proofs)
    }

    /// The proof hash of leaf `index` at `level` (one of [`proof_levels`]): the sibling of the
    /// leaf's ancestor there, a complete node or, on the right edge, the root of what is
    /// there (memoized in `edge_roots` by its first leaf).
    fn proof_hash(
        &self,
        level: u32,
        index: u64,
        size: u64,
        src: &dyn TileSource,
        edge_roots: &mut std::collections::HashMap<u64, Digest>,
    ) -> Result<Digest, String> {
        let sib = (index >> level) ^ 1;
        let start = sib << level;
        if start.checked_add(1u64 << level).is_some_and(|end| end <= size) {
            return self.node(level as u8, sib, src);
        }
        if let Some(h) = edge_roots.get(&start) {
            return Ok(*h);
        }
        let h = self.range_root(start, size, src)?;
        edge_roots.insert(start, h);
        Ok(h)
    }

    /// The same proof by `tlog_tiles` (reference for tests).
    #[cfg(test)]
    fn inclusion_proof_reference(&self, index: u64, size: u64, src: &dyn TileSource) -> Result<InclusionProof, String> {
        let p = tlog_tiles::prove_record(size, index, &self.reader(src)).map_err(|e| e.to_string())?;
        Ok(InclusionProof { index, tree_size: size, hashes: p.into_iter().map(|h| Digest(h.0)).collect() })
    }

    /// Consistency proof from `old` to `new` leaves.
    pub fn consistency_proof(&self, old: u64, new: u64, src: &dyn TileSource) -> Result<ConsistencyProof, String> {
        if old > new || new > self.size {
            return Err(format!("no consistency proof from {old} to {new} (log size {})", self.size));
        }
        let hashes = if old == 0 || old == new {
            vec![]
        } else {
            tlog_tiles::prove_tree(new, old, &self.reader(src))
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|h| Digest(h.0))
                .collect()
        };
        Ok(ConsistencyProof { old_size: old, new_size: new, hashes })
    }

    fn reader<'a>(&'a self, src: &'a dyn TileSource) -> Reader<'a> {
        Reader { tree: self, src }
    }
}

struct Reader<'a> {
    tree: &'a TileTree,
    src: &'a dyn TileSource,
}

impl HashReader for Reader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                let (level, n) = tlog_tiles::split_stored_hash_index(i);
                self.tree.node(level, n, self.src).map(|d| Hash(d.0)).map_err(tlog_tiles::Error::InvalidInput)
            })
            .collect()
    }
}

/// Streaming Merkle root for verifiers: push leaf hashes in order, read the root at any time.
/// Keeps one hash per set bit of the size.
#[derive(Debug, Clone, Default)]
pub struct CompactRange {
    size: u64,
    /// Perfect subtree hashes, largest (leftmost) first.
    stack: Vec<Digest>,
}

impl CompactRange {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn push(&mut self, leaf: Digest) {
        let mut h = leaf;
        let mut s = self.size;
        while s & 1 == 1 {
            let left = self.stack.pop().expect("one subtree per set bit");
            h = node_hash(&left, &h);
            s >>= 1;
        }
        self.stack.push(h);
        self.size += 1;
    }

    /// The perfect-subtree hashes, largest first (one per set bit of the size).
    pub fn hashes(&self) -> &[Digest] {
        &self.stack
    }

    /// Rebuilds a range from [`CompactRange::size`] and [`CompactRange::hashes`]; refuses a
    /// stack that does not have one hash per set bit of the size.
    pub fn from_parts(size: u64, stack: Vec<Digest>) -> Result<CompactRange, String> {
        if stack.len() != size.count_ones() as usize {
            return Err(format!(
                "a range of {size} leaves has {} subtree hashes, not {}",
                size.count_ones(),
                stack.len()
            ));
        }
        Ok(CompactRange { size, stack })
    }

    pub fn root(&self) -> Digest {
        let mut it = self.stack.iter().rev();
        let Some(mut h) = it.next().copied() else {
            return EMPTY_ROOT;
        };
        for left in it {
            h = node_hash(left, &h);
        }
        h
    }
}

/// Tile source with no tiles: for trees that fit in their right edge.
pub struct NoTiles;

impl TileSource for NoTiles {
    fn tile(&self, _: u8, _: u64) -> Result<Option<Arc<TileNodes>>, String> {
        Ok(None)
    }
}

/// An in-memory tile store, for tests and for verifiers that hold a whole tree.
#[derive(Debug, Default, Clone)]
pub struct MemoryTiles(pub std::collections::HashMap<(u8, u64), Arc<TileNodes>>);

impl MemoryTiles {
    pub fn store(&mut self, dirty: Vec<DirtyTile>) {
        for d in dirty {
            self.0.insert((d.level, d.index), d.nodes);
        }
    }
}

impl TileSource for MemoryTiles {
    fn tile(&self, level: u8, index: u64) -> Result<Option<Arc<TileNodes>>, String> {
        Ok(self.0.get(&(level, index)).cloned())
    }
}

/// A C2SP tlog-tiles resource: the hash tile `L/N[.p/W]` or the entry bundle
/// `entries/N[.p/W]` (the part of the URL after `tile/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePath {
    pub entries: bool,
    pub level: u8,
    pub index: u64,
    /// 1..=256; 256 is a full tile.
    pub width: u64,
}

impl TilePath {
    /// Parses a path, refusing any non-canonical form (`N` must be in the `x001/x234/067`
    /// encoding, `W` in 1..=255 and only for partial tiles). The parser is `tlog_tiles`'s
    /// (Go's), whose paths name the tile height: vigil's is always 8.
    pub fn parse(path: &str) -> Option<TilePath> {
        // `tlog_tiles` panics on a zero width or a level of 64 and more: refuse those first.
        let mut parts = path.split('/');
        let first = parts.next()?;
        if first != "entries" && !first.parse::<u8>().is_ok_and(|l| l < 8) {
            return None;
        }
        if path.contains(".p/") && !path.rsplit('/').next()?.parse::<u16>().is_ok_and(|w| (1..256).contains(&w)) {
            return None;
        }
        let go = match path.strip_prefix("entries/") {
            Some(rest) => format!("tile/8/data/{rest}"),
            None => format!("tile/8/{path}"),
        };
        let t = tlog_tiles::Tile::from_path(&go).ok()?;
        (t.width() > 0).then(|| TilePath {
            entries: t.is_data(),
            level: t.level(),
            index: t.level_index(),
            width: u64::from(t.width()),
        })
    }

    /// The path, as [`TilePath::parse`] reads it.
    pub fn to_path(&self) -> String {
        let w = u32::try_from(self.width).unwrap_or(256);
        let go = tlog_tiles::Tile::new(TILE_HEIGHT, self.level, self.index, w, self.entries).path();
        let rest = go.trim_start_matches("tile/8/");
        match rest.strip_prefix("data/") {
            Some(r) => format!("entries/{r}"),
            None => rest.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: u64) -> Vec<Digest> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// A proof's hashes on the wire: canonical base64 of exactly 32 bytes, at most
    /// `MAX_CONSISTENCY_HASHES`; written as they are read.
    #[test]
    fn proof_hashes_are_canonical_base64_of_32_bytes() {
        let h = |n: usize, s: &str| {
            format!(r#"{{"index":0,"tree_size":2,"hashes":[{}]}}"#, vec![format!("{s:?}"); n].join(","))
        };
        let good = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
        let p: InclusionProof = serde_json::from_str(&h(1, good)).unwrap();
        assert_eq!(p.hashes, [Digest([1; 32])]);
        assert_eq!(serde_json::to_string(&p).unwrap(), h(1, good));
        assert_eq!(serde_json::from_str::<InclusionProof>(&h(MAX_CONSISTENCY_HASHES, good)).unwrap().hashes.len(), 65);
        for (what, json, error) in [
            ("too many", h(MAX_CONSISTENCY_HASHES + 1, good), "too many hashes"),
            ("31 bytes", h(1, "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=="), "32 bytes"),
            ("33 bytes", h(1, "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"), "32 bytes"),
            ("stray bits", h(1, "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQF="), "last symbol"),
            ("no padding", h(1, "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"), "32 bytes"),
            ("not base64", h(1, "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ!="), "Invalid"),
            ("a number", r#"{"index":0,"tree_size":2,"hashes":[1]}"#.to_string(), "base64 hash"),
        ] {
            let e = serde_json::from_str::<InclusionProof>(&json).unwrap_err().to_string();
            assert!(e.contains(error), "{what}: {e}");
        }
    }

    /// The longest proofs, in trees too large to build but whose leaves are all the same, so
    /// that a subtree's hash depends on its size alone: a consistency proof from 3 to 2^63 + 1
    /// has 65 hashes (RFC 9162 §2.1.4's SUBPROOF) and verifies; 66 are refused unread. An
    /// inclusion proof of the first leaf of 2^64 − 1 has 64.
    #[test]
    fn the_longest_proofs_verify() {
        fn mth(n: u64, leaf: &Digest) -> Digest {
            if n == 1 {
                return *leaf;
            }
            let k = 1u64 << (63 - (n - 1).leading_zeros());
            // A whole subtree of 2^j is the leaf hashed up j times.
            let whole = (0..k.trailing_zeros()).fold(*leaf, |h, _| node_hash(&h, &h));
            node_hash(&whole, &mth(n - k, leaf))
        }
        fn subproof(m: u64, n: u64, whole: bool, leaf: &Digest) -> Vec<Digest> {
            if m == n {
                return if whole { vec![] } else { vec![mth(m, leaf)] };
            }
            let k = 1u64 << (63 - (n - 1).leading_zeros());
            let (mut p, last) = if m <= k {
                (subproof(m, k, whole, leaf), mth(n - k, leaf))
            } else {
                (subproof(m - k, n - k, false, leaf), mth(k, leaf))
            };
            p.push(last);
            p
        }
        let leaf = leaf_hash(b"same");
        let (old, new) = (3, (1u64 << 63) + 1);
        let mut p = ConsistencyProof { old_size: old, new_size: new, hashes: subproof(old, new, true, &leaf) };
        assert_eq!(p.hashes.len(), MAX_CONSISTENCY_HASHES);
        let (old_root, new_root) = (mth(old, &leaf), mth(new, &leaf));
        assert_eq!(p.verify(&old_root, &new_root), Ok(()));
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<ConsistencyProof>(&json).unwrap(), p);
        p.hashes.push(leaf);
        assert_eq!(p.verify(&old_root, &new_root), Err(ProofError::TooLong { got: 66, most: 65 }));

        // The first leaf of 2^64 − 1: its 63 siblings in the left half, then the right half.
        let n = u64::MAX;
        let mut hashes: Vec<Digest> = (0..63).map(|j| mth(1 << j, &leaf)).collect();
        hashes.push(mth(n - (1 << 63), &leaf));
        let mut p = InclusionProof { index: 0, tree_size: n, hashes };
        assert_eq!(p.hashes.len(), MAX_PROOF_HASHES);
        assert_eq!(p.verify(&leaf, &mth(n, &leaf)), Ok(()));
        p.hashes.push(leaf);
        assert_eq!(p.verify(&leaf, &mth(n, &leaf)), Err(ProofError::TooLong { got: 65, most: 64 }));
    }

    /// A tree of `n` leaves appended in chunks, with its tiles in memory.
    fn build(n: u64, chunk: usize) -> (TileTree, MemoryTiles) {
        let mut t = TileTree::new();
        let mut m = MemoryTiles::default();
        for c in leaves(n).chunks(chunk.max(1)) {
            m.store(t.append(c));
        }
        (t, m)
    }

    /// Reference root by RFC 6962's recursive definition.
    fn reference_root(l: &[Digest]) -> Digest {
        match l.len() {
            0 => EMPTY_ROOT,
            1 => l[0],
            n => {
                // The largest power of two smaller than n.
                let k = (n - 1).next_power_of_two();
                let k = if k >= n { k / 2 } else { k };
                node_hash(&reference_root(&l[..k]), &reference_root(&l[k..]))
            }
        }
    }

    fn flip(d: &mut Digest, bit: usize) {
        d.0[bit / 8 % 32] ^= 1 << (bit % 8);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn roots_agree(n in 0u64..1200, chunk in 1usize..300) {
            let (t, m) = build(n, chunk);
            let l = leaves(n);
            let mut c = CompactRange::new();
            l.iter().for_each(|h| c.push(*h));
            let want = reference_root(&l);
            prop_assert_eq!(t.root(n, &m).unwrap(), want);
            // The root of the current size needs only the right edge (the sequencer relies
            // on it for groups not yet written).
            prop_assert_eq!(t.root(n, &NoTiles).unwrap(), want);
            prop_assert_eq!(Digest(tlog_tiles::tree_hash(n, &t.reader(&m)).unwrap().0), want);
            prop_assert_eq!(c.root(), want);
            // Reloading the edge from the stored tiles gives the same tree.
            let r = TileTree::load(n, &m).unwrap();
            prop_assert_eq!(r.root(n, &m).unwrap(), want);
        }

        #[test]
        fn inclusion_proofs_verify_and_mutations_fail(n in 1u64..1100, i in any::<u64>(), size_off in any::<u64>(), bit in 0usize..256, picks in proptest::collection::vec(any::<u64>(), 0..24)) {
            let (t, m) = build(n, 97);
            let size = 1 + size_off % n;
            let idx = i % size;
            let root = t.root(size, &m).unwrap();
            let leaf = leaf_hash(&idx.to_be_bytes());
            let p = t.inclusion_proof(idx, size, &m).unwrap();
            prop_assert!(p.verify(&leaf, &root).is_ok());
            prop_assert_eq!(&p, &t.inclusion_proof_reference(idx, size, &m).unwrap());
            // A batch shares hashes between neighbours: a run of leaves around `idx`, then leaves
            // in any order, repeated ones included, must each get the proof it gets alone.
            let mut many: Vec<u64> = (idx.saturating_sub(3)..(idx + 3).min(size)).collect();
            many.extend(picks.iter().map(|p| p % size));
            let batch = t.inclusion_proofs(&many, size, &m).unwrap();
            prop_assert_eq!(batch.len(), many.len());
            for (j, q) in many.iter().zip(&batch) {
                prop_assert_eq!(q, &t.inclusion_proof_reference(*j, size, &m).unwrap());
            }
            // Every single-bit change of a proof hash, the leaf or the root fails.
            for k in 0..p.hashes.len() {
                let mut q = p.clone();
                flip(&mut q.hashes[k], bit);
                prop_assert!(q.verify(&leaf, &root).is_err());
            }
            let mut bad_leaf = leaf; flip(&mut bad_leaf, bit);
            prop_assert!(p.verify(&bad_leaf, &root).is_err());
            let mut bad_root = root; flip(&mut bad_root, bit);
            prop_assert!(p.verify(&leaf, &bad_root).is_err());
            // Wrong index, truncated or extended proofs fail. (A wrong tree size can still
            // verify: RFC 6962 roots commit to the size only through the checkpoint.)
            if size > 1 {
                let q = InclusionProof { index: (idx + 1) % size, ..p.clone() };
                prop_assert!(q.verify(&leaf, &root).is_err());
            }
            if !p.hashes.is_empty() {
                let mut q = p.clone(); q.hashes.pop();
                prop_assert!(q.verify(&leaf, &root).is_err());
            }
            let mut q = p.clone(); q.hashes.push(root);
            prop_assert!(q.verify(&leaf, &root).is_err());
        }

        #[test]
        fn consistency_proofs_verify_and_mutations_fail(n in 1u64..1100, a in any::<u64>(), b in any::<u64>(), bit in 0usize..256) {
            let (t, m) = build(n, 61);
            let new = 1 + b % n;
            let old = a % (new + 1);
            let (old_root, new_root) = (t.root(old, &m).unwrap(), t.root(new, &m).unwrap());
            let p = t.consistency_proof(old, new, &m).unwrap();
            prop_assert!(p.verify(&old_root, &new_root).is_ok());
            for k in 0..p.hashes.len() {
                let mut q = p.clone();
                flip(&mut q.hashes[k], bit);
                prop_assert!(q.verify(&old_root, &new_root).is_err());
            }
            if old > 0 {
                let mut r = old_root; flip(&mut r, bit);
                prop_assert!(p.verify(&r, &new_root).is_err());
            }
            if old > 0 && old < new {
                let mut r = new_root; flip(&mut r, bit);
                prop_assert!(p.verify(&old_root, &r).is_err());
            }
        }

        /// Arbitrary proofs never panic.
        #[test]
        fn garbage_proofs_never_panic(index in any::<u64>(), size in any::<u64>(), old in any::<u64>(), hashes in proptest::collection::vec(any::<[u8; 32]>(), 0..70)) {
            let hs: Vec<Digest> = hashes.into_iter().map(Digest).collect();
            let _ = InclusionProof { index, tree_size: size, hashes: hs.clone() }.verify(&Digest::ZERO, &Digest::ZERO);
            let _ = ConsistencyProof { old_size: old, new_size: size, hashes: hs }.verify(&Digest::ZERO, &Digest::ZERO);
        }
    }

    #[test]
    fn tile_paths() {
        // (path, parsed as (entries?, level, index, width)) — None: refused.
        type Tile = (bool, u8, u64, u64);
        let cases: &[(&str, Option<Tile>)] = &[
            ("0/000", Some((false, 0, 0, 256))),
            ("0/x001/234", Some((false, 0, 1234, 256))),
            ("2/x001/x234/067.p/8", Some((false, 2, 1_234_067, 8))),
            ("entries/000.p/16", Some((true, 0, 0, 16))),
            ("entries/x001/000", Some((true, 0, 1000, 256))),
            ("0/0", None),
            ("0/1234", None),
            ("0/000.p/0", None),
            ("0/000.p/256", None),
            ("0/x000/001", None),
            ("entries/000/extra", None),
            ("../0/000", None),
            ("64/000", None),
            ("8/000", None),
            ("entries/000.p/0", None),
            ("0/000.p/00", None),
        ];
        for &(path, want) in cases {
            let got = TilePath::parse(path).map(|t| (t.entries, t.level, t.index, t.width));
            assert_eq!(got, want, "{path}");
            if let Some(t) = TilePath::parse(path) {
                assert_eq!(t.to_path(), path);
            }
        }
    }

    proptest! {
        /// Any string: no panic, and whatever parses prints back to itself.
        #[test]
        fn tile_paths_never_panic(path in "[0-9a-z./x]{0,40}") {
            if let Some(t) = TilePath::parse(&path) {
                prop_assert_eq!(t.to_path(), path);
            }
        }
    }

    /// The hashes proving the last leaf of a tree of 5 also verify as leaf 1 of a tree of 2 under
    /// the same root: checked against the checkpoint's size, the relabelled proof is refused.
    #[test]
    fn a_proof_is_checked_in_the_checkpoints_tree_not_its_own() {
        let (t, src) = build(5, 5);
        let root = t.root(5, &src).unwrap();
        let l = leaves(5);
        let p = t.inclusion_proof(4, 5, &src).unwrap();
        assert_eq!(p.verify_in(&l[4], 4, 5, &root), Ok(()));
        let relabelled = InclusionProof { index: 1, tree_size: 2, hashes: p.hashes.clone() };
        assert_eq!(relabelled.verify(&l[4], &root), Ok(()), "the ambiguity this guards against");
        assert_eq!(relabelled.verify_in(&l[4], 4, 5, &root), Err(ProofError::OtherTree { proof: 2, checkpoint: 5 }));
        let other = InclusionProof { index: 1, tree_size: 5, hashes: p.hashes.clone() };
        assert_eq!(other.verify_in(&l[4], 4, 5, &root), Err(ProofError::OtherEntry { proof: 1, entry: 4 }));
    }

    /// The empty tree has one root: a "consistency" from size 0 to size 0 under another root
    /// is refused (a witness would otherwise cosign any root for size 0).
    #[test]
    fn the_empty_tree_has_one_root() {
        let p = |new_size| ConsistencyProof { old_size: 0, new_size, hashes: vec![] };
        assert_eq!(p(0).verify(&EMPTY_ROOT, &EMPTY_ROOT), Ok(()));
        assert_eq!(p(0).verify(&EMPTY_ROOT, &leaf_hash(b"x")), Err(ProofError::DifferentRoots));
        assert_eq!(p(1).verify(&EMPTY_ROOT, &leaf_hash(b"x")), Ok(()));
    }

    /// Found by the `tiles` fuzz target: a level of 64 or more shifted the size by 64 bits or
    /// more (a panic with overflow checks, a wrong tile without).
    #[test]
    fn nodes_above_level_63_are_errors() {
        let (t, m) = build(300, 100);
        assert!(t.node(0, 299, &m).is_ok());
        for level in [64, 65, 71, 72, 255] {
            assert!(t.node(level, 0, &m).is_err(), "level {level}");
        }
    }

    /// Found by the `tiles` fuzz target: for a tree of more than 2^63 leaves, the root and the
    /// proofs added 2^63 to a position of 2^63, and a proof shifted an index by 64 bits (panics
    /// with overflow checks; without them, wrong nodes, and the root's loop could wrap around
    /// and never end).
    #[test]
    fn trees_above_2_pow_63_leaves_do_not_overflow() {
        /// A tree whose leaves repeat every 256: per tile level, one full tile serves every index.
        struct Full(Vec<Arc<TileNodes>>);
        impl TileSource for Full {
            fn tile(&self, level: u8, _: u64) -> Result<Option<Arc<TileNodes>>, String> {
                Ok(self.0.get(level as usize).cloned())
            }
        }
        let mut tiles = vec![];
        let mut hashes = leaves(256);
        for _ in 0..8 {
            let mut t = TileNodes::new();
            let root = hashes.iter().map(|h| t.push(*h)).last().unwrap().unwrap();
            tiles.push(Arc::new(t));
            hashes = vec![root; 256];
        }
        let src = Full(tiles);
        for size in [(1u64 << 63) + 5, u64::MAX] {
            let t = TileTree::load(size, &src).unwrap();
            let root = t.root(size, &src).unwrap();
            for index in [0, 1 << 62, size - 1] {
                let p = t.inclusion_proof(index, size, &src).unwrap();
                let leaf = t.node(0, index, &src).unwrap();
                assert_eq!(p.verify(&leaf, &root), Ok(()), "leaf {index} of {size}");
            }
        }
    }

    #[test]
    fn tiles_are_tlog_tiles_shaped() {
        let n = 256 * 3 + 5;
        let (t, m) = build(n, 100);
        assert_eq!(m.0.get(&(0, 0)).unwrap().width(), 256);
        assert_eq!(m.0.get(&(0, 2)).unwrap().width(), 256);
        assert_eq!(m.0.get(&(0, 3)).unwrap().width(), 5);
        // The level-1 tile holds the roots of the three full level-0 tiles.
        let l1 = m.0.get(&(1, 0)).unwrap();
        assert_eq!(l1.width(), 3);
        assert_eq!(l1.node(0, 1), Some(reference_root(&leaves(512)[256..512])));
        assert_eq!(t.size(), n);
    }
}
