//! vigil's integration tests: one binary, real RocksDB on disk, real processes.

mod abuse;
mod browser;
mod cli;
mod crash;
mod disk;
mod engine;
mod faults;
mod independent;
mod internal;
mod public;
mod reserves;
mod serve;
mod store;
mod support;
mod witness;
