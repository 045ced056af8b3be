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
