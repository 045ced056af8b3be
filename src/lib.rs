//! vigil: the ledger around the pure core — storage, the append engine, configuration and
//! the CLI's building blocks. The byte formats and verification rules live in `vigil-core`.

pub mod audit;
pub mod client;
pub mod config;
pub mod demo;
pub mod engine;
pub mod export;
pub mod files;
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

/// Tells mimalloc to keep the pages it frees rather than hand them back to the OS (v3's
/// default: each arena, 1 s after a free, purges everything free at that moment). The append
/// pipeline frees a group's memory and allocates the next group's a few milliseconds later;
/// purged pages were faulted in afresh, and each purge cost a TLB shootdown on the other core:
/// ~10% of the engine threads' CPU in a profile, ~6% after (BENCHMARKS.md). The price: the
/// heap's size stays at its high mark, which the soak run watches. Called by `main` before
/// any thread starts and by [`engine::Engine::open`] (for tests and embedders); idempotent.
pub fn keep_freed_pages() {
    // `mi_option_purge_delay` in mimalloc.h (v2 and v3): the enum value right before
    // `mi_option_use_numa_nodes`, which the bindings name.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = libmimalloc_sys::mi_option_use_numa_nodes - 1;
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: an FFI call with no pointers: it stores an integer option of the allocator
    // (bounds-checked by mimalloc; -1 means "never purge"). mimalloc reads the option without
    // synchronization, so `main` sets it before starting any thread; a later call (an engine
    // opened by a test) finds the Once done, or races only with reads of one aligned word.
    ONCE.call_once(|| unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) });
}
