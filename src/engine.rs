//! The append engine: one sequencer thread, many callers, group commit in three stages.
//!
//! Callers hand batches of signed statements to [`Engine::append`]. Signatures are checked on
//! the caller's thread, each with the verifier's own rule ([`Engine::verify`]), or, for the HTTP
//! API, on the engine's verifier threads, which check the batches of concurrent requests
//! together ([`Engine::verify_coalesced`]); the sequencer then
//! takes every batch waiting at that moment and makes it one group (positions, authorization,
//! idempotency, encoding and chaining); the writer turns each group into **one** RocksDB write
//! batch with **one** newly signed checkpoint; the syncer runs one WAL sync for every group
//! written and waiting. Each caller then builds its receipts (sequence number, entry hash,
//! checkpoint, inclusion proof to it) on its own thread.
//!
//! **Architecture Invariant:** a caller's batch is all-or-nothing. It is checked completely
//! against the state it would land on before anything of it enters the group; a rejected
//! batch leaves no trace.
//!
//! **Architecture Invariant:** nobody is told an append succeeded before the group's write
//! batch is synced to disk. The commit is pipelined: the sequencer accepts group N+2 while the
//! writer hashes, signs and writes (atomically, unsynced) group N+1 and the syncer syncs group
//! N; only then is the head published and group N answered. A failed write or sync stops the
//! engine: every caller not yet answered gets an error, and reopening recovers the last
//! consistent state (each batch lands whole or not at all).
//!
//! **Architecture Invariant:** readers use the published (durable) head; entries beyond its
//! size may be in RocksDB but are not yet part of the log.

use crate::store::{idem_key_into, AppendBatch, LogState, NewEntry, Store, StoreError};
use ed25519_dalek::VerifyingKey;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use vigil_core::checkpoint::{self, Checkpoint};
use vigil_core::entry::{Entry, HEADER_SIZE, MAX_ENTRY_SIZE};
use vigil_core::event::{EventKind, Private};
use vigil_core::hash::{chain_hash, Digest};
use vigil_core::keys::{KeyRef, SignerKey, VerifierKey};
use vigil_core::merkle::{leaf_hash, InclusionProof, NoTiles, TileTree};
use vigil_core::registry::{AuthError, KeyRegistry};
use vigil_core::statement::{signing_message, verify as verify_statement, ParsedSubmission, Statement};

/// Where the engine reads the time. Injected so tests control it.
pub trait Clock: Send + Sync {
    /// Unix time in milliseconds.
    fn now_ms(&self) -> u64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }
}

/// A clock that says what it is set to (the demo's story times, tests).
pub struct FixedClock(pub std::sync::atomic::AtomicU64);

impl FixedClock {
    pub fn at(ms: u64) -> FixedClock {
        FixedClock(ms.into())
    }
}

impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Stable, machine-readable reasons an event is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    InvalidEvent,
    UnknownKey,
    RevokedKey,
    KindNotAllowed,
    BadSignature,
    TooLarge,
    BadOpenings,
    Genesis,
    KeyConflict,
    IdempotencyConflict,
    /// Created too far from the server's clock, and not a retry of an event already logged.
    OutsideReplayWindow,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// Event `index` of the batch is refused; nothing of the batch was written.
    #[error("event {index}: {reason}")]
    Rejected { index: usize, code: RejectCode, reason: String },
    #[error("the batch is empty")]
    Empty,
    /// The batch may or may not be on disk (a write that failed, or a sync that failed after
    /// the write): not acknowledged. Retrying with the same idempotency keys is always safe.
    #[error("storage failed; the batch was not acknowledged and may or may not have been written (retry with the same idempotency keys): {0}")]
    Storage(String),
    #[error("the sequencer has stopped")]
    Closed,
    /// A check failed unexpectedly (a panic, which is a bug) before the batch reached the
    /// sequencer: nothing of it was written, and the engine goes on.
    #[error("{0}; nothing of the batch was written")]
    Internal(&'static str),
    /// Something failed unexpectedly (a panic) after the batch may have reached the sequencer:
    /// not acknowledged, and it may or may not have been written.
    #[error("{0}; the batch was not acknowledged and may or may not have been written")]
    Unanswered(&'static str),
}

fn reject(index: usize, code: RejectCode, reason: impl Into<String>) -> AppendError {
    AppendError::Rejected { index, code, reason: reason.into() }
}

fn auth_code(e: &AuthError) -> RejectCode {
    match e {
        AuthError::UnknownKey(_) => RejectCode::UnknownKey,
        // The signer is accepted; the key the event revokes is not there.
        AuthError::RevokeUnknown(_) => RejectCode::InvalidEvent,
        AuthError::Revoked { .. } => RejectCode::RevokedKey,
        AuthError::KindNotAllowed { .. } => RejectCode::KindNotAllowed,
        AuthError::Genesis => RejectCode::Genesis,
        AuthError::Conflict(_) => RejectCode::KeyConflict,
        AuthError::BadSignature(_) => RejectCode::BadSignature,
    }
}

/// What an append returns for each event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub seq: u64,
    /// Chain hash of the entry (BLAKE3, hex).
    pub entry_hash: String,
    /// RFC 6962 leaf hash of the entry (hex).
    pub leaf_hash: String,
    /// The signed checkpoint the proof leads to.
    pub checkpoint: String,
    pub inclusion_proof: InclusionProof,
    /// True when this idempotency key was appended before and the original entry is returned.
    pub duplicate: bool,
}

/// A submission whose signature [`Engine::verify`] checked against `key`, reduced to what the
/// sequencer needs. The parsed event is dropped by the verifying thread (not later, cold, by the
/// syncer), except where the sequencer needs it: key events (they change the registry),
/// events that refer to earlier entries, and keys the registry did not know yet.
/// The sequencer re-checks that `key` is still the one authorized at the entry's position.
#[derive(Debug, Clone)]
pub struct VerifiedSubmission {
    key_ref: KeyRef,
    idempotency_key: String,
    kind: EventKind,
    incident: Option<String>,
    statement: Option<Box<Statement>>,
    /// The canonical statement bytes the signature covers.
    bytes: Vec<u8>,
    signature: [u8; 64],
    /// The public key the signature was checked against (none: left to the sequencer).
    key: Option<VerifyingKey>,
    /// The openings, checked against the commitments, as stored (JSON).
    openings: Option<Vec<u8>>,
    /// Set by [`VerifiedSubmission::only_as_a_retry`]: why it is refused if it is new.
    only_as_a_retry: Option<String>,
}

impl VerifiedSubmission {
    fn new(sub: ParsedSubmission, key: Option<VerifyingKey>, openings: Option<Vec<u8>>) -> Self {
        let st = sub.statement;
        let kind = st.event.kind();
        let incident = st.event.incident().map(String::from);
        let keep = key.is_none()
            || matches!(kind, EventKind::KeyRegistered | EventKind::KeyRevoked)
            || !st.event.refs().is_empty();
        let (key_ref, idempotency_key, statement) = if keep {
            (st.key.clone(), st.idempotency_key.clone(), Some(Box::new(st)))
        } else {
            (st.key, st.idempotency_key, None)
        };
        VerifiedSubmission {
            key_ref,
            idempotency_key,
            kind,
            incident,
            statement,
            bytes: sub.bytes,
            signature: sub.signature,
            key,
            openings,
            only_as_a_retry: None,
        }
    }

    /// Accepted only as a retry of an event already logged (answered with that event's receipt,
    /// writing nothing); as a new event it is refused with [`RejectCode::OutsideReplayWindow`]
    /// and `why`. For an event created outside the replay window: a service retrying an append
    /// that was written but not answered still gets its receipt, however late it retries.
    pub fn only_as_a_retry(&mut self, why: String) {
        self.only_as_a_retry = Some(why);
    }
}

/// The durable head, as published to readers after every commit.
#[derive(Debug, Clone)]
pub struct Head {
    pub state: LogState,
    pub checkpoint: Vec<u8>,
    pub tree: TileTree,
    pub registry: KeyRegistry,
}

struct Shared {
    /// The store readers use. [`Engine::recover`] swaps in a read-only view, then the reopened store.
    store: RwLock<Arc<Store>>,
    /// The latest *durable* head: published by the syncer after the WAL sync.
    head: RwLock<Arc<Head>>,
    /// Set after a storage failure: the engine refuses all appends until [`Engine::recover`].
    failed: Mutex<Option<String>>,
    /// Log size covered by batches written to the store (synced or not).
    written: AtomicU64,
    metrics: crate::metrics::EngineMetrics,
    /// Set by [`Engine::inject_check_panic`]: the verifier threads' next check panics.
    check_panics: AtomicBool,
    /// Set by [`Engine::hold_syncs`]: while true, the syncer waits before its next sync.
    syncs_held: (Mutex<bool>, std::sync::Condvar),
}

impl Shared {
    fn set_syncs_held(&self, held: bool) {
        let (lock, changed) = &self.syncs_held;
        *lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = held;
        changed.notify_all();
    }
}

/// [`Engine::hold_syncs`]'s hold: dropped (also when a test fails), the syncer goes on.
#[doc(hidden)]
pub struct SyncHold<'a>(&'a Shared);

impl Drop for SyncHold<'_> {
    fn drop(&mut self) {
        self.0.set_syncs_held(false);
    }
}

/// A group on its way to the writer, which hashes it into the tree, signs a checkpoint,
/// writes its batch, and passes it on to the syncer.
struct Pending {
    /// The group's new entries (none when all were refused or duplicates).
    entries: Option<Arc<Vec<NewEntry>>>,
    /// The log position after the group (its `root` is the writer's to fill).
    state: LogState,
    registry: KeyRegistry,
    answers: Vec<(Reply, Result<Vec<Accepted>, AppendError>)>,
    /// What the sequencer is done with, freed by the syncer after it answers: thousands of
    /// small allocations per group, which would otherwise be freed by the busiest stage.
    spent: Spent,
}

/// Memory the sequencer no longer needs (see [`Pending::spent`]).
#[derive(Default)]
struct Spent {
    submissions: Vec<Vec<VerifiedSubmission>>,
    inflight: Vec<Inflight>,
}

/// A group handed to the writer but maybe not written yet: the sequencer answers idempotency
/// questions about it from memory until the store has it.
struct Inflight {
    end_size: u64,
    keys: FxHashMap<Vec<u8>, u64>,
    entries: Arc<Vec<NewEntry>>,
}

type Reply = tokio::sync::oneshot::Sender<Result<Committed, AppendError>>;

/// One accepted event, as the sequencer reports it.
#[derive(Debug, Clone, Copy)]
struct Accepted {
    seq: u64,
    duplicate: bool,
    entry_hash: Digest,
    leaf_hash: Digest,
}

/// A caller's share of a durable group commit. The caller builds its receipts from it on its
/// own thread, so proof generation does not hold up the sequencer.
struct Committed {
    head: Arc<Head>,
    accepted: Vec<Accepted>,
}

struct Request {
    subs: Vec<VerifiedSubmission>,
    reply: Reply,
}

#[derive(Clone)]
pub struct EngineConfig {
    pub log_key: SignerKey,
    /// Most events in one group commit (a single larger request is a group of its own).
    /// Small enough that the three stages work on different groups at once: with a few
    /// callers of big batches, one large group leaves the writer and syncer idle while the
    /// sequencer fills it (BENCHMARKS.md, "Engine append").
    pub max_group: usize,
    pub clock: Arc<dyn Clock>,
}

impl EngineConfig {
    pub fn new(log_key: SignerKey) -> Self {
        EngineConfig { log_key, max_group: 1024, clock: Arc::new(SystemClock) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("refusing to serve {path}: {reason}")]
    Tail { path: String, reason: String },
}

pub struct Engine {
    shared: Arc<Shared>,
    /// Appends read-lock it to send; [`Engine::recover`] write-locks it to replace it.
    pipeline: RwLock<Pipeline>,
    /// Started by the first [`Engine::verify_coalesced`]: engines that never serve HTTP (the
    /// CLI, most tests) start no verifier threads.
    /// Started on first use; `None` when no verifier thread could be started.
    coalescer: std::sync::OnceLock<Option<Arc<Coalescer>>>,
    config: EngineConfig,
}

/// The sequencer, writer and syncer threads over one opened store.
struct Pipeline {
    tx: Option<mpsc::Sender<Request>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// Starts the three stages at `head` on `store`.
    fn start(
        shared: &Arc<Shared>,
        store: Arc<Store>,
        head: Head,
        config: &EngineConfig,
    ) -> Result<Pipeline, OpenError> {
        let mut idem_filter = IdemFilter::new(2 * head.state.size as usize);
        for key in store.idempotency_keys() {
            idem_filter.insert(&key?);
        }
        shared.metrics.idempotency_filter_keys.set(idem_filter.keys as i64);
        shared.written.store(head.state.size, Ordering::SeqCst);
        // What was recovered is durable; readers of the data dir may keep it from now on.
        store.mark_opened(Some(&head.checkpoint).filter(|c| !c.is_empty()).map(Vec::as_slice))?;
        let (tx, rx) = mpsc::channel::<Request>();
        let (write_tx, write_rx) = mpsc::sync_channel::<Pending>(2);
        let (sync_tx, sync_rx) = mpsc::sync_channel::<Written>(4);
        let writer = Writer {
            shared: shared.clone(),
            store: store.clone(),
            tree: head.tree,
            checkpoint: head.checkpoint,
            state: head.state,
            log_key: config.log_key.clone(),
            clock: config.clock.clone(),
            marked: head.state.size,
        };
        let writer = std::thread::Builder::new()
            .name("vigil-writer".into())
            .spawn(move || writer.run(write_rx, sync_tx))
            .expect("spawn writer thread");
        let syncer = Syncer { shared: shared.clone(), store: store.clone() };
        let syncer = std::thread::Builder::new()
            .name("vigil-syncer".into())
            .spawn(move || syncer.run(sync_rx))
            .expect("spawn syncer thread");
        let seq = Sequencer {
            shared: shared.clone(),
            store,
            state: head.state,
            registry: head.registry,
            config: config.clone(),
            writer: write_tx,
            inflight: VecDeque::new(),
            idem_filter,
        };
        let thread = std::thread::Builder::new()
            .name("vigil-sequencer".into())
            .spawn(move || seq.run(rx))
            .expect("spawn sequencer thread");
        Ok(Pipeline { tx: Some(tx), threads: vec![thread, writer, syncer] })
    }

    /// Closing the channel stops the sequencer after the group in hand; the sequencer's end
    /// closes the writer's channel, and the writer's end the syncer's: each stage finishes its
    /// work and answers every caller it holds.
    fn stop(&mut self) {
        self.tx.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Engine {
    /// Opens a data dir, recovers and checks its tail against the last signed checkpoint,
    /// and starts the sequencer.
    pub fn open(path: &Path, config: EngineConfig) -> Result<Engine, OpenError> {
        Self::open_store(Store::open(path)?, config)
    }

    /// [`Engine::open`] on a store already opened (the fault-injection tests pass one with a
    /// fault injected).
    pub fn open_store(store: Store, config: EngineConfig) -> Result<Engine, OpenError> {
        crate::keep_freed_pages();
        let head = recover(&store, &config.log_key)?;
        let metrics = crate::metrics::EngineMetrics::default();
        metrics.checkpoint_size.set(head.state.size as i64);
        let store = Arc::new(store);
        let shared = Arc::new(Shared {
            store: RwLock::new(store.clone()),
            head: RwLock::new(Arc::new(head.clone())),
            failed: Mutex::new(None),
            written: AtomicU64::new(head.state.size),
            check_panics: AtomicBool::new(false),
            syncs_held: Default::default(),
            metrics,
        });
        let pipeline = Pipeline::start(&shared, store, head, &config)?;
        Ok(Engine { shared, pipeline: RwLock::new(pipeline), coalescer: std::sync::OnceLock::new(), config })
    }

    /// The storage failure that stopped the engine, if one did.
    pub fn failure(&self) -> Option<String> {
        self.shared.failed.lock().expect("failed lock").clone()
    }

    /// After a storage failure: stops the pipeline (every caller in it has been answered with
    /// the failure), closes the store and opens it again, which recovers RocksDB's WAL, checks
    /// the tail against the last signed checkpoint as [`Engine::open`] does, and restarts the
    /// pipeline at the recovered head. Readers are served from a read-only view meanwhile.
    /// Returns `Ok(false)` when the engine had not failed, `Ok(true)` once it accepts appends
    /// again, and the reason while it cannot (the disk still full, say: try again later).
    /// Entries written but never acknowledged before the failure may be in the recovered log;
    /// a retry with the same idempotency keys gets their receipts.
    pub fn recover(&self) -> Result<bool, OpenError> {
        // A healthy engine's appends never meet the lock below.
        if self.failure().is_none() {
            return Ok(false);
        }
        let mut pipeline = self.pipeline.write().expect("pipeline lock");
        pipeline.stop();
        let path = self.store().path().to_path_buf();
        // The writable store must close (releasing RocksDB's lock) before it reopens; readers
        // move to a read-only view first (without one, the store cannot reopen either), and the
        // reads in flight on the old one are given a moment to finish (else the reopen fails on
        // the lock and a later attempt succeeds).
        let view = Arc::new(Store::open_read_only(&path)?);
        let old = std::mem::replace(&mut *self.shared.store.write().expect("store lock"), view);
        let waiting = std::time::Instant::now();
        while Arc::strong_count(&old) > 1 && waiting.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        drop(old);
        let store = Arc::new(Store::open(&path)?);
        let head = recover(&store, &self.config.log_key)?;
        *self.shared.store.write().expect("store lock") = store.clone();
        *self.shared.head.write().expect("head lock") = Arc::new(head.clone());
        self.shared.metrics.checkpoint_size.set(head.state.size as i64);
        *pipeline = Pipeline::start(&self.shared, store, head, &self.config)?;
        // Cleared under the lock: an append that finds the lock held and no failure knows the
        // recovery is done but for releasing it, and waits (see `submit`).
        *self.shared.failed.lock().expect("failed lock") = None;
        Ok(true)
    }

    /// The store, for reads (while [`Engine::recover`] runs, a read-only view of it).
    pub fn store(&self) -> Arc<Store> {
        self.shared.store.read().expect("store lock").clone()
    }

    /// The engine's counters and histograms (register them to serve them).
    pub fn metrics(&self) -> &crate::metrics::EngineMetrics {
        &self.shared.metrics
    }

    /// The latest durable head.
    pub fn head(&self) -> Arc<Head> {
        self.shared.head.read().expect("head lock").clone()
    }

    /// The checks that do not depend on the log's position, done on the caller's thread:
    /// openings against commitments, and signatures against the current key registry. Keys
    /// not known yet (registered by an entry still in flight) are left to the sequencer.
    ///
    /// The signatures are checked together with Ed25519 batch verification under the ZIP-215
    /// rule `vigil verify` applies (docs/FORMAT.md §3.2): cofactored, so the batch accepts
    /// exactly what the single checks accept. When a batch fails, each signature is checked on
    /// its own to name the first bad one.
    pub fn verify(&self, subs: Vec<ParsedSubmission>) -> Result<Vec<VerifiedSubmission>, AppendError> {
        let head = self.head();
        let checked = precheck(&head, &subs)?;
        verify_alone(subs, checked)
    }

    /// What a verifier thread does with the batches it finds waiting (see [`Coalescer`]):
    /// checks them together, then alone if that fails. Each batch gets the answer
    /// [`Engine::verify`] would give it. For tests: which batches meet on a verifier thread
    /// depends on timing.
    #[doc(hidden)]
    pub fn verify_together(
        &self,
        batches: Vec<Vec<ParsedSubmission>>,
    ) -> Vec<Result<Vec<VerifiedSubmission>, AppendError>> {
        let (jobs, answers): (Vec<_>, Vec<_>) = batches
            .into_iter()
            .map(|subs| {
                let (reply, rx) = tokio::sync::oneshot::channel();
                (VerifyJob { subs, reply }, rx)
            })
            .unzip();
        check_together(&self.shared, jobs);
        answers.into_iter().map(|mut rx| rx.try_recv().unwrap_or(Err(AppendError::Closed))).collect()
    }

    /// [`Engine::verify`] on the engine's verifier threads, where the batches of concurrent
    /// callers are checked together in one larger Ed25519 batch (see [`Coalescer`]). What is
    /// accepted and refused, and the refusal each batch gets, are the same as
    /// [`Engine::verify`]'s.
    pub async fn verify_coalesced(&self, subs: Vec<ParsedSubmission>) -> Result<Vec<VerifiedSubmission>, AppendError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        match self.coalescer.get_or_init(|| Coalescer::start(&self.shared)) {
            Some(c) => {
                if !c.submit(VerifyJob { subs, reply }) {
                    return Err(AppendError::Closed);
                }
                // A queued job is always answered, unless its check panicked.
                rx.await.map_err(|_| AppendError::Internal("the signature check failed unexpectedly"))?
            }
            // No verifier thread could be started: checked here, on the caller's thread.
            None => self.verify(subs),
        }
    }

    /// Fault injection, for tests: the verifier threads' next check panics, as a bug in it
    /// would (the one fault of the append path that cannot be produced for real).
    #[doc(hidden)]
    pub fn inject_check_panic(&self) {
        self.shared.check_panics.store(true, Ordering::SeqCst);
    }

    /// For tests: until the hold is dropped, the syncer waits before its next WAL sync, as on
    /// a disk that stalls (which a test cannot make happen for real): batches are written but
    /// not yet durable, so their callers wait.
    #[doc(hidden)]
    pub fn hold_syncs(&self) -> SyncHold<'_> {
        self.shared.set_syncs_held(true);
        SyncHold(&self.shared)
    }

    /// Verifies and appends a batch (async: waits for the group commit).
    pub async fn append(&self, subs: Vec<ParsedSubmission>) -> Result<Vec<Receipt>, AppendError> {
        let verified = self.verify(subs)?;
        let c = self.submit(verified)?.await.map_err(|_| AppendError::Closed)??;
        self.receipts(c)
    }

    /// Appends submissions whose signatures [`Engine::verify`] already checked (async).
    pub async fn append_verified(&self, subs: Vec<VerifiedSubmission>) -> Result<Vec<Receipt>, AppendError> {
        let c = self.submit(subs)?.await.map_err(|_| AppendError::Closed)??;
        self.receipts(c)
    }

    /// Blocking form of [`Engine::append`], for threads outside an async runtime.
    pub fn append_blocking(&self, subs: Vec<ParsedSubmission>) -> Result<Vec<Receipt>, AppendError> {
        let verified = self.verify(subs)?;
        self.append_verified_blocking(verified)
    }

    /// Appends submissions whose signatures [`Engine::verify`] already checked.
    pub fn append_verified_blocking(&self, subs: Vec<VerifiedSubmission>) -> Result<Vec<Receipt>, AppendError> {
        let c = self.submit(subs)?.blocking_recv().map_err(|_| AppendError::Closed)??;
        self.receipts(c)
    }

    fn receipts(&self, c: Committed) -> Result<Vec<Receipt>, AppendError> {
        let checkpoint = String::from_utf8_lossy(&c.head.checkpoint).into_owned();
        let seqs: Vec<u64> = c.accepted.iter().map(|a| a.seq).collect();
        let proofs =
            c.head.tree.inclusion_proofs(&seqs, c.head.state.size, &*self.store()).map_err(AppendError::Storage)?;
        c.accepted
            .iter()
            .zip(proofs)
            .map(|(a, inclusion_proof)| {
                Ok(Receipt {
                    seq: a.seq,
                    entry_hash: a.entry_hash.to_hex(),
                    leaf_hash: a.leaf_hash.to_hex(),
                    checkpoint: checkpoint.clone(),
                    inclusion_proof,
                    duplicate: a.duplicate,
                })
            })
            .collect()
    }

    fn submit(
        &self,
        subs: Vec<VerifiedSubmission>,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<Committed, AppendError>>, AppendError> {
        if subs.is_empty() {
            return Err(AppendError::Empty);
        }
        let (reply, rx) = tokio::sync::oneshot::channel();
        let pipeline = match self.pipeline.try_read() {
            Ok(p) => p,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            // A recovery holds the pipeline: refuse at once rather than block the caller while
            // the failure stands; once it is cleared, the new pipeline is a moment away.
            Err(std::sync::TryLockError::WouldBlock) => match self.failure() {
                Some(e) => return Err(AppendError::Storage(stopped(&e))),
                None => self.pipeline.read().unwrap_or_else(std::sync::PoisonError::into_inner),
            },
        };
        let sent = pipeline.tx.as_ref().is_some_and(|tx| tx.send(Request { subs, reply }).is_ok());
        if !sent {
            return Err(match self.failure() {
                Some(e) => AppendError::Storage(stopped(&e)),
                None => AppendError::Closed,
            });
        }
        Ok(rx)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(Some(c)) = self.coalescer.get() {
            c.stop();
        }
        self.pipeline.get_mut().map(|p| p.stop()).unwrap_or_else(|e| e.into_inner().stop());
    }
}

/// What [`Engine::verify`] knows of a submission before its signature is checked.
struct Prechecked<'h> {
    /// The key the signature is checked against and the message it covers (none: the key is
    /// not in the registry yet, left to the sequencer).
    signed: Option<(&'h VerifierKey, Vec<u8>)>,
    /// The openings, checked against the commitments, as stored (JSON).
    openings: Option<Vec<u8>>,
}

/// The checks before the signatures: openings against commitments, keys looked up.
fn precheck<'h>(head: &'h Head, subs: &[ParsedSubmission]) -> Result<Vec<Prechecked<'h>>, AppendError> {
    let mut each = Vec::with_capacity(subs.len());
    for (i, sub) in subs.iter().enumerate() {
        let openings = check_openings(i, &sub.statement, &sub.openings)?;
        let signed = head.registry.get(&sub.statement.key).map(|k| (&k.key, signing_message(&sub.bytes)));
        each.push(Prechecked { signed, openings });
    }
    Ok(each)
}

/// The signatures to check: those whose key is known.
fn signed_items<'a>(
    subs: &'a [ParsedSubmission],
    checked: &'a [Prechecked<'_>],
) -> impl Iterator<Item = (&'a VerifierKey, &'a [u8], &'a [u8; 64])> {
    subs.iter().zip(checked).filter_map(|(s, c)| c.signed.as_ref().map(|(k, m)| (*k, &m[..], &s.signature)))
}

/// Checks one caller's signatures in one batch; when it fails, each on its own, to name the
/// first bad one.
fn verify_alone(
    subs: Vec<ParsedSubmission>,
    checked: Vec<Prechecked<'_>>,
) -> Result<Vec<VerifiedSubmission>, AppendError> {
    if !vigil_core::statement::verify_batch(signed_items(&subs, &checked), rand::thread_rng()) {
        for (i, (s, c)) in subs.iter().zip(&checked).enumerate() {
            if let Some((k, m)) = &c.signed {
                if !vigil_core::statement::verify_message(k, m, &s.signature) {
                    return Err(reject(
                        i,
                        RejectCode::BadSignature,
                        format!("signature by {} does not verify", s.statement.key),
                    ));
                }
            }
        }
    }
    Ok(verified(subs, checked))
}

fn verified(subs: Vec<ParsedSubmission>, checked: Vec<Prechecked<'_>>) -> Vec<VerifiedSubmission> {
    subs.into_iter()
        .zip(checked)
        .map(|(s, c)| VerifiedSubmission::new(s, c.signed.map(|(k, _)| k.key), c.openings))
        .collect()
}

/// Most signatures the [`Coalescer`] checks in one batch (a caller's larger batch is checked
/// alone). Larger batches cost less per signature, but the first caller in one waits for all.
const MAX_COALESCED: usize = 128;

type VerifyReply = tokio::sync::oneshot::Sender<Result<Vec<VerifiedSubmission>, AppendError>>;

/// A caller's batch waiting for its signature check.
struct VerifyJob {
    subs: Vec<ParsedSubmission>,
    reply: VerifyReply,
}

/// Signature checks of concurrent callers, coalesced. One thread per core takes every batch
/// waiting when it becomes free (up to [`MAX_COALESCED`] signatures) and checks all their
/// signatures in one Ed25519 batch, which costs less per signature than each caller's own
/// (BENCHMARKS.md). Nobody waits for others to arrive: alone, a batch is checked at once, as
/// [`Engine::verify`] would. When a coalesced batch fails, each caller's batch is checked
/// again alone, exactly as [`Engine::verify`] does, so one caller's bad signature fails only
/// its own batch (and at worst doubles the work of the batches it was checked with).
struct Coalescer {
    queue: Mutex<(VecDeque<VerifyJob>, bool)>,
    ready: std::sync::Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Coalescer {
    /// The coalescer with its threads; `None` when not one could be started (the process is
    /// out of threads): the caller then checks on its own thread.
    fn start(shared: &Arc<Shared>) -> Option<Arc<Coalescer>> {
        let c = Arc::new(Coalescer {
            queue: Mutex::new((VecDeque::new(), false)),
            ready: std::sync::Condvar::new(),
            threads: Mutex::new(Vec::new()),
        });
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads: Vec<_> = (0..n)
            .filter_map(|_| {
                let (c, shared) = (c.clone(), shared.clone());
                std::thread::Builder::new()
                    .name("vigil-verify".into())
                    .spawn(move || c.run(&shared))
                    .map_err(|e| tracing::error!("a signature verifier thread did not start: {e}"))
                    .ok()
            })
            .collect();
        if threads.is_empty() {
            return None;
        }
        *c.threads.lock().expect("verifier threads lock") = threads;
        Some(c)
    }

    /// Queues a job for the verifier threads; false (the job dropped) after [`Coalescer::stop`].
    fn submit(&self, job: VerifyJob) -> bool {
        let mut q = self.queue.lock().expect("verifier queue lock");
        if q.1 {
            return false;
        }
        q.0.push_back(job);
        self.ready.notify_one();
        true
    }

    /// Checks what is queued, then the threads end.
    fn stop(&self) {
        self.queue.lock().expect("verifier queue lock").1 = true;
        self.ready.notify_all();
        for t in self.threads.lock().expect("verifier threads lock").drain(..) {
            let _ = t.join();
        }
    }

    fn run(&self, shared: &Shared) {
        loop {
            let jobs = {
                let mut q = self.queue.lock().expect("verifier queue lock");
                while q.0.is_empty() && !q.1 {
                    q = self.ready.wait(q).expect("verifier queue lock");
                }
                let Some(first) = q.0.pop_front() else { return };
                let mut n = first.subs.len();
                let mut jobs = vec![first];
                while let Some(next) = q.0.front().filter(|j| n + j.subs.len() <= MAX_COALESCED) {
                    n += next.subs.len();
                    jobs.extend(q.0.pop_front());
                }
                jobs
            };
            // A panic would leave its jobs' callers without an answer (they see `Internal`); the
            // thread goes on with the next jobs rather than die and leave the queue unserved.
            let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_together(shared, jobs)));
            if checked.is_err() {
                tracing::error!("a signature check panicked; its requests were not answered");
            }
        }
    }
}

/// Checks the jobs' signatures in one batch, then each job's alone if that batch fails, and
/// answers each job.
fn check_together(shared: &Shared, jobs: Vec<VerifyJob>) {
    // A load first: no write to the shared flag on every batch.
    if shared.check_panics.load(Ordering::Relaxed) && shared.check_panics.swap(false, Ordering::SeqCst) {
        panic!("injected panic in a signature check (Engine::inject_check_panic)");
    }
    let head = shared.head.read().expect("head lock").clone();
    let mut ready = Vec::with_capacity(jobs.len());
    // A caller that has gone (its request timed out or its connection closed) is not waited on.
    for job in jobs.into_iter().filter(|j| !j.reply.is_closed()) {
        match precheck(&head, &job.subs) {
            Ok(checked) => ready.push((job, checked)),
            Err(e) => {
                let _ = job.reply.send(Err(e));
            }
        }
    }
    let all = ready.len() > 1
        && vigil_core::statement::verify_batch(
            ready.iter().flat_map(|(j, c)| signed_items(&j.subs, c)),
            rand::thread_rng(),
        );
    for (job, checked) in ready {
        let _ = job.reply.send(if all { Ok(verified(job.subs, checked)) } else { verify_alone(job.subs, checked) });
    }
}

/// The refusal of an append while the engine is stopped by a storage failure.
fn stopped(failure: &str) -> String {
    format!("the ledger stopped after a storage failure ({failure}); it accepts appends again once recovered")
}

/// Rebuilds the head from storage and checks that the stored tail matches the last signed
/// checkpoint. Any mismatch refuses to open.
fn recover(store: &Store, log_key: &SignerKey) -> Result<Head, OpenError> {
    let fail = |reason: String| OpenError::Tail { path: store.path().display().to_string(), reason };
    let Some(state) = store.state()? else {
        if store.entry(0)?.is_some() {
            return Err(fail("entries exist but no log state was committed".into()));
        }
        return Ok(Head {
            state: LogState::default(),
            checkpoint: vec![],
            tree: TileTree::new(),
            registry: KeyRegistry::new(),
        });
    };
    let note = store.checkpoint()?.ok_or_else(|| fail("no signed checkpoint is stored".into()))?;
    let signed = checkpoint::verify(&note, &log_key.verifier())
        .map_err(|e| fail(format!("the stored checkpoint does not verify with log key {}: {e}", log_key.key_ref)))?;
    let cp = &signed.checkpoint;
    if cp.size != state.size || cp.root != state.root {
        return Err(fail(format!(
            "stored checkpoint (size {}) does not match the stored log state (size {})",
            cp.size, state.size
        )));
    }
    let tree = TileTree::load(state.size, store).map_err(fail)?;
    let root = tree.root(state.size, store).map_err(fail)?;
    if root != cp.root {
        return Err(fail("the Merkle tiles do not hash to the checkpoint's root".into()));
    }
    if state.size > 0 {
        let last = store.entry(state.size - 1)?.ok_or_else(|| fail(format!("entry {} is missing", state.size - 1)))?;
        if chain_hash(&last) != state.last_hash {
            return Err(fail(format!("entry {} does not match the stored chain head", state.size - 1)));
        }
        let leaf = tree.node(0, state.size - 1, store).map_err(fail)?;
        if leaf_hash(&last) != leaf {
            return Err(fail(format!("entry {} does not match its leaf hash in the Merkle tree", state.size - 1)));
        }
    }
    if store.entry(state.size)?.is_some() {
        return Err(fail(format!("an entry exists at {} beyond the checkpointed size", state.size)));
    }
    // Replay the key entries to rebuild who may append what.
    let mut key_seqs = store.by_kind(EventKind::KeyRegistered.as_str(), None, usize::MAX)?;
    key_seqs.extend(store.by_kind(EventKind::KeyRevoked.as_str(), None, usize::MAX)?);
    key_seqs.sort_unstable();
    let mut registry = KeyRegistry::new();
    for seq in key_seqs {
        let bytes = store.entry(seq)?.ok_or_else(|| fail(format!("indexed key entry {seq} is missing")))?;
        let (_, st) = Entry::decode(&bytes).map_err(|e| fail(format!("entry {seq}: {e}")))?;
        registry.skip_to(seq);
        registry.apply(&st);
    }
    registry.skip_to(state.size);
    Ok(Head { state, checkpoint: note, tree, registry })
}

struct Sequencer {
    shared: Arc<Shared>,
    store: Arc<Store>,
    /// The log position including groups handed to the writer but maybe not yet synced
    /// (`root` is not tracked here: the writer owns the tree).
    state: LogState,
    registry: KeyRegistry,
    config: EngineConfig,
    writer: mpsc::SyncSender<Pending>,
    inflight: VecDeque<Inflight>,
    idem_filter: IdemFilter,
}

/// Every idempotency key the log holds (and some it does not: false positives). Almost every
/// append brings a new key; the filter answers "certainly new" from memory, so the store is
/// asked only for keys the filter has seen (retries) or false positives (about 0.1%).
///
/// A chain of split-block Bloom filters (one cache line per key, `sbbf-rs-safe`) over XXH3
/// hashes, each twice the capacity of the one before, so it grows with the log; rebuilt from
/// the `idempotency` family when the engine opens. 2 bytes per key.
struct IdemFilter {
    filters: Vec<sbbf_rs_safe::Filter>,
    /// Keys the last filter was sized for, and the keys it holds.
    capacity: usize,
    count: usize,
    /// Keys inserted into all the filters.
    keys: usize,
}

impl IdemFilter {
    const BITS_PER_KEY: usize = 16;

    fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1 << 20);
        IdemFilter {
            filters: vec![sbbf_rs_safe::Filter::new(Self::BITS_PER_KEY, capacity)],
            capacity,
            count: 0,
            keys: 0,
        }
    }

    fn may_contain(&self, key: &[u8]) -> bool {
        let h = xxhash_rust::xxh3::xxh3_64(key);
        self.filters.iter().any(|f| f.contains_hash(h))
    }

    fn insert(&mut self, key: &[u8]) {
        if self.count >= self.capacity {
            self.capacity *= 2;
            self.count = 0;
            self.filters.push(sbbf_rs_safe::Filter::new(Self::BITS_PER_KEY, self.capacity));
        }
        self.filters.last_mut().expect("one filter at least").insert_hash(xxhash_rust::xxh3::xxh3_64(key));
        self.count += 1;
        self.keys += 1;
    }
}

/// The second stage of the pipeline. For each group, in order: hash its entries into the
/// tree, sign a checkpoint, write its batch (not synced), and hand it to the [`Syncer`].
/// A failure stops the engine (the on-disk state stays consistent: each batch is atomic).
struct Writer {
    shared: Arc<Shared>,
    store: Arc<Store>,
    tree: TileTree,
    /// The latest signed checkpoint note and the root it signs.
    checkpoint: Vec<u8>,
    state: LogState,
    log_key: SignerKey,
    clock: Arc<dyn Clock>,
    /// The size of the last checkpoint this writer marked durable in a batch (the store's
    /// "Durable mark"): each batch marks the head published since, if newer.
    marked: u64,
}

/// A group written to the store but maybe not synced yet, with the head it makes.
struct Written {
    result: Result<Arc<Head>, String>,
    answers: Vec<(Reply, Result<Vec<Accepted>, AppendError>)>,
    /// Whether the group wrote anything (an empty group needs no sync of its own).
    wrote: bool,
    /// Never read: held only to be freed after the group's callers are answered.
    _spent: Spent,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Pending>, tx: mpsc::SyncSender<Written>) {
        while let Ok(mut p) = rx.recv() {
            let failed = self.shared.failed.lock().expect("failed lock").clone();
            let started = std::time::Instant::now();
            let result = match failed {
                Some(e) => Err(e),
                None => self.write(&mut p),
            };
            if let Some(entries) = &p.entries {
                self.shared.metrics.group_entries.observe(entries.len() as f64);
                self.shared.metrics.write_seconds.observe(started.elapsed().as_secs_f64());
            }
            if let Err(e) = &result {
                self.shared.failed.lock().expect("failed lock").get_or_insert_with(|| e.clone());
            }
            let wrote = p.entries.is_some();
            if tx.send(Written { result, answers: p.answers, wrote, _spent: p.spent }).is_err() {
                break;
            }
        }
    }

    /// Writes one group's batch (unsynced). Returns the head it makes.
    fn write(&mut self, p: &mut Pending) -> Result<Arc<Head>, String> {
        if let Some(entries) = &p.entries {
            let leaves: Vec<Digest> = entries.iter().map(|e| e.leaf).collect();
            let tiles = self.tree.append(&leaves);
            let size = self.tree.size();
            // The root needs only the right edge, which is in memory.
            let root = self.tree.root(size, &NoTiles)?;
            self.state = LogState { root, ..p.state };
            let cp = Checkpoint::new(self.log_key.name(), size, root);
            self.checkpoint =
                checkpoint::sign(&cp, &self.log_key, self.clock.now_ms() / 1000).map_err(|e| e.to_string())?;
            // The head published last was synced before it was published, so before this write.
            let durable = {
                let head = self.shared.head.read().expect("head lock");
                (head.state.size > self.marked).then(|| {
                    self.marked = head.state.size;
                    head.checkpoint.clone()
                })
            };
            let batch = AppendBatch {
                entries: entries.clone(),
                tiles,
                state: self.state,
                checkpoint: self.checkpoint.clone(),
                durable,
            };
            self.store.write(&batch).map_err(|e| e.to_string())?;
            self.shared.written.store(size, Ordering::SeqCst);
        }
        Ok(Arc::new(Head {
            state: self.state,
            checkpoint: self.checkpoint.clone(),
            tree: self.tree.clone(),
            registry: p.registry.clone(),
        }))
    }
}

/// The third stage: one WAL sync covers every group written and waiting; then the newest
/// head is published and the callers are answered. It runs beside the [`Writer`], which
/// writes the next groups while this one waits for the disk. A failed sync fails every
/// group not yet answered and stops the engine. A head it published is marked durable for
/// readers of the data dir by the writer's next batch or, when none follows within
/// [`MARK_WHEN_IDLE`], by the syncer itself ([`Store::mark_durable`]).
struct Syncer {
    shared: Arc<Shared>,
    store: Arc<Store>,
}

/// How long the syncer waits for another group before it marks the head it published
/// durable by itself (a group written meanwhile marks it in its own batch, at no cost).
const MARK_WHEN_IDLE: std::time::Duration = std::time::Duration::from_millis(2);

impl Syncer {
    /// Marks `head` durable on its own: the writer had no group to mark it in.
    fn mark(&self, head: Option<Arc<Head>>) {
        let Some(head) = head else { return };
        if let Err(e) = self.store.mark_durable(&head.checkpoint) {
            self.shared.failed.lock().expect("failed lock").get_or_insert_with(|| e.to_string());
        }
    }

    fn run(self, rx: mpsc::Receiver<Written>) {
        // The head published last, until marked here (the writer may have marked it too).
        let mut unmarked: Option<Arc<Head>> = None;
        loop {
            let first = match &unmarked {
                None => rx.recv().ok(),
                Some(_) => match rx.recv_timeout(MARK_WHEN_IDLE) {
                    Ok(w) => Some(w),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        self.mark(unmarked.take());
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => None,
                },
            };
            let Some(first) = first else { break };
            let mut done = vec![first];
            while let Ok(w) = rx.try_recv() {
                done.push(w);
            }
            // After any failure (a write here, or an earlier sync) nothing more is answered Ok.
            let failed = self.shared.failed.lock().expect("failed lock").clone();
            let wrote = done.iter().any(|w| w.wrote);
            let synced = match failed {
                Some(e) => Err(e),
                None if wrote => {
                    let (lock, changed) = &self.shared.syncs_held;
                    drop(changed.wait_while(lock.lock().expect("syncs_held lock"), |held| *held));
                    let started = std::time::Instant::now();
                    let r = self.store.sync().map_err(|e| e.to_string());
                    self.shared.metrics.fsync_seconds.observe(started.elapsed().as_secs_f64());
                    r
                }
                None => Ok(()),
            };
            if let Err(e) = &synced {
                self.shared.failed.lock().expect("failed lock").get_or_insert_with(|| e.clone());
            }
            // The newest head every group before it (inclusive) wrote successfully.
            let head = match &synced {
                Ok(()) => done.iter().map_while(|w| w.result.as_ref().ok()).last().cloned(),
                Err(_) => None,
            };
            if let Some(h) = &head {
                let before = self.shared.head.read().expect("head lock").state.size;
                *self.shared.head.write().expect("head lock") = h.clone();
                self.shared.metrics.appended.inc_by(h.state.size.saturating_sub(before));
                self.shared.metrics.checkpoint_size.set(h.state.size as i64);
                if wrote {
                    unmarked = Some(h.clone());
                }
            }
            // Each group's `spent` is freed after its callers are answered.
            for w in done {
                let result = match (&synced, &w.result, &head) {
                    (Err(e), _, _) | (_, Err(e), _) => Err(e.clone()),
                    (Ok(()), Ok(_), Some(head)) => Ok(head.clone()),
                    (Ok(()), Ok(_), None) => Err("no durable head".to_string()),
                };
                for (reply, answer) in w.answers {
                    let _ = reply.send(match &result {
                        Ok(head) => answer.map(|accepted| Committed { head: head.clone(), accepted }),
                        Err(e) => Err(AppendError::Storage(e.clone())),
                    });
                }
            }
        }
        // Stopping: the last head marked, so a stopped server's readers keep all of it.
        self.mark(unmarked.take());
    }
}

impl Sequencer {
    /// Groups whole requests, at most `max_group` events unless one request alone is larger.
    /// A request that would overflow the group waits for the next one.
    fn run(mut self, rx: mpsc::Receiver<Request>) {
        let mut carried: Option<Request> = None;
        loop {
            let first = match carried.take() {
                Some(r) => r,
                None => match rx.recv() {
                    Ok(r) => r,
                    Err(_) => return,
                },
            };
            let mut n = first.subs.len();
            let mut group = vec![first];
            while n < self.config.max_group {
                match rx.try_recv() {
                    Ok(r) if n + r.subs.len() > self.config.max_group => {
                        carried = Some(r);
                        break;
                    }
                    Ok(r) => {
                        n += r.subs.len();
                        group.push(r);
                    }
                    Err(_) => break,
                }
            }
            self.commit_group(group);
        }
    }

    fn commit_group(&mut self, group: Vec<Request>) {
        if let Some(e) = self.shared.failed.lock().expect("failed lock").clone() {
            for req in group {
                let _ = req.reply.send(Err(AppendError::Storage(stopped(&e))));
            }
            return;
        }
        let written = self.shared.written.load(Ordering::SeqCst);
        let mut spent = Spent::default();
        while self.inflight.front().is_some_and(|g| g.end_size <= written) {
            spent.inflight.extend(self.inflight.pop_front());
        }
        let now_ms = self.config.clock.now_ms();
        let n: usize = group.iter().map(|r| r.subs.len()).sum();
        let mut new_entries: Vec<NewEntry> = Vec::with_capacity(n);
        let mut in_group: FxHashMap<Vec<u8>, u64> = FxHashMap::with_capacity_and_hasher(n, Default::default());
        let mut answers: Vec<(Reply, Result<Vec<Accepted>, AppendError>)> = Vec::new();
        for mut req in group {
            self.shared.metrics.batch_events.observe(req.subs.len() as f64);
            let mark = (new_entries.len(), self.state, self.registry.clone());
            let accepted = self.accept_batch(&mut req.subs, now_ms, &mut new_entries, &mut in_group);
            spent.submissions.push(req.subs);
            match accepted {
                Ok(acc) => {
                    // Only an accepted batch's keys: a refused one's would fill the filter at
                    // every retry (and grow it), though none of them is in the log.
                    for e in &new_entries[mark.0..] {
                        self.idem_filter.insert(&e.idem_key);
                    }
                    self.shared.metrics.idempotency_filter_keys.set(self.idem_filter.keys as i64);
                    self.shared.metrics.duplicates.inc_by(acc.iter().filter(|a| a.duplicate).count() as u64);
                    answers.push((req.reply, Ok(acc)))
                }
                Err(e) => {
                    self.shared.metrics.rejected_batches.inc();
                    // Roll back this caller's batch only.
                    for e in new_entries.drain(mark.0..) {
                        in_group.remove(&e.idem_key);
                    }
                    self.state = mark.1;
                    self.registry = mark.2;
                    answers.push((req.reply, Err(e)));
                }
            }
        }
        // Even a group that adds nothing (all rejected or duplicates) goes through the writer and the syncer,
        // so that its answers wait for every earlier group to be durable.
        let entries = if new_entries.is_empty() {
            None
        } else {
            let entries = Arc::new(new_entries);
            self.inflight.push_back(Inflight { end_size: self.state.size, keys: in_group, entries: entries.clone() });
            Some(entries)
        };
        // The syncer answers; if it has stopped, the callers see their channel close.
        let _ =
            self.writer.send(Pending { entries, state: self.state, registry: self.registry.clone(), answers, spent });
    }

    /// Whether `v` is a retry of entry `seq` (`logged`: its bytes; `in_memory`: the entry if not
    /// yet written). The same event again is a retry, even signed anew (another
    /// `created_at_ms`, fresh salts, another key of the service): answered with the original
    /// receipt. Anything but the very same bytes comes from a key allowed this kind now, or is
    /// refused as such: a revoked key (or one unknown, or not allowed the kind) learns nothing
    /// of what the log holds under that idempotency key, not even by guessing its private
    /// values. Its signature was checked by `Engine::verify` (`v.key`), or, against a key not
    /// known then (registered in a group not yet durable), is checked here, a bad one refused
    /// as such; its event, private values opened, must equal the logged one's.
    fn is_retry(
        &self,
        i: usize,
        v: &VerifiedSubmission,
        seq: u64,
        logged: Option<&[u8]>,
        in_memory: Option<&NewEntry>,
    ) -> Result<bool, AppendError> {
        if logged.and_then(|b| b.get(HEADER_SIZE..)) == Some(&v.bytes[..]) {
            return Ok(true);
        }
        let k =
            self.registry.authorize_kind(&v.key_ref, v.kind).map_err(|e| reject(i, auth_code(&e), e.to_string()))?;
        if v.key != Some(k.key) && !verify_statement(k, &v.bytes, &v.signature) {
            return Err(reject(i, RejectCode::BadSignature, format!("signature by {} does not verify", v.key_ref)));
        }
        let Some(b) = logged else { return Ok(false) };
        let stored;
        let openings = match in_memory {
            Some(e) => e.openings.as_deref(),
            None => {
                stored = self.store.openings(seq).map_err(|e| AppendError::Storage(e.to_string()))?;
                stored.as_deref()
            }
        };
        let old = b.get(HEADER_SIZE..).and_then(|st| opened_event(st, openings));
        Ok(old.is_some() && old == opened_event(&v.bytes, v.openings.as_deref()))
    }

    /// Checks one caller's batch against the state it would land on and stages it.
    fn accept_batch(
        &mut self,
        subs: &mut [VerifiedSubmission],
        now_ms: u64,
        staged: &mut Vec<NewEntry>,
        in_group: &mut FxHashMap<Vec<u8>, u64>,
    ) -> Result<Vec<Accepted>, AppendError> {
        let mut out = Vec::with_capacity(subs.len());
        for (i, v) in subs.iter_mut().enumerate() {
            let service = &v.key_ref.name;
            let mut idem = Vec::with_capacity(service.len() + v.idempotency_key.len() + 1);
            idem_key_into(&mut idem, service, &v.idempotency_key);
            let existing = match in_group.get(&idem) {
                Some(&seq) => Some(seq),
                None => match self.inflight.iter().rev().find_map(|g| g.keys.get(&idem)) {
                    Some(&seq) => Some(seq),
                    // Every key in the store is in the filter: a key it has not seen is new.
                    None if !self.idem_filter.may_contain(&idem) => None,
                    None => self.store.idempotency_raw(&idem).map_err(|e| AppendError::Storage(e.to_string()))?,
                },
            };
            if let Some(seq) = existing {
                let stored;
                let in_memory =
                    staged.iter().chain(self.inflight.iter().flat_map(|g| g.entries.iter())).find(|e| e.seq == seq);
                let bytes: Option<&[u8]> = match in_memory {
                    Some(e) => Some(&e.bytes),
                    None => {
                        stored = self.store.entry(seq).map_err(|e| AppendError::Storage(e.to_string()))?;
                        stored.as_deref()
                    }
                };
                let same = self.is_retry(i, v, seq, bytes, in_memory)?;
                let Some(bytes) = bytes.filter(|_| same) else {
                    let pending = if in_memory.is_some() { ", not yet committed" } else { "" };
                    return Err(reject(
                        i,
                        RejectCode::IdempotencyConflict,
                        format!(
                            "idempotency key {:?} of {service} was already used for a different event (entry {seq}{pending})",
                            v.idempotency_key
                        ),
                    ));
                };
                out.push(Accepted { seq, duplicate: true, entry_hash: chain_hash(bytes), leaf_hash: leaf_hash(bytes) });
                continue;
            }
            if let Some(why) = v.only_as_a_retry.take() {
                return Err(reject(i, RejectCode::OutsideReplayWindow, why));
            }
            let seq = self.state.size;
            let len = HEADER_SIZE + v.bytes.len();
            if len > MAX_ENTRY_SIZE {
                return Err(reject(
                    i,
                    RejectCode::TooLarge,
                    format!("entry would be {len} bytes; the limit is {MAX_ENTRY_SIZE}"),
                ));
            }
            // Authorization at this exact position; the signature was checked against the
            // same key by `Engine::verify`, else it is checked here.
            let authorized = match &v.statement {
                Some(st) => self.registry.authorize(st),
                None => self.registry.authorize_kind(&v.key_ref, v.kind).map(Cow::Borrowed),
            };
            let key = authorized.map_err(|e| reject(i, auth_code(&e), e.to_string()))?;
            // The key changed since `Engine::verify`, or was not known then (registered earlier
            // in this group, say): the signature is checked here, against the key authorized.
            if v.key != Some(key.key) && !verify_statement(&key, &v.bytes, &v.signature) {
                return Err(reject(i, RejectCode::BadSignature, format!("signature by {} does not verify", v.key_ref)));
            }
            // The statement is kept where these can refuse (key events, events with refs).
            if let Some(st) = &v.statement {
                self.registry.check_effect(st).map_err(|e| reject(i, auth_code(&e), e.to_string()))?;
                st.event.check_refs(seq).map_err(|e| reject(i, RejectCode::InvalidEvent, e))?;
            }
            let openings = v.openings.take();
            let time_ms = now_ms.max(self.state.last_time_ms);
            let bytes = Entry::encode_parts(seq, time_ms, &self.state.last_hash, &v.signature, &v.bytes)
                .map_err(|e| reject(i, RejectCode::TooLarge, e.to_string()))?;
            // Only key events change the registry, and their statement is always kept.
            match &v.statement {
                Some(st) => self.registry.apply(st),
                None => self.registry.skip_to(seq + 1),
            }
            let entry_hash = chain_hash(&bytes);
            // The leaf hash is taken here rather than by the writer, which is the pipeline's
            // busiest stage: the bytes are in cache, and the stages stay balanced.
            let leaf = leaf_hash(&bytes);
            out.push(Accepted { seq, duplicate: false, entry_hash, leaf_hash: leaf });
            self.state.size += 1;
            self.state.last_hash = entry_hash;
            self.state.last_time_ms = time_ms;
            in_group.insert(idem.clone(), seq);
            staged.push(NewEntry {
                seq,
                bytes,
                leaf,
                idem_key: idem,
                kind: v.kind.as_str(),
                incident: v.incident.take(),
                openings,
            });
        }
        Ok(out)
    }
}

/// A statement's event with its private values opened (from its openings as stored, JSON):
/// one event signed twice, at other times with other salts, opens alike. `None` when the
/// statement or its openings do not read.
fn opened_event(statement: &[u8], openings: Option<&[u8]>) -> Option<vigil_core::event::Event> {
    let mut event = Statement::from_bytes(statement).ok()?.event;
    let openings: Vec<vigil_core::event::Opening> = match openings {
        Some(json) => serde_json::from_slice(json).ok()?,
        None => Vec::new(),
    };
    for (field, p) in event.private_fields_mut() {
        if matches!(p, Private::Committed(_)) {
            let o = openings.iter().find(|o| o.field == field)?;
            *p = Private::Clear(o.value.clone());
        }
    }
    Some(event)
}

/// Every commitment in the statement must come with exactly one opening that opens it,
/// so auditors can later check it. Returns the openings as stored (JSON).
fn check_openings(
    i: usize,
    st: &Statement,
    openings: &[vigil_core::event::Opening],
) -> Result<Option<Vec<u8>>, AppendError> {
    let fields = st.event.private_fields();
    if fields.len() != openings.len() {
        return Err(reject(
            i,
            RejectCode::BadOpenings,
            format!("the event has {} private values but {} openings were sent", fields.len(), openings.len()),
        ));
    }
    for (field, p) in fields {
        let Private::Committed(c) = p else {
            return Err(reject(i, RejectCode::InvalidEvent, format!("{field}: private value in clear")));
        };
        let o = openings
            .iter()
            .find(|o| o.field == field)
            .ok_or_else(|| reject(i, RejectCode::BadOpenings, format!("no opening for {field}")))?;
        if !o.opens(c) {
            return Err(reject(
                i,
                RejectCode::BadOpenings,
                format!("the opening for {field} does not open its commitment"),
            ));
        }
    }
    if openings.is_empty() {
        return Ok(None);
    }
    serde_json::to_vec(openings).map(Some).map_err(|e| reject(i, RejectCode::BadOpenings, e.to_string()))
}
