//! vigil's pure core: the byte formats, every hash, Merkle math, proofs, checkpoints, keys,
//! the event model and the rules a verifier replays.
//!
//! **Architecture Invariant:** nothing in this crate does I/O, reads a clock, spawns a thread or
//! draws randomness by itself. Time and randomness are passed in by the caller. This is what
//! lets the same code run in the server, in `vigil verify`, and in the browser
//! (`wasm32-unknown-unknown`).
//!
//! **Architecture Invariant:** every function that reads bytes from outside (entries, proofs,
//! checkpoints, keys, event JSON) returns an error on bad input and never panics.
//!
//! The byte-exact contract implemented here is `docs/FORMAT.md`.

pub mod audit;
#[cfg(feature = "balances")]
pub mod balances;
pub mod canonical;
pub mod checkpoint;
#[cfg(feature = "config")]
pub mod config;
pub mod entry;
pub mod event;
pub mod facts;
#[cfg(test)]
mod format_example;
pub mod hash;
pub mod keys;
pub mod merkle;
pub mod registry;
pub mod request;
pub mod reserves;
pub mod statement;
pub mod verifier;
pub mod witness;

/// Version of the entry encoding and of every hash construction in `docs/FORMAT.md`.
/// Bumped on any change to them.
pub const FORMAT_VERSION: u8 = 2;
