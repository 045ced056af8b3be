//! BLAKE3 hashes of vigil: the entry chain and private-field commitments.
//!
//! Each use has its own `derive_key` context string, so a hash made for one purpose can never
//! be taken for another (domain separation). The Merkle tree uses SHA-256 instead; see
//! [`crate::merkle`].

use std::fmt;

/// Context of the entry chain hash: `prev` of entry n+1 is this hash of entry n's bytes.
pub const CHAIN_CONTEXT: &str = "vigil 2026-11-23 entry chain v1";
/// Context of a private-field commitment over `salt ‖ value`.
pub const COMMITMENT_CONTEXT: &str = "vigil 2026-11-23 private field commitment v1";

/// A 32-byte hash value, shown as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub const ZERO: Digest = Digest([0; 32]);

    pub fn to_hex(&self) -> String {
        // `hex::encode` pushes char by char; receipts make two of these per entry.
        let mut buf = [0u8; 64];
        hex::encode_to_slice(self.0, &mut buf).expect("64 bytes hold 32 in hex");
        String::from_utf8(buf.to_vec()).expect("hex digits are ASCII")
    }

    /// Parses exactly 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Result<Self, HexError> {
        let mut out = [0u8; 32];
        if s.len() != 64 {
            return Err(HexError(format!("expected 64 hex digits, got {} characters", s.len())));
        }
        hex::decode_to_slice(s, &mut out).map_err(|e| HexError(e.to_string()))?;
        Ok(Digest(out))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad hash: {0}")]
pub struct HexError(pub String);

/// A `derive_key` hasher prepared once and cloned per use: deriving the key from the context
/// string costs a compression per call, more than hashing a short input.
type Derived = std::sync::LazyLock<blake3::Hasher>;

/// The chain hash of an entry's bytes: what the next entry's `prev` must equal, and the
/// "entry hash" in receipts.
pub fn chain_hash(entry_bytes: &[u8]) -> Digest {
    static CHAIN: Derived = Derived::new(|| blake3::Hasher::new_derive_key(CHAIN_CONTEXT));
    let mut h = CHAIN.clone();
    h.update(entry_bytes);
    Digest(*h.finalize().as_bytes())
}

/// Commitment to a private value: BLAKE3 `derive_key(COMMITMENT_CONTEXT, salt ‖ value)`.
pub fn commitment(salt: &[u8; 32], value: &str) -> Digest {
    static COMMITMENT: Derived = Derived::new(|| blake3::Hasher::new_derive_key(COMMITMENT_CONTEXT));
    let mut h = COMMITMENT.clone();
    h.update(salt);
    h.update(value.as_bytes());
    Digest(*h.finalize().as_bytes())
}
