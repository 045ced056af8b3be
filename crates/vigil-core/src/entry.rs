//! The logged entry: a fixed binary header followed by the signed statement's canonical bytes.
//!
//! ```text
//! offset size  field
//!      0    1  format version (2: docs/FORMAT.md §4)
//!      1    8  seq, big-endian u64 (0-based position in the log)
//!      9    8  time_ms, big-endian u64 (sequencer time, Unix milliseconds)
//!     17   32  prev: chain hash of the previous entry (32 zero bytes for seq 0)
//!     49   64  Ed25519 signature of the statement by the statement's key
//!    113    …  canonical statement JSON, to the end of the entry
//! ```
//! An entry is at most [`MAX_ENTRY_SIZE`] bytes so it fits a tlog-tiles entry bundle's
//! uint16 length prefix.

use crate::hash::{chain_hash, Digest};
use crate::statement::{Statement, StatementError};
use crate::FORMAT_VERSION;

pub const HEADER_SIZE: usize = 113;
/// Largest entry: a tlog-tiles entry bundle prefixes each entry with a uint16 length.
pub const MAX_ENTRY_SIZE: usize = 65_535;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("entry is {0} bytes, shorter than the {HEADER_SIZE}-byte header plus a statement")]
    TooShort(usize),
    #[error("entry is {0} bytes; the limit is {MAX_ENTRY_SIZE}")]
    TooLarge(usize),
    #[error("unknown entry format version {0} (this build reads version {FORMAT_VERSION})")]
    Version(u8),
    #[error("{0}")]
    Statement(#[from] StatementError),
}

/// A decoded entry. `statement_bytes` are kept exactly as logged: they are what was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub time_ms: u64,
    pub prev: Digest,
    pub signature: [u8; 64],
    pub statement_bytes: Vec<u8>,
}

impl Entry {
    /// Encodes the entry; refuses one over [`MAX_ENTRY_SIZE`].
    pub fn encode(&self) -> Result<Vec<u8>, EntryError> {
        Self::encode_parts(self.seq, self.time_ms, &self.prev, &self.signature, &self.statement_bytes)
    }

    /// [`Entry::encode`] from borrowed parts (no copy of the statement before the encoding's own).
    pub fn encode_parts(
        seq: u64,
        time_ms: u64,
        prev: &Digest,
        signature: &[u8; 64],
        statement_bytes: &[u8],
    ) -> Result<Vec<u8>, EntryError> {
        let len = HEADER_SIZE + statement_bytes.len();
        if len > MAX_ENTRY_SIZE {
            return Err(EntryError::TooLarge(len));
        }
        let mut b = Vec::with_capacity(len);
        b.push(FORMAT_VERSION);
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&time_ms.to_be_bytes());
        b.extend_from_slice(&prev.0);
        b.extend_from_slice(signature);
        b.extend_from_slice(statement_bytes);
        Ok(b)
    }

    /// Splits entry bytes into their fields without parsing the statement.
    pub fn decode_header(bytes: &[u8]) -> Result<Entry, EntryError> {
        if bytes.len() > MAX_ENTRY_SIZE {
            return Err(EntryError::TooLarge(bytes.len()));
        }
        if bytes.len() < HEADER_SIZE + 2 {
            return Err(EntryError::TooShort(bytes.len()));
        }
        if bytes[0] != FORMAT_VERSION {
            return Err(EntryError::Version(bytes[0]));
        }
        let u64_at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&bytes[o..o + 8]);
            u64::from_be_bytes(a)
        };
        let mut prev = [0u8; 32];
        prev.copy_from_slice(&bytes[17..49]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&bytes[49..113]);
        Ok(Entry {
            seq: u64_at(1),
            time_ms: u64_at(9),
            prev: Digest(prev),
            signature,
            statement_bytes: bytes[HEADER_SIZE..].to_vec(),
        })
    }

    /// Decodes entry bytes and parses the statement (canonical form required).
    pub fn decode(bytes: &[u8]) -> Result<(Entry, Statement), EntryError> {
        let e = Self::decode_header(bytes)?;
        let s = Statement::from_bytes(&e.statement_bytes)?;
        Ok((e, s))
    }
}

/// The entry's chain hash (what the next entry's `prev` is).
pub fn entry_hash(entry_bytes: &[u8]) -> Digest {
    chain_hash(entry_bytes)
}
