//! The RocksDB store: the only code that touches the disk.
//!
//! **Contract.** Every change is one [`AppendBatch`], written as one RocksDB `WriteBatch`:
//! it lands whole or not at all, and reads never see half of one. [`Store::write`] writes a
//! batch without waiting for the disk; it is durable once a later [`Store::sync`] returns `Ok`
//! (one sync covers every batch written before it). Nobody may be told of a batch before the
//! sync after its write. Besides the batches, only the format version and the durable mark
//! (below) are written.
//!
//! **Durable mark.** A reader of a live data dir replays RocksDB's write-ahead log as the page
//! cache holds it, so it can see a group written but not yet synced, and that group's
//! checkpoint: one a power cut could still take back. `meta/durable` holds the newest
//! checkpoint note known durable *when the mark was written*: the engine's writer puts the
//! checkpoint last published (synced) into its next group's batch ([`AppendBatch::durable`]),
//! its syncer writes it on its own when no group follows ([`Store::mark_durable`]), and an open
//! marks what RocksDB recovered ([`Store::mark_opened`], synced). A mark states a fact true when
//! written, so whatever prefix of the log a reader replays, the mark it finds names a
//! checkpoint that survives a power cut. A reader that keeps what it read (`vigil verify
//! --state`, `vigil export`) uses [`Store::durable_checkpoint`]. A store of version 4 without a
//! mark has none durable yet (a new log before its first sync).
//!
//! Column families (keys big-endian so they sort by sequence number):
//!
//! | family        | key                                  | value                            |
//! |---------------|--------------------------------------|----------------------------------|
//! | `entries`     | last seq u64 of the chunk            | a chunk of entries (below)       |
//! | `tiles`       | tile level u8 ‖ tile index u64       | the tile's hashes (tlog-tiles)   |
//! | `idempotency` | service name ‖ 0x00 ‖ idempotency key| seq u64                          |
//! | `by_kind`     | kind ‖ 0x00 ‖ last seq u64           | ascending seqs, u64 each         |
//! | `by_incident` | incident id ‖ 0x00 ‖ last seq u64    | ascending seqs, u64 each         |
//! | `openings`    | last seq u64                         | records (seq u64, len u32, JSON) |
//! | `meta`        | `format_version`, `state`, `checkpoint`, `durable` | see [`LogState`], above |
//!
//! Entries are stored in chunks: one write batch writes its entries as one chunk per
//! [`ENTRIES_PER_CHUNK`]-aligned run (a chunk never crosses a multiple of 256, so the chunks
//! of one tlog-tiles entry bundle are exactly those keyed inside it). A chunk's value is its
//! entries in order, each as uint16 big-endian length ‖ entry bytes (docs/FORMAT.md §3): the
//! encoding of a tlog-tiles entry bundle. Its key is its last entry's sequence number; the
//! first is that minus the count plus one. Writing a chunk rather than a key per entry saves
//! the writer a memtable insert per entry, the dearest part of its batch.
//!
//! Index and openings records are packed: one write batch adds one record per kind (and per
//! incident) listing the batch's entries of that kind, and one openings record per
//! [`OPENINGS_PER_RECORD`] entries with openings. A record's key ends with the last sequence
//! number it holds, so a forward seek to `seq` lands on the record that would hold it.
//!
//! **Faults.** [`Store::inject`] makes a chosen write or sync fail on purpose, before or after
//! it reaches the disk, or a durable mark fail: the fault-injection tests (`tests/it/faults.rs`)
//! drive the engine into every such failure and re-check the stored log. A store opened
//! normally has none.
//!
//! **Format version.** `meta/format_version` holds [`STORE_FORMAT_VERSION`]; a store written by
//! another version refuses to open, but for version 3, which is upgraded (`UPGRADES_FROM`).

use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use vigil_core::hash::Digest;
use vigil_core::merkle::{DirtyTile, TileNodes, TileSource, TILE_WIDTH};

/// On-disk layout version. Bump on any change to the families or their encodings.
/// Version 4 added the durable mark (`meta/durable`).
pub const STORE_FORMAT_VERSION: u32 = 4;

/// A store of this version is read, and upgraded by the engine's open ([`Store::mark_opened`],
/// once the stored log checked out): version 3 is version 4 without the durable mark. Until
/// then [`Store::durable_checkpoint`] gives its last checkpoint, as readers took before. The
/// version is bumped so that a build that does not keep the mark refuses the data dir.
const UPGRADES_FROM: u32 = 3;

/// Entries per `entries` chunk at most; chunks are aligned to it (tlog-tiles' bundle width).
pub const ENTRIES_PER_CHUNK: u64 = TILE_WIDTH;

/// Most entries' openings in one `openings` record (bounds the bytes read to fetch one).
pub const OPENINGS_PER_RECORD: usize = 64;

const CF_ENTRIES: &str = "entries";
const CF_TILES: &str = "tiles";
const CF_IDEMPOTENCY: &str = "idempotency";
const CF_BY_KIND: &str = "by_kind";
const CF_BY_INCIDENT: &str = "by_incident";
const CF_OPENINGS: &str = "openings";
const CF_META: &str = "meta";
const COLUMN_FAMILIES: [&str; 7] =
    [CF_ENTRIES, CF_TILES, CF_IDEMPOTENCY, CF_BY_KIND, CF_BY_INCIDENT, CF_OPENINGS, CF_META];

const META_VERSION: &[u8] = b"format_version";
const META_STATE: &[u8] = b"state";
const META_CHECKPOINT: &[u8] = b"checkpoint";
const META_DURABLE: &[u8] = b"durable";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("data dir {path}: {cause}")]
    Rocks { path: PathBuf, cause: rocksdb::Error },
    #[error("data dir {path} has store format version {found}; this build reads version {STORE_FORMAT_VERSION}")]
    Version { path: PathBuf, found: String },
    #[error("data dir is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    NotADataDir(String),
    #[error("data dir {0} is in use by another process (a running `vigil serve`, `demo` or `witness`); stop it first, or read it with `vigil verify --data-dir`, which opens it read-only")]
    InUse(PathBuf),
    #[error("injected fault: {0}")]
    Injected(Fault),
    #[error("the data dir has no checkpoint marked durable yet: its server is writing its first entries (run again in a moment)")]
    NotDurableYet,
}

/// A storage failure caused on purpose (see [`Store::inject`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The write fails; nothing of its batch reaches RocksDB.
    WriteFails,
    /// The batch is written whole, then the write reports failure.
    WriteFailsAfterPersisting,
    /// The WAL sync fails; nothing is synced.
    SyncFails,
    /// The WAL is synced, then the sync reports failure.
    SyncFailsAfterPersisting,
    /// Marking a checkpoint durable ([`Store::mark_durable`]) fails; nothing is marked.
    MarkFails,
}

impl Fault {
    /// The operation the fault strikes: [`Store::write`], [`Store::sync`] or
    /// [`Store::mark_durable`].
    fn op(self) -> Op {
        match self {
            Fault::WriteFails | Fault::WriteFailsAfterPersisting => Op::Write,
            Fault::SyncFails | Fault::SyncFailsAfterPersisting => Op::Sync,
            Fault::MarkFails => Op::Mark,
        }
    }
}

/// The store's operations that a [`Fault`] can strike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Write,
    Sync,
    Mark,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fault::WriteFails => "the write failed",
            Fault::WriteFailsAfterPersisting => "the write failed after persisting its batch",
            Fault::SyncFails => "the sync failed",
            Fault::SyncFailsAfterPersisting => "the sync failed after syncing",
            Fault::MarkFails => "marking a checkpoint durable failed",
        })
    }
}

/// An injected fault: the `at`-th write (or sync, by the fault's kind) from the injection on,
/// and every later one, fails (a disk that broke stays broken).
#[derive(Debug)]
struct Injection {
    fault: Fault,
    at: u64,
    calls: std::sync::atomic::AtomicU64,
}

impl Injection {
    /// Counts a call of the fault's operation; whether it fails, and whether before or after.
    fn hit(&self) -> Option<Fault> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        (n >= self.at).then_some(self.fault)
    }
}

/// The log's head as of the last commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogState {
    pub size: u64,
    pub root: Digest,
    /// Chain hash of entry `size - 1` (zero when empty).
    pub last_hash: Digest,
    pub last_time_ms: u64,
}

impl LogState {
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(80);
        v.extend_from_slice(&self.size.to_be_bytes());
        v.extend_from_slice(&self.root.0);
        v.extend_from_slice(&self.last_hash.0);
        v.extend_from_slice(&self.last_time_ms.to_be_bytes());
        v
    }

    fn decode(b: &[u8]) -> Option<LogState> {
        if b.len() != 80 {
            return None;
        }
        Some(LogState {
            size: u64::from_be_bytes(b[0..8].try_into().ok()?),
            root: Digest(b[8..40].try_into().ok()?),
            last_hash: Digest(b[40..72].try_into().ok()?),
            last_time_ms: u64::from_be_bytes(b[72..80].try_into().ok()?),
        })
    }
}

/// One new entry with what the indexes need.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub seq: u64,
    pub bytes: Vec<u8>,
    /// Its Merkle leaf hash, `SHA-256(0x00 ‖ bytes)`.
    pub leaf: vigil_core::hash::Digest,
    /// The `idempotency` family's key ([`idem_key_into`]).
    pub idem_key: Vec<u8>,
    pub kind: &'static str,
    pub incident: Option<String>,
    /// Openings JSON, if the entry has commitments.
    pub openings: Option<Vec<u8>>,
}

/// Everything one group commit writes. Must be passed to [`Store::write`].
#[must_use = "an AppendBatch does nothing until Store::write writes it"]
#[derive(Debug, Clone, Default)]
pub struct AppendBatch {
    /// Shared with the sequencer, which reads in-flight entries until they are written.
    pub entries: Arc<Vec<NewEntry>>,
    pub tiles: Vec<DirtyTile>,
    pub state: LogState,
    pub checkpoint: Vec<u8>,
    /// A checkpoint already durable (synced before this batch was written), to mark as such.
    pub durable: Option<Vec<u8>>,
}

pub struct Store {
    db: DB,
    /// The block cache every family shares.
    cache: rocksdb::Cache,
    path: PathBuf,
    /// Expanded full tiles (immutable, so safe to cache).
    tile_cache: Mutex<lru::LruCache<(u8, u64), Arc<TileNodes>>>,
    injection: Option<Injection>,
}

/// RocksDB's memory is bounded, so that a server's memory stays flat as the log grows: every
/// family's data, index and filter blocks share one LRU block cache of this size (index and
/// filter blocks would otherwise be held outside any cache, growing with the data) ...
pub const BLOCK_CACHE_BYTES: usize = 64 << 20;
/// ... and the memtables of all families together are flushed before they pass this size.
pub const MEMTABLE_BYTES: usize = 256 << 20;

/// How many times a read-only open is tried again when the files changed under it.
const READ_ONLY_TRIES: u64 = 10;

/// RocksDB's report of a file missing at open ("IO error: No such file or directory: While
/// opening a file for sequentially reading: …/000019.log", or "Corruption: …").
fn is_missing_file(e: &rocksdb::Error) -> bool {
    e.as_ref().contains("No such file or directory")
}

/// What a read-only open depends on: the MANIFEST `CURRENT` names, its length (a flush or a
/// compaction appends to it), and the write-ahead logs there (a flush deletes one).
fn files_mark(path: &Path) -> Option<(String, u64, Vec<std::ffi::OsString>)> {
    let current = std::fs::read_to_string(path.join("CURRENT")).ok()?;
    let len = std::fs::metadata(path.join(current.trim())).ok()?.len();
    let mut logs: Vec<_> = std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| Some(e.ok()?.file_name()))
        .filter(|n| n.to_string_lossy().ends_with(".log"))
        .collect();
    logs.sort();
    Some((current, len, logs))
}

/// Per-family tuning. Blocks go through the shared `cache`. The idempotency family is probed
/// for every append, almost always for a key that is absent: a whole-key Bloom filter answers
/// those without reading SST blocks.
fn family_options(name: &str, cache: &rocksdb::Cache) -> Options {
    let mut o = Options::default();
    let mut t = rocksdb::BlockBasedOptions::default();
    t.set_block_cache(cache);
    t.set_cache_index_and_filter_blocks(true);
    t.set_pin_l0_filter_and_index_blocks_in_cache(true);
    if name == CF_IDEMPOTENCY {
        t.set_bloom_filter(10.0, false);
        o.set_memtable_whole_key_filtering(true);
        o.set_memtable_prefix_bloom_ratio(0.1);
    }
    o.set_block_based_table_factory(&t);
    o
}

fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn tile_key(level: u8, index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = level;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

fn prefixed(prefix: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 9);
    k.extend_from_slice(prefix.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The `idempotency` family's key for a service's idempotency key, written into `buf`.
pub fn idem_key_into(buf: &mut Vec<u8>, service: &str, key: &str) {
    buf.clear();
    buf.extend_from_slice(service.as_bytes());
    buf.push(0);
    buf.extend_from_slice(key.as_bytes());
}

fn idem_key(service: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(service.len() + key.len() + 1);
    idem_key_into(&mut k, service, key);
    k
}

impl Store {
    /// Whether `path` holds a RocksDB (its `CURRENT` file), as a data dir does once created.
    pub fn exists(path: &Path) -> bool {
        path.join("CURRENT").exists()
    }

    /// Opens (creating if missing) a data dir for writing.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_inner(path, false)
    }

    /// Opens an existing data dir read-only; works while a server has it open for writing.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        Self::open_inner(path, true)
    }

    fn open_inner(path: &Path, read_only: bool) -> Result<Store, StoreError> {
        let rocks = |cause: rocksdb::Error| {
            // RocksDB's own words for a held lock: "IO error: While lock file: …/LOCK: Resource
            // temporarily unavailable".
            if cause.as_ref().contains("lock file") && cause.as_ref().contains("temporarily unavailable") {
                StoreError::InUse(path.to_path_buf())
            } else {
                StoreError::Rocks { path: path.to_path_buf(), cause }
            }
        };
        let mut opts = Options::default();
        opts.create_if_missing(!read_only);
        opts.create_missing_column_families(!read_only);
        opts.set_paranoid_checks(true);
        opts.set_db_write_buffer_size(MEMTABLE_BYTES);
        // A write fills RocksDB's WAL buffer only; `sync` writes the buffer out and syncs it.
        // That moves the copy into the page cache (and any wait behind the disk's writeback)
        // from the writer to the syncer, which waits for the disk anyway. Nothing written is
        // acknowledged before `sync`, so nothing acknowledged depends on the buffer.
        opts.set_manual_wal_flush(true);
        // Without direct I/O (below), a flush writes its SST file back to disk a megabyte at a
        // time as it goes, instead of all at once (64 MB for the entries family) in its final
        // sync: that burst stalled the WAL syncs queued behind it for ~20 ms.
        opts.set_bytes_per_sync(1 << 20);
        if !read_only {
            // Flushes and compactions run at the lowest CPU priority (nice 19): they have
            // seconds of slack, appends have milliseconds. At normal priority a 64 MB flush
            // took one of two cores for ~200 ms, and appends at half the target load queued
            // behind it for up to 40 ms (BENCHMARKS.md). The setting is RocksDB's default
            // environment's, so it holds for every store of the process.
            let mut env = rocksdb::Env::new().map_err(rocks)?;
            env.lower_high_priority_thread_pool_cpu_priority();
            env.lower_thread_pool_cpu_priority();
            opts.set_env(&env);
        }
        let cache = rocksdb::Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let cfs = || COLUMN_FAMILIES.iter().map(|n| ColumnFamilyDescriptor::new(*n, family_options(n, &cache)));
        let db = if read_only {
            if !path.exists() {
                return Err(StoreError::NotADataDir(format!(
                    "{} is not a vigil data dir: it does not exist",
                    path.display()
                )));
            }
            if !Self::exists(path) {
                return Err(StoreError::NotADataDir(format!(
                    "{} is not a vigil data dir (no RocksDB CURRENT file in it)",
                    path.display()
                )));
            }
            // A running server's flush or compaction changes the files under an open: it reads
            // the MANIFEST (the table files), then the write-ahead logs still there. A flush
            // that lands between the two deletes a log whose data the MANIFEST read does not
            // hold yet: the open then reports the file missing or, worse, succeeds without that
            // data. An open during which neither the MANIFEST nor the set of logs changed saw
            // one state; any other is tried again.
            let mut tries = 0;
            loop {
                let before = files_mark(path);
                match DB::open_cf_descriptors_read_only(&opts, path, cfs(), false) {
                    Err(e) if tries < READ_ONLY_TRIES && is_missing_file(&e) => {}
                    Ok(db) if tries < READ_ONLY_TRIES && files_mark(path) != before => drop(db),
                    opened => break opened.map_err(rocks)?,
                }
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10 * tries));
            }
        } else {
            // Flushes and compactions write their files with direct I/O, past the page cache.
            // Through the page cache, a 64 MB flush left that much dirty data that ext4
            // (data=ordered) had to write out before the journal commit of a WAL sync that grew
            // the WAL: appends under a steady load then waited up to ~50 ms. Direct I/O keeps
            // the WAL's syncs clear of the flush's data (BENCHMARKS.md). A file system without
            // direct I/O is refused by RocksDB at open; the store then opens without it.
            opts.set_use_direct_io_for_flush_and_compaction(true);
            match DB::open_cf_descriptors(&opts, path, cfs()) {
                Err(e) if e.as_ref().contains("Direct I/O is not supported") => {
                    tracing::warn!(
                        "{}: the file system has no direct I/O; flushes go through the page cache",
                        path.display()
                    );
                    opts.set_use_direct_io_for_flush_and_compaction(false);
                    DB::open_cf_descriptors(&opts, path, cfs()).map_err(rocks)?
                }
                opened => opened.map_err(rocks)?,
            }
        };
        let store = Store {
            db,
            cache,
            path: path.to_path_buf(),
            tile_cache: Mutex::new(lru::LruCache::new(NonZeroUsize::new(4096).expect("non-zero"))),
            injection: None,
        };
        let meta = store.cf(CF_META);
        match store.db.get_cf(meta, META_VERSION).map_err(rocks)? {
            Some(v) if v == STORE_FORMAT_VERSION.to_be_bytes() || v == UPGRADES_FROM.to_be_bytes() => {}
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_slice())
                    .map(|b| u32::from_be_bytes(b).to_string())
                    .unwrap_or_else(|_| format!("<{} bytes>", v.len()));
                return Err(StoreError::Version { path: path.to_path_buf(), found });
            }
            None if read_only => return Err(StoreError::Corrupt("no format version: not a vigil data dir".into())),
            None => {
                // A new store: the version is written before anything else.
                let mut wo = WriteOptions::default();
                wo.set_sync(true);
                store.db.put_cf_opt(meta, META_VERSION, STORE_FORMAT_VERSION.to_be_bytes(), &wo).map_err(rocks)?;
            }
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// RocksDB's memory now: memtables, table readers (outside the cache), block cache.
    pub fn memory(&self) -> Result<rocksdb::perf::MemoryUsageStats, StoreError> {
        rocksdb::perf::get_memory_usage_stats(Some(&[&self.db]), Some(&[&self.cache])).map_err(|e| self.err(e))
    }

    /// Fault injection, for tests: from the `at`-th (counting from 1) call of [`Store::write`]
    /// (for the write faults), [`Store::sync`] (for the sync faults) or [`Store::mark_durable`]
    /// on, every call fails with [`StoreError::Injected`], before or after doing its work as
    /// `fault` says.
    pub fn inject(mut self, fault: Fault, at: u64) -> Store {
        self.injection = Some(Injection { fault, at, calls: 0.into() });
        self
    }

    /// The injected fault this call of `op` hits, if any.
    fn injected(&self, op: Op) -> Option<Fault> {
        let i = self.injection.as_ref().filter(|i| i.fault.op() == op)?;
        i.hit()
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(name).expect("column family created at open")
    }

    fn err(&self, cause: rocksdb::Error) -> StoreError {
        StoreError::Rocks { path: self.path.clone(), cause }
    }

    /// The head of the log, or `None` for a new, empty store.
    pub fn state(&self) -> Result<Option<LogState>, StoreError> {
        match self.db.get_cf(self.cf(CF_META), META_STATE).map_err(|e| self.err(e))? {
            None => Ok(None),
            Some(b) => {
                LogState::decode(&b).map(Some).ok_or_else(|| StoreError::Corrupt("meta/state is malformed".into()))
            }
        }
    }

    /// The last signed checkpoint note.
    pub fn checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_cf(self.cf(CF_META), META_CHECKPOINT).map_err(|e| self.err(e))
    }

    /// The newest checkpoint note known durable (see the module's "Durable mark"); `None`
    /// when the store has no checkpoint at all, [`StoreError::NotDurableYet`] when it has one
    /// but none is marked yet. A store of version 3 has no mark: its last checkpoint is given.
    pub fn durable_checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let meta = self.cf(CF_META);
        let version = self.db.get_cf(meta, META_VERSION).map_err(|e| self.err(e))?;
        if version.is_some_and(|v| v == UPGRADES_FROM.to_be_bytes()) {
            return self.checkpoint();
        }
        match self.db.get_cf(meta, META_DURABLE).map_err(|e| self.err(e))? {
            Some(note) => Ok(Some(note)),
            None => match self.checkpoint()? {
                None => Ok(None),
                Some(_) => Err(StoreError::NotDurableYet),
            },
        }
    }

    /// Marks `note`, the checkpoint of a log state already synced, as durable: written out to
    /// the WAL file (no sync of its own), where readers find it. Losing it to a power cut
    /// leaves an older mark, which is as true.
    pub fn mark_durable(&self, note: &[u8]) -> Result<(), StoreError> {
        if let Some(fault) = self.injected(Op::Mark) {
            return Err(StoreError::Injected(fault));
        }
        self.db.put_cf(self.cf(CF_META), META_DURABLE, note).map_err(|e| self.err(e))?;
        self.db.flush_wal(false).map_err(|e| self.err(e))
    }

    /// At an engine's open, once the stored log checked out: marks `note` (the recovered
    /// checkpoint, if any) durable, and upgrades a version-3 store, in one synced write. What
    /// was recovered is durable by then: RocksDB flushed the memtables it replayed from the WAL
    /// to synced table files (its default, `avoid_flush_during_recovery=false`, which the
    /// tests' `assert_flushed` checks in the store's OPTIONS file).
    pub fn mark_opened(&self, note: Option<&[u8]>) -> Result<(), StoreError> {
        let mut wb = WriteBatch::default();
        let meta = self.cf(CF_META);
        wb.put_cf(meta, META_VERSION, STORE_FORMAT_VERSION.to_be_bytes());
        if let Some(note) = note {
            wb.put_cf(meta, META_DURABLE, note);
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(wb, &wo).map_err(|e| self.err(e))
    }

    /// For tests: writes RocksDB's WAL buffer out to the file without syncing it, as a sync
    /// does in the instant before its fsync. A reader then sees the groups written so far,
    /// durable or not.
    pub fn write_out_wal(&self) -> Result<(), StoreError> {
        self.db.flush_wal(false).map_err(|e| self.err(e))
    }

    pub fn entry(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let mut it = self.db.raw_iterator_cf(self.cf(CF_ENTRIES));
        it.seek(seq_key(seq));
        let (Some(k), Some(v)) = (it.key(), it.value()) else {
            return it.status().map(|()| None).map_err(|e| self.err(e));
        };
        // Bound before returning: the borrow of `it` must end first.
        let found = chunk_entries(k, v)?.find(|(s, _)| *s == seq).map(|(_, e)| e.to_vec());
        Ok(found)
    }

    /// Stored entries with sequence numbers in `from..to`, in order. A missing entry is simply
    /// absent from the iteration: verifiers compare the numbers they get with the ones they expect.
    pub fn entries(&self, from: u64, to: u64) -> impl Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + '_ {
        let it = self.db.iterator_cf(self.cf(CF_ENTRIES), IteratorMode::From(&seq_key(from), Direction::Forward));
        it.flat_map(move |r| {
            let chunk = r.map_err(|e| self.err(e)).and_then(|(k, v)| {
                Ok(chunk_entries(&k, &v)?.filter(|(s, _)| *s >= from).map(|(s, e)| Ok((s, e.to_vec()))).collect())
            });
            chunk.unwrap_or_else(|e| vec![Err(e)])
        })
        .take_while(move |r| r.as_ref().map_or(true, |(s, _)| *s < to))
    }

    /// Raw tile bytes (level-0 hashes of the tile), as tlog-tiles serves them.
    pub fn tile_bytes(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_cf(self.cf(CF_TILES), tile_key(level, index)).map_err(|e| self.err(e))
    }

    pub fn idempotency(&self, service: &str, key: &str) -> Result<Option<u64>, StoreError> {
        self.idempotency_raw(&idem_key(service, key))
    }

    /// [`Store::idempotency`] by the family's key ([`idem_key_into`]).
    pub fn idempotency_raw(&self, key: &[u8]) -> Result<Option<u64>, StoreError> {
        match self.db.get_cf(self.cf(CF_IDEMPOTENCY), key).map_err(|e| self.err(e))? {
            None => Ok(None),
            Some(v) => <[u8; 8]>::try_from(v.as_slice())
                .map(|b| Some(u64::from_be_bytes(b)))
                .map_err(|_| StoreError::Corrupt("bad idempotency value".into())),
        }
    }

    /// Every stored idempotency key, as [`idem_key_into`] encodes it (to rebuild filters).
    pub fn idempotency_keys(&self) -> impl Iterator<Item = Result<Box<[u8]>, StoreError>> + '_ {
        self.db
            .iterator_cf(self.cf(CF_IDEMPOTENCY), IteratorMode::Start)
            .map(|r| r.map(|(k, _)| k).map_err(|e| self.err(e)))
    }

    /// The openings (JSON) stored with entry `seq`, if it has any.
    pub fn openings(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("openings record holding entry {seq} is malformed"));
        let mut it = self.db.iterator_cf(self.cf(CF_OPENINGS), IteratorMode::From(&seq_key(seq), Direction::Forward));
        let Some(r) = it.next() else { return Ok(None) };
        let (_, mut v) = r.map_err(|e| self.err(e))?;
        while !v.is_empty() {
            let (s, rest) = v.split_first_chunk::<8>().ok_or_else(corrupt)?;
            let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(corrupt)?;
            let len = u32::from_be_bytes(*len) as usize;
            let json = rest.get(..len).ok_or_else(corrupt)?;
            if u64::from_be_bytes(*s) == seq {
                return Ok(Some(json.to_vec()));
            }
            v = rest[len..].into();
        }
        Ok(None)
    }

    fn index_scan(&self, cf: &str, prefix: &str, after: Option<u64>, limit: usize) -> Result<Vec<u64>, StoreError> {
        let first = after.map_or(0, |a| a.saturating_add(1));
        let start = prefixed(prefix, first);
        let mut head = prefix.as_bytes().to_vec();
        head.push(0);
        let mut out = Vec::new();
        for r in self.db.iterator_cf(self.cf(cf), IteratorMode::From(&start, Direction::Forward)) {
            let (k, v) = r.map_err(|e| self.err(e))?;
            if !k.starts_with(&head) || k.len() != head.len() + 8 || out.len() >= limit {
                break;
            }
            if v.len() % 8 != 0 {
                return Err(StoreError::Corrupt(format!("{cf} record for {prefix:?} is malformed")));
            }
            let seqs = v.chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().expect("chunks of 8")));
            out.extend(seqs.filter(|&s| s >= first).take(limit - out.len()));
        }
        Ok(out)
    }

    /// Sequence numbers of entries of `kind`, after `after`, at most `limit`.
    pub fn by_kind(&self, kind: &str, after: Option<u64>, limit: usize) -> Result<Vec<u64>, StoreError> {
        self.index_scan(CF_BY_KIND, kind, after, limit)
    }

    /// Sequence numbers of entries naming `incident`, after `after`, at most `limit`.
    pub fn by_incident(&self, incident: &str, after: Option<u64>, limit: usize) -> Result<Vec<u64>, StoreError> {
        self.index_scan(CF_BY_INCIDENT, incident, after, limit)
    }

    /// Sequence numbers of entries of `kind` naming `incident`, after `after`: at most `limit`,
    /// found by a leapfrog join of the two indexes (each step seeks both: the incident's next
    /// entry, then the kind's first entry from there) in at most `steps` steps. The second
    /// value is `Some(seq)` when the steps ran out first: every match up to `seq` is given, and
    /// a next call resumes after it.
    pub fn by_kind_and_incident(
        &self,
        kind: &str,
        incident: &str,
        after: Option<u64>,
        limit: usize,
        steps: usize,
    ) -> Result<(Vec<u64>, Option<u64>), StoreError> {
        let (mut out, mut after) = (Vec::new(), after);
        for _ in 0..steps {
            if out.len() >= limit {
                return Ok((out, None));
            }
            let Some(&a) = self.by_incident(incident, after, 1)?.first() else { return Ok((out, None)) };
            let Some(&b) = self.by_kind(kind, a.checked_sub(1), 1)?.first() else { return Ok((out, None)) };
            if a == b {
                out.push(a);
            }
            // Past `a`, or up to the next entry of the kind: no match lies between.
            after = Some(if a == b { a } else { b - 1 });
        }
        Ok((out, after))
    }

    /// Makes every batch written so far durable (syncs the WAL).
    pub fn sync(&self) -> Result<(), StoreError> {
        let fault = self.injected(Op::Sync);
        if fault == Some(Fault::SyncFails) {
            return Err(StoreError::Injected(Fault::SyncFails));
        }
        self.db.flush_wal(true).map_err(|e| self.err(e))?;
        fault.map_or(Ok(()), |f| Err(StoreError::Injected(f)))
    }

    /// Writes one group commit atomically, not yet synced.
    pub fn write(&self, batch: &AppendBatch) -> Result<(), StoreError> {
        let fault = self.injected(Op::Write);
        if fault == Some(Fault::WriteFails) {
            return Err(StoreError::Injected(Fault::WriteFails));
        }
        // Sized up front: grown by doubling, the batch of a large group is copied over and
        // over (and its fresh pages faulted in each time).
        let mut wb = WriteBatch::with_capacity_bytes(batch_bytes(batch));
        let (entries, tiles, idem, kinds, incidents, openings, meta) = (
            self.cf(CF_ENTRIES),
            self.cf(CF_TILES),
            self.cf(CF_IDEMPOTENCY),
            self.cf(CF_BY_KIND),
            self.cf(CF_BY_INCIDENT),
            self.cf(CF_OPENINGS),
            self.cf(CF_META),
        );
        // Index records: (name, seqs) in order of first appearance; a batch has few kinds.
        let mut by_kind: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut by_incident: Vec<(&str, Vec<u8>)> = Vec::new();
        fn add<'a>(records: &mut Vec<(&'a str, Vec<u8>)>, name: &'a str, seq: u64) {
            match records.iter_mut().find(|(n, _)| *n == name) {
                Some((_, seqs)) => seqs.extend_from_slice(&seq.to_be_bytes()),
                None => records.push((name, seq.to_be_bytes().to_vec())),
            }
        }
        let (mut record, mut in_record, mut last) = (Vec::new(), 0, 0);
        // One buffer for every chunk of the batch; a chunk holds at most ENTRIES_PER_CHUNK.
        let mut chunk =
            Vec::with_capacity(batch.entries.iter().take(ENTRIES_PER_CHUNK as usize).map(|e| e.bytes.len() + 2).sum());
        let last_seq = batch.entries.last().map(|e| e.seq);
        for e in batch.entries.iter() {
            let len = u16::try_from(e.bytes.len())
                .map_err(|_| StoreError::Corrupt(format!("entry {} is {} bytes, over 65535", e.seq, e.bytes.len())))?;
            chunk.extend_from_slice(&len.to_be_bytes());
            chunk.extend_from_slice(&e.bytes);
            if (e.seq + 1) % ENTRIES_PER_CHUNK == 0 || Some(e.seq) == last_seq {
                wb.put_cf(entries, seq_key(e.seq), &chunk);
                chunk.clear();
            }
            wb.put_cf(idem, &e.idem_key, seq_key(e.seq));
            add(&mut by_kind, e.kind, e.seq);
            if let Some(i) = &e.incident {
                add(&mut by_incident, i, e.seq);
            }
            if let Some(o) = &e.openings {
                record.extend_from_slice(&e.seq.to_be_bytes());
                record.extend_from_slice(&(o.len() as u32).to_be_bytes());
                record.extend_from_slice(o);
                (in_record, last) = (in_record + 1, e.seq);
                if in_record == OPENINGS_PER_RECORD {
                    wb.put_cf(openings, seq_key(last), std::mem::take(&mut record));
                    in_record = 0;
                }
            }
        }
        if in_record > 0 {
            wb.put_cf(openings, seq_key(last), record);
        }
        for (cf, records) in [(kinds, by_kind), (incidents, by_incident)] {
            for (name, seqs) in records {
                let last = u64::from_be_bytes(seqs[seqs.len() - 8..].try_into().expect("one seq at least"));
                wb.put_cf(cf, prefixed(name, last), seqs);
            }
        }
        for t in &batch.tiles {
            wb.put_cf(tiles, tile_key(t.level, t.index), t.nodes.to_bytes());
        }
        wb.put_cf(meta, META_STATE, batch.state.encode());
        wb.put_cf(meta, META_CHECKPOINT, &batch.checkpoint);
        if let Some(durable) = &batch.durable {
            wb.put_cf(meta, META_DURABLE, durable);
        }
        self.db.write_opt(wb, &WriteOptions::default()).map_err(|e| self.err(e))?;
        let mut cache = self.tile_cache.lock().expect("tile cache lock");
        for t in &batch.tiles {
            if t.nodes.is_full() {
                cache.put((t.level, t.index), t.nodes.clone());
            }
        }
        fault.map_or(Ok(()), |f| Err(StoreError::Injected(f)))
    }
}

/// About the bytes a group's write batch takes (a little over, never much under): each
/// record costs its key and value plus a few bytes of framing.
fn batch_bytes(batch: &AppendBatch) -> usize {
    const FRAMING: usize = 16;
    let entries: usize = batch
        .entries
        .iter()
        .map(|e| {
            let openings = e.openings.as_ref().map_or(0, |o| o.len() + 12);
            // an incident's index record key, if each entry names another incident
            let incident = e.incident.as_ref().map_or(0, |i| i.len() + 9 + FRAMING);
            // its share of a chunk, its idempotency record, its seqs in the index records
            // (kind, incident) and its opening
            e.bytes.len() + 2 + e.idem_key.len() + 8 + FRAMING + 16 + openings + incident
        })
        .sum();
    let tiles: usize = batch.tiles.iter().map(|t| t.nodes.width() as usize * 32 + 9 + FRAMING).sum();
    // plus the chunk and index record keys, the state, the checkpoint and the durable mark
    entries + tiles + batch.checkpoint.len() + batch.durable.as_ref().map_or(0, Vec::len) + 1024
}

/// The entries of one stored chunk (its key and value), as `(seq, entry bytes)`: the chunk is
/// checked whole before the first is handed out.
fn chunk_entries<'a>(key: &[u8], value: &'a [u8]) -> Result<impl Iterator<Item = (u64, &'a [u8])> + 'a, StoreError> {
    let last = <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt(format!("entries key of {} bytes", key.len())))?;
    let corrupt = || StoreError::Corrupt(format!("the entries chunk ending at entry {last} is malformed"));
    let (mut count, mut rest) = (0u64, value);
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<2>().ok_or_else(corrupt)?;
        rest = tail.get(usize::from(u16::from_be_bytes(*len))..).ok_or_else(corrupt)?;
        count += 1;
    }
    if count == 0 || count > ENTRIES_PER_CHUNK || count > last.saturating_add(1) {
        return Err(corrupt());
    }
    let first = last - (count - 1);
    if first / ENTRIES_PER_CHUNK != last / ENTRIES_PER_CHUNK {
        return Err(corrupt());
    }
    let mut rest = value;
    Ok((first..=last).map(move |seq| {
        let (len, tail) = rest.split_first_chunk::<2>().expect("checked above");
        let (entry, tail) = tail.split_at(usize::from(u16::from_be_bytes(*len)));
        rest = tail;
        (seq, entry)
    }))
}

impl TileSource for Store {
    fn tile(&self, level: u8, index: u64) -> Result<Option<Arc<TileNodes>>, String> {
        if let Some(t) = self.tile_cache.lock().map_err(|e| e.to_string())?.get(&(level, index)) {
            return Ok(Some(t.clone()));
        }
        let Some(bytes) = self.tile_bytes(level, index).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let t = Arc::new(TileNodes::from_bytes(&bytes).ok_or_else(|| format!("tile {level}/{index} is malformed"))?);
        if t.width() == TILE_WIDTH {
            self.tile_cache.lock().map_err(|e| e.to_string())?.put((level, index), t.clone());
        }
        Ok(Some(t))
    }
}
