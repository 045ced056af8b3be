//! vigil: the ledger around the pure core — storage, the append engine, configuration and
//! the CLI's building blocks. The byte formats and verification rules live in `vigil-core`.

pub mod audit;
pub mod client;
pub mod config;
pub mod demo;
pub mod engine;
pub mod export;
pub mod http;
pub mod metrics;
pub mod reserves;
pub mod serve;
pub mod store;
pub mod verify;
pub mod witness;
pub mod witnessing;

pub use vigil_core as core;

/// mimalloc rather than glibc's malloc: the append pipeline frees thousands of small objects
/// per group commit, and glibc's `free` (with its consolidation of fast bins) cost the engine
/// about a third of a core (BENCHMARKS.md). Declared here, it serves every binary that links
/// the library: `vigil`, the tests and the benchmarks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
