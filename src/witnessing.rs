//! The log's side of witnessing: send each new checkpoint, with a consistency proof from the
//! size each witness last cosigned, to the configured witnesses (C2SP `tlog-witness`), collect
//! their cosignatures, and publish the newest checkpoint that meets the policy (k of n).
//!
//! **Architecture Invariant:** witnessing never blocks appends. It runs on its own task and
//! reads only the engine's published head; a slow or dead witness delays only the next
//! witnessed checkpoint. The public API serves [`Witnessing::published`]: the newest checkpoint
//! with a quorum of cosignatures (or, before the first one, the log's latest checkpoint
//! without them, which a client with a policy refuses).

use crate::engine::Engine;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use vigil_core::checkpoint::CosignatureVerifier;
use vigil_core::witness::{accept_cosignatures, AddCheckpoint, Policy};

pub use vigil_core::config::WitnessConfig;

/// A witness the log sends checkpoints to.
#[derive(Debug, Clone)]
pub struct WitnessEndpoint {
    pub url: String,
    pub key: CosignatureVerifier,
}

/// How long one request to a witness may take.
pub const WITNESS_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between rounds when nothing new is to be witnessed.
const IDLE: Duration = Duration::from_millis(100);
/// Pause before retrying a checkpoint that did not reach the quorum.
const RETRY: Duration = Duration::from_secs(1);
/// The longest wait between two rounds while the quorum is not reached: the wait doubles from
/// [`RETRY`] with each round that fails, and starts over once a round succeeds.
const RETRY_MAX: Duration = Duration::from_secs(8);
/// How often, by default, a checkpoint that has not changed is sent to the witnesses again
/// (setting `witness_refresh_ms`): they cosign it anew, dated now (`vigil witness` does a
/// minute or more after its last cosignature), so a reader can tell a quiet log's current
/// view from one held back.
pub const REFRESH: Duration = Duration::from_millis(vigil_core::config::WITNESS_REFRESH_MS);
/// The same failure of the same witness is logged again only after this long.
const REPEAT_WARNING: Duration = Duration::from_secs(60);

/// Where `vigil serve` keeps the newest witnessed checkpoint: a file in the data dir (RocksDB
/// leaves files it did not make alone), so it goes with the log it is of.
pub fn kept_path(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("witnessed-checkpoint")
}

/// Removes the kept checkpoint at `path` for good (a failure is logged: it is a cache).
pub fn remove_kept(path: &std::path::Path) {
    if let Err(e) = crate::files::remove_durably(path) {
        tracing::warn!("{}: {e}", path.display());
    }
}

/// A checkpoint note followed by cosignature lines.
fn with_lines(note: &[u8], lines: &[Vec<u8>]) -> Vec<u8> {
    let mut full = note.to_vec();
    full.extend(lines.iter().flatten());
    full
}

/// The checkpoint the public API serves.
#[derive(Debug, Clone)]
pub struct Published {
    pub size: u64,
    /// The log-signed note with the witnesses' cosignature lines.
    pub note: Vec<u8>,
    pub cosignatures: usize,
    /// The witnessing round that gathered them (0: kept from an earlier run, or none): at one
    /// size, a later round's cosignatures are the fresher.
    pub round: u64,
}

/// Witnessing state shared with the public API.
pub struct Witnessing {
    witnesses: Vec<WitnessEndpoint>,
    policy: Policy,
    published: RwLock<Option<Arc<Published>>>,
    agent: ureq::Agent,
    /// Where the newest witnessed checkpoint is kept across restarts (see [`Witnessing::start`]).
    kept: std::sync::OnceLock<std::path::PathBuf>,
    /// How often an unchanged checkpoint is sent again ([`REFRESH`] by default).
    refresh: Duration,
}

/// What one witness answered in a round.
#[derive(Debug)]
enum Outcome {
    /// Its cosignature lines; it has now cosigned the round's size.
    Cosigned(Vec<u8>),
    /// It refused or could not be reached; `known` is its latest size if it told us.
    Failed { why: String, known: Option<u64> },
}

impl Witnessing {
    pub fn new(witnesses: Vec<WitnessEndpoint>, quorum: usize) -> Result<Witnessing, vigil_core::witness::PolicyError> {
        let policy = Policy::new(witnesses.iter().map(|w| w.key.clone()).collect(), quorum)?;
        if policy.witnesses().len() != witnesses.len() {
            return Err(vigil_core::witness::PolicyError::ListedTwice);
        }
        let agent = crate::client::agent(WITNESS_TIMEOUT);
        Ok(Witnessing {
            witnesses,
            policy,
            published: RwLock::new(None),
            agent,
            kept: Default::default(),
            refresh: REFRESH,
        })
    }

    /// The same, an unchanged checkpoint sent to the witnesses again every `refresh`.
    pub fn with_refresh(mut self, refresh: Duration) -> Witnessing {
        self.refresh = refresh;
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The checkpoint to serve: the newest witnessed one; before any, the log's checkpoint of
    /// the latest round (without cosignatures). `None` only before [`Witnessing::start`].
    pub fn published(&self) -> Option<Arc<Published>> {
        self.published.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Publishes, before the public API answers, the newest witnessed checkpoint kept in `kept`
    /// by an earlier run (if it still verifies and is of this log's tree), else the log's
    /// current checkpoint (not yet witnessed), so what it serves never goes back; and keeps
    /// each newly witnessed one there. Without the kept one, a restart served an unwitnessed
    /// checkpoint, refused by every client with a policy, until a round met the quorum (never,
    /// with the witnesses down).
    pub fn start(&self, engine: &Engine, log_key: &vigil_core::keys::VerifierKey, kept: std::path::PathBuf) {
        match std::fs::read(&kept) {
            Ok(note) => match self.still_witnessed(engine, log_key, &note) {
                Ok(Ok((size, cosignatures))) => self.offer(Published { size, note, cosignatures, round: 0 }),
                Ok(Err(why)) => {
                    // Removed: kept, it could come back later (the policy changed back) older
                    // than checkpoints served meanwhile.
                    tracing::warn!(
                        "{}: the witnessed checkpoint kept is not served, and removed: {why}",
                        kept.display()
                    );
                    remove_kept(&kept);
                }
                // The store could not be read: the file is not at fault, and stays.
                Err(e) => tracing::warn!("{}: not served this time: {e}", kept.display()),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("{}: {e}", kept.display()),
        }
        let _ = self.kept.set(kept);
        let head = engine.head();
        self.publish_unwitnessed(head.state.size, &head.checkpoint, 0);
    }

    /// A kept note: signed by the log, cosigned as the policy asks, and of this log's tree:
    /// its size and cosignatures, or why it is not (inner); the outer error is the store's.
    #[allow(clippy::type_complexity)]
    fn still_witnessed(
        &self,
        engine: &Engine,
        log_key: &vigil_core::keys::VerifierKey,
        note: &[u8],
    ) -> Result<Result<(u64, usize), String>, String> {
        let w = match vigil_core::witness::verify_witnessed(note, log_key, &self.policy) {
            Ok(w) => w,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let cp = &w.signed.checkpoint;
        let head = engine.head();
        if cp.size > head.state.size {
            return Ok(Err(format!("it is of {} entries, the log has {}", cp.size, head.state.size)));
        }
        if head.tree.root(cp.size, &*engine.store())? != cp.root {
            return Ok(Err(format!("its root is not the log's at size {}", cp.size)));
        }
        Ok(Ok((cp.size, w.cosigned.len())))
    }

    /// Offers the log's checkpoint of `size`, not witnessed yet ([`Witnessing::offer`]).
    fn publish_unwitnessed(&self, size: u64, note: &[u8], round: u64) {
        self.offer(Published { size, note: note.to_vec(), cosignatures: 0, round });
    }

    /// Replaces the published checkpoint by a better one only: witnessed before unwitnessed,
    /// then larger, then cosigned in a later round (fresher), then with more cosignatures. So
    /// it never moves backwards.
    fn offer(&self, new: Published) {
        let rank = |p: &Published| (p.cosignatures >= self.policy.quorum(), p.size, p.round, p.cosignatures);
        let mut slot = self.published.write().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_none_or(|p| rank(p) < rank(&new)) {
            *slot = Some(Arc::new(new));
        }
    }

    /// Keeps a witnessed checkpoint for the next start, before it is published: a crash right
    /// after publishing must not leave an older one kept, which a restart would serve (written
    /// aside, synced, renamed, the folder synced). If it cannot be kept, the older one is
    /// removed: no kept checkpoint is better than an older one. Blocking.
    fn keep(&self, note: &[u8]) {
        let Some(path) = self.kept.get() else { return };
        if let Err(e) = crate::files::write_durably(path, note) {
            tracing::warn!("{}: {e}; the checkpoint kept before is removed", path.display());
            remove_kept(path);
        }
    }

    /// Sends `note` (the log's checkpoint of `size`) to witness `i`, whose latest cosigned size
    /// we believe is `known` (unknown: try 0 and learn it from the 409). Blocking.
    fn submit(&self, i: usize, engine: &Engine, note: &[u8], size: u64, known: Option<u64>) -> Outcome {
        let w = &self.witnesses[i];
        let url = format!("{}/add-checkpoint", w.url.trim_end_matches('/'));
        let mut old = known.unwrap_or(0);
        for _attempt in 0..2 {
            if old > size {
                return Outcome::Failed {
                    why: format!("the witness has cosigned size {old}, beyond this checkpoint ({size})"),
                    known: Some(old),
                };
            }
            let proof = if old == 0 || old == size {
                vec![]
            } else {
                match engine.head().tree.consistency_proof(old, size, &*engine.store()) {
                    Ok(p) => p.hashes,
                    Err(e) => return Outcome::Failed { why: format!("consistency proof {old}→{size}: {e}"), known },
                }
            };
            let body = AddCheckpoint { old_size: old, proof, checkpoint: note.to_vec() }.to_bytes();
            let mut res = match self.agent.post(&url).header("content-type", "text/plain").send(&body[..]) {
                Ok(r) => r,
                Err(e) => return Outcome::Failed { why: format!("{url}: {e}"), known },
            };
            let status = res.status().as_u16();
            let text = match res.body_mut().with_config().limit(64 * 1024).read_to_vec() {
                Ok(t) => t,
                Err(e) => return Outcome::Failed { why: format!("{url}: {e}"), known },
            };
            match status {
                200 => {
                    return match accept_cosignatures(note, &text, &w.key) {
                        Ok(lines) => Outcome::Cosigned(lines),
                        Err(e) => Outcome::Failed { why: format!("{url}: its answer: {e}"), known },
                    }
                }
                409 => {
                    let theirs = std::str::from_utf8(&text).ok().and_then(|t| t.trim_end().parse::<u64>().ok());
                    match theirs {
                        Some(n) if n != old => old = n,
                        Some(n) => {
                            return Outcome::Failed {
                                why: format!("409: the witness cosigned a different tree of size {n}"),
                                known: Some(n),
                            }
                        }
                        None => return Outcome::Failed { why: format!("409 without a size: {text:?}"), known },
                    }
                }
                s => {
                    let msg = String::from_utf8_lossy(&text).trim().chars().take(300).collect::<String>();
                    return Outcome::Failed { why: format!("{url}: HTTP {s}: {msg}"), known };
                }
            }
        }
        Outcome::Failed { why: format!("{url}: its size kept changing"), known: Some(old) }
    }

    /// Runs until `stop` turns true: one round per new checkpoint, and one for an unchanged
    /// checkpoint every `refresh`, every witness asked in parallel; the checkpoint is published
    /// as soon as the quorum has cosigned, and again with each later cosignature of the round.
    pub async fn run(self: Arc<Self>, engine: Arc<Engine>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let n = self.witnesses.len();
        let mut known: Vec<Option<u64>> = vec![None; n];
        let mut done: Vec<u8> = Vec::new();
        // When `done` was witnessed last, and the rounds so far.
        let (mut done_at, mut round) = (std::time::Instant::now(), 0u64);
        let mut retry = RETRY;
        // Per witness: the last failure logged and when (a witness that is down is said once a
        // minute, not every round).
        let mut warned: Vec<Option<(String, std::time::Instant)>> = vec![None; n];
        while !*stop.borrow() {
            let head = engine.head();
            if head.checkpoint.is_empty() || (head.checkpoint == done && done_at.elapsed() < self.refresh) {
                tokio::select! { _ = tokio::time::sleep(IDLE) => {}, _ = stop.changed() => {} }
                continue;
            }
            let (note, size) = (Arc::new(head.checkpoint.clone()), head.state.size);
            drop(head);
            round += 1;
            // Until a checkpoint is witnessed, the public API follows the log unwitnessed.
            self.publish_unwitnessed(size, &note, round);
            let mut set = tokio::task::JoinSet::new();
            for (i, k) in known.iter().enumerate() {
                let (me, engine, note, k) = (self.clone(), engine.clone(), note.clone(), *k);
                set.spawn_blocking(move || (i, me.submit(i, &engine, &note, size, k)));
            }
            let mut lines: Vec<Vec<u8>> = Vec::new();
            while let Some(r) = set.join_next().await {
                let Ok((i, outcome)) = r else { continue };
                match outcome {
                    Outcome::Cosigned(l) => {
                        known[i] = Some(size);
                        if warned[i].take().is_some() {
                            tracing::info!(witness = %self.witnesses[i].key.name, "checkpoint {size} cosigned");
                        }
                        lines.push(l);
                        if lines.len() >= self.policy.quorum() {
                            let full = with_lines(&note, &lines);
                            // Kept once per round, when the quorum is first met, before it is served.
                            if lines.len() == self.policy.quorum() {
                                let (me, kept) = (self.clone(), full.clone());
                                let _ = tokio::task::spawn_blocking(move || me.keep(&kept)).await;
                            }
                            self.offer(Published { size, note: full, cosignatures: lines.len(), round });
                        }
                    }
                    Outcome::Failed { why, known: k } => {
                        if k.is_some() {
                            known[i] = k;
                        }
                        // The size changes with every round; the reason is what repeats.
                        let again =
                            warned[i].as_ref().is_some_and(|(w, at)| *w == why && at.elapsed() < REPEAT_WARNING);
                        if !again {
                            tracing::warn!(witness = %self.witnesses[i].key.name, "checkpoint {size} not cosigned: {why}");
                            warned[i] = Some((why, std::time::Instant::now()));
                        }
                    }
                }
            }
            if lines.len() >= self.policy.quorum() {
                done = note.to_vec();
                done_at = std::time::Instant::now();
                retry = RETRY;
            } else if *note == done {
                // A refresh that missed the quorum: the witnessed one stays served, and the
                // next try is a refresh period away, not a retry's.
                done_at = std::time::Instant::now();
            } else {
                if retry == RETRY {
                    tracing::warn!(
                        "checkpoint {size}: {} of {} cosignatures; retrying every {}–{} s",
                        lines.len(),
                        self.policy.quorum(),
                        RETRY.as_secs(),
                        RETRY_MAX.as_secs()
                    );
                }
                tokio::select! { _ = tokio::time::sleep(retry) => {}, _ = stop.changed() => {} }
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}
