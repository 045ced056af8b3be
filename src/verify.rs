//! Full verification against the pinned log key: every entry through the core's
//! [`LogVerifier`], then the root against the signed checkpoint. Sources: a data dir opened
//! read-only ([`verify_data_dir`]), or a public server, read as a stock tlog-tiles client
//! reads it — `/checkpoint` and the entry bundles, nothing else ([`verify_url`]).

use crate::store::Store;
use std::path::Path;
use vigil_core::checkpoint;
use vigil_core::keys::VerifierKey;
use vigil_core::merkle::TilePath;
use vigil_core::verifier::{LogVerifier, SavedVerifier};
use vigil_core::witness::{verify_witnessed, Cosigned, Policy};

/// Why a verification did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyFailure {
    /// The log misbehaves: exit code 1.
    #[error("{0}")]
    Failed(String),
    /// Verification could not run (I/O, usage): exit code 2.
    #[error("{0}")]
    CouldNotRun(String),
}

impl VerifyFailure {
    /// The process's exit code for it: 1 when the log misbehaves, 2 when the run could not say.
    pub fn exit_code(&self) -> u8 {
        match self {
            VerifyFailure::Failed(_) => 1,
            VerifyFailure::CouldNotRun(_) => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub origin: String,
    pub size: u64,
    pub root: String,
    pub checkpoint_time: Option<u64>,
    /// The witnesses of the policy that cosigned the checkpoint (`--witness`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub witnessed_by: Vec<Cosigned>,
}

impl Report {
    pub fn new(
        cp: &vigil_core::checkpoint::Checkpoint,
        checkpoint_time: Option<u64>,
        witnessed_by: Vec<Cosigned>,
    ) -> Report {
        Report { origin: cp.origin.clone(), size: cp.size, root: hex::encode(cp.root.0), checkpoint_time, witnessed_by }
    }
}

/// The core's [`LogVerifier`] with its signature checks spread over every core: entries are
/// decoded and checked in order on the calling thread, while the signatures of earlier entries
/// are checked by worker threads, a batch at a time. Errors come out as the plain verifier's
/// would: the lowest failing sequence number first.
pub struct Checker {
    v: LogVerifier,
    pending: Vec<vigil_core::verifier::PendingSignature>,
    /// Signature checks in flight, a generation (one dispatch) per item, oldest first.
    running: std::collections::VecDeque<Vec<std::thread::JoinHandle<Option<vigil_core::verifier::VerifyError>>>>,
    threads: usize,
}

impl Checker {
    const BATCH: usize = 2048;

    pub fn new(v: LogVerifier) -> Checker {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Checker { v, pending: Vec::new(), running: Default::default(), threads }
    }

    pub fn size(&self) -> u64 {
        self.v.size()
    }

    pub fn push(
        &mut self,
        bytes: &[u8],
    ) -> Result<(vigil_core::entry::Entry, vigil_core::statement::Statement), vigil_core::verifier::VerifyError> {
        self.accept(vigil_core::verifier::Decoded::new(bytes))
    }

    /// [`Checker::push`] for many entries in log order: they are decoded and hashed in
    /// parallel first (that needs nothing from earlier entries), then checked in order; each
    /// verified entry goes to `on_entry`. Stops at the first error, as `push` does.
    pub fn push_all(
        &mut self,
        entries: &[&[u8]],
        on_entry: &mut dyn FnMut(&vigil_core::entry::Entry, &vigil_core::statement::Statement),
    ) -> Result<(), vigil_core::verifier::VerifyError> {
        use rayon::prelude::*;
        let decoded: Vec<_> = entries.par_iter().map(|b| vigil_core::verifier::Decoded::new(b)).collect();
        for d in decoded {
            let (e, st) = self.accept(d)?;
            on_entry(&e, &st);
        }
        Ok(())
    }

    /// The in-order rules for one decoded entry; its signature joins the next batch.
    fn accept(
        &mut self,
        decoded: Result<vigil_core::verifier::Decoded, String>,
    ) -> Result<(vigil_core::entry::Entry, vigil_core::statement::Statement), vigil_core::verifier::VerifyError> {
        match self.v.push_decoded(decoded) {
            Ok((e, st, sig)) => {
                self.pending.push(sig);
                if self.pending.len() >= Self::BATCH {
                    // Two generations may be in flight, so the in-order thread rarely waits.
                    self.join_until(1)?;
                    self.dispatch();
                }
                Ok((e, st))
            }
            Err(err) => {
                // Signatures of earlier entries come first.
                self.finish()?;
                Err(err)
            }
        }
    }

    fn dispatch(&mut self) {
        let mut rest = std::mem::take(&mut self.pending);
        let chunk = rest.len().div_ceil(self.threads).max(1);
        let mut generation = Vec::new();
        while !rest.is_empty() {
            let part = rest.split_off(rest.len().saturating_sub(chunk));
            generation.push(std::thread::spawn(move || {
                // Batches of 64 (a failing one names its first bad signature).
                part.chunks(64).find_map(|c| vigil_core::verifier::check_batch(c, rand::thread_rng()).err())
            }));
        }
        self.running.push_back(generation);
    }

    /// Waits for all but the `keep` newest generations; the first bad signature (lowest
    /// sequence number) is the error: older generations hold lower ones.
    fn join_until(&mut self, keep: usize) -> Result<(), vigil_core::verifier::VerifyError> {
        while self.running.len() > keep {
            let mut first: Option<vigil_core::verifier::VerifyError> = None;
            for h in self.running.pop_front().unwrap_or_default() {
                let found = h.join().unwrap_or_else(|_| {
                    Some(vigil_core::verifier::VerifyError {
                        seq: u64::MAX,
                        reason: "a signature check panicked".into(),
                    })
                });
                if let Some(e) = found {
                    if first.as_ref().is_none_or(|f| e.seq < f.seq) {
                        first = Some(e);
                    }
                }
            }
            if let Some(e) = first {
                return Err(e);
            }
        }
        Ok(())
    }

    fn join(&mut self) -> Result<(), vigil_core::verifier::VerifyError> {
        self.join_until(0)
    }

    /// Checks every signature still pending; then the verifier is complete.
    pub fn finish(&mut self) -> Result<&LogVerifier, vigil_core::verifier::VerifyError> {
        self.join()?;
        self.dispatch();
        self.join()?;
        Ok(&self.v)
    }
}

/// A progress bar with rate and ETA on a terminal (stderr); nothing when stderr is not one.
pub(crate) fn progress(len: Option<u64>, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::with_draw_target(len, indicatif::ProgressDrawTarget::stderr());
    let template = match len {
        Some(_) => {
            format!("{{elapsed_precise}} [{{bar:40}}] {{human_pos}}/{{human_len}} {what}, {{rate}}, ETA {{eta}}")
        }
        None => format!("{{elapsed_precise}} {{human_pos}} {what}, {{rate}}"),
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        // Whole items per second (indicatif's `per_sec` prints four decimals).
        let style = style.with_key("rate", |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}/s", indicatif::HumanCount(s.per_sec().round() as u64));
        });
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

/// A public server, read over HTTP.
pub(crate) struct Remote {
    base: String,
    agent: ureq::Agent,
    /// Whether the server has answered a request with what was asked for: from then on it is
    /// a log's API, and "no such route" is its withholding, not the user's wrong base URL.
    answered: std::sync::atomic::AtomicBool,
    /// The size of a checkpoint of this log verified before (`--state`): a log that has signed
    /// one cannot have none now.
    verified_before: Option<u64>,
}

/// The largest answer read: a full entry bundle of the largest entries (256 of them, each with
/// its two-byte length), the largest thing a log serves.
pub(crate) const MAX_ANSWER: u64 = 256 * (2 + vigil_core::entry::MAX_ENTRY_SIZE as u64);

impl Remote {
    pub(crate) fn new(base_url: &str) -> Remote {
        let agent = crate::client::agent(std::time::Duration::from_secs(60));
        Remote {
            base: base_url.trim_end_matches('/').to_string(),
            agent,
            answered: false.into(),
            verified_before: None,
        }
    }

    /// This server is the log whose checkpoint of `size` entries the caller verified before.
    pub(crate) fn verified_before(self, size: u64) -> Remote {
        Remote { verified_before: Some(size), ..self }
    }

    /// This server answered earlier in this run (a checkpoint of the log, verified): a second
    /// pass over it starts knowing it is a log's API.
    pub(crate) fn answered_before(self) -> Remote {
        Remote { answered: true.into(), ..self }
    }

    /// GET `path`: the body on 200 (at most [`MAX_ANSWER`] bytes). A refusal is the server's
    /// failure to serve what it must (exit 1) once it is known to be a log's API; before, or a
    /// 5xx, 408 or 429, the run could not say (exit 2).
    pub(crate) fn fetch(&self, path: &str) -> Result<Vec<u8>, VerifyFailure> {
        let url = format!("{}/{path}", self.base);
        let mut res = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| VerifyFailure::CouldNotRun(format!("{url}: {}", crate::client::describe(&e))))?;
        let status = res.status().as_u16();
        // Whether the server is known to be a log's API: it answered before in this run; or
        // this is the checkpoint of the log verified before (the state file); or, asked now, it
        // serves a checkpoint (for any other path). What such a server fails to serve, in ways
        // that do not ask to come back later, is its failure; any other server's refusal may be
        // the user's wrong base URL. (Asked only on a refusal.)
        let known = || {
            self.answered.load(std::sync::atomic::Ordering::Relaxed)
                || (path == "checkpoint" && self.verified_before.is_some())
                || (path != "checkpoint" && self.serves_checkpoint())
        };
        let body = res.body_mut().with_config().limit(MAX_ANSWER).read_to_vec().map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) if known() => VerifyFailure::Failed(format!(
                "{url}: the answer is larger than anything a log serves (more than {MAX_ANSWER} bytes)"
            )),
            e => VerifyFailure::CouldNotRun(format!("{url}: {e}")),
        })?;
        match status {
            200 => {
                self.answered.store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(body)
            }
            404 => {
                let detail = problem_detail(&body);
                // No such route (vigil's own answer for one, or no vigil answer at all) from a
                // server not known to be a log's API: not a vigil public API's base URL. From
                // one known to be, it is withholding what it must serve.
                let no_route = detail.as_deref() == Some(crate::http::NO_SUCH_ROUTE) || detail.is_none();
                if let (true, Some(n)) = (path == "checkpoint", self.verified_before) {
                    // First, whatever the 404 says: a log that withholds its checkpoint could
                    // otherwise answer as if the route did not exist and pass for a wrong URL.
                    Err(VerifyFailure::Failed(format!(
                        "{url}: no checkpoint served (404: {}), though the log signed one of {n} entries that was verified before (the state file): a rollback, or withholding (or this is not that log's URL)",
                        detail.unwrap_or_default()
                    )))
                } else if no_route && !known() {
                    Err(VerifyFailure::CouldNotRun(format!(
                        "{url}: 404: {} has no such route; is it a vigil public API's base URL (not the internal API, no path)?",
                        self.base
                    )))
                } else if path == "checkpoint" {
                    // A vigil log without a checkpoint yet: nothing to verify, not a misbehaving log.
                    Err(VerifyFailure::CouldNotRun(format!("{url}: 404: {}", detail.unwrap_or_default())))
                } else {
                    Err(VerifyFailure::Failed(match detail {
                        Some(d) => format!("{url}: the server does not have it (404: {d})"),
                        None => format!("{url}: the server does not have it (404)"),
                    }))
                }
            }
            // Refused (a 4xx but 404, above, and 408 and 429, which ask to come back) by a log's
            // API: withholding, as a 404 is. A 5xx, or any answer from a server not known to be
            // a log's, leaves the run unable to say.
            s if (400..500).contains(&s) && s != 408 && s != 429 && known() => {
                Err(VerifyFailure::Failed(format!("{url}: the server refuses to serve it (HTTP {s})")))
            }
            s => Err(VerifyFailure::CouldNotRun(format!("{url}: HTTP {s}"))),
        }
    }

    /// Whether the server serves a checkpoint (200). Asked when it refuses another path before
    /// it answered anything (a run on the user's own checkpoint file): a server that serves a
    /// checkpoint is a log's API withholding that path, not the user's wrong base URL.
    fn serves_checkpoint(&self) -> bool {
        let served = self.agent.get(&format!("{}/checkpoint", self.base)).call().is_ok_and(|r| r.status() == 200);
        if served {
            self.answered.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        served
    }
}

/// The `detail` of a problem document (RFC 9457), as vigil answers every error; `None` for any
/// other body. On a 404, [`crate::http::NO_SUCH_ROUTE`] is vigil's answer for a route it does
/// not have (not for a thing the route does not hold).
fn problem_detail(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(body).ok()?.get("detail")?.as_str().map(str::to_owned)
}

/// Fetches a server's checkpoint and verifies it against the log key and a witness policy.
pub fn fetch_witnessed(
    base_url: &str,
    log_key: &VerifierKey,
    policy: &Policy,
) -> Result<vigil_core::witness::Witnessed, VerifyFailure> {
    let note = Remote::new(base_url).fetch("checkpoint")?;
    verify_witnessed(&note, log_key, policy).map_err(|e| VerifyFailure::Failed(format!("checkpoint: {e}")))
}

/// One entry's inclusion in the latest checkpoint.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EntryReport {
    pub seq: u64,
    pub kind: String,
    pub time_ms: u64,
    pub leaf_hash: String,
    pub checkpoint_size: u64,
    pub root: String,
}

/// `vigil verify --url URL --seq N`: entry N (from its entry bundle) is included in the latest
/// checkpoint signed by `log_key` (inclusion proof from `/v1/proofs/inclusion`).
pub fn verify_entry_url(base_url: &str, log_key: &VerifierKey, seq: u64) -> Result<EntryReport, VerifyFailure> {
    verify_inclusion(base_url, log_key, &Policy::none(), EntrySource::Seq(seq), None)
}

/// Which entry `vigil verify` proves included.
pub enum EntrySource {
    /// By sequence number: its bytes come from the entry bundle.
    Seq(u64),
    /// The entry's bytes, as an auditor holds them (`--entry FILE`).
    Bytes(Vec<u8>),
}

/// Proves one entry included in the latest checkpoint, or in `checkpoint_note` (a checkpoint
/// the user holds, e.g. from an earlier run); either must be signed by `log_key` and cosigned
/// as `policy` requires.
pub fn verify_inclusion(
    base_url: &str,
    log_key: &VerifierKey,
    policy: &Policy,
    which: EntrySource,
    checkpoint_note: Option<&[u8]>,
) -> Result<EntryReport, VerifyFailure> {
    // The caller's checkpoint that does not verify is not this log's: bad input.
    let held = checkpoint_note
        .map(|n| verify_witnessed(n, log_key, policy).map(|w| w.signed.checkpoint))
        .transpose()
        .map_err(|e| VerifyFailure::CouldNotRun(format!("the checkpoint given: {e}")))?;
    included(&Remote::new(base_url), log_key, policy, which, held.as_ref()).map(|(r, _)| r)
}

/// [`verify_inclusion`] on `server`, in `checkpoint` (verified by the caller) or else in the
/// server's latest, verified here; also returning the entry's bytes (verified included).
pub(crate) fn included(
    server: &Remote,
    log_key: &VerifierKey,
    policy: &Policy,
    which: EntrySource,
    checkpoint: Option<&checkpoint::Checkpoint>,
) -> Result<(EntryReport, Vec<u8>), VerifyFailure> {
    let latest;
    let cp = match checkpoint {
        Some(cp) => cp,
        None => {
            latest = verify_witnessed(&server.fetch("checkpoint")?, log_key, policy)
                .map_err(|e| VerifyFailure::Failed(format!("checkpoint: {e}")))?
                .signed
                .checkpoint;
            &latest
        }
    };
    let fetched;
    let (seq, bytes): (u64, &[u8]) = match &which {
        EntrySource::Bytes(b) => {
            let e = vigil_core::entry::Entry::decode_header(b)
                .map_err(|e| VerifyFailure::CouldNotRun(format!("the entry file: {e}")))?;
            (e.seq, b)
        }
        EntrySource::Seq(seq) => {
            let seq = *seq;
            if seq >= cp.size {
                return Err(VerifyFailure::CouldNotRun(format!(
                    "entry {seq} is beyond the checkpoint's {} entries",
                    cp.size
                )));
            }
            let n = seq / 256;
            let path = TilePath { entries: true, level: 0, index: n, width: (cp.size - n * 256).min(256) }.to_path();
            fetched = server.fetch(&format!("tile/{path}"))?;
            let entries = split_bundle(&fetched).map_err(|e| VerifyFailure::Failed(format!("tile/{path}: {e}")))?;
            let b = *entries
                .get((seq - n * 256) as usize)
                .ok_or_else(|| VerifyFailure::Failed(format!("tile/{path}: entry {seq} is missing")))?;
            (seq, b)
        }
    };
    // Bytes that are not an entry: the server's are misbehaviour, the user's file is bad input
    // (said before its number is looked at: a file that is not an entry is bad input, whatever
    // number its header carries).
    let (entry, st) = vigil_core::entry::Entry::decode(bytes).map_err(|e| match which {
        EntrySource::Seq(_) => VerifyFailure::Failed(format!("entry {seq}: {e}")),
        EntrySource::Bytes(_) => VerifyFailure::CouldNotRun(format!("the entry file: entry {seq}: {e}")),
    })?;
    if seq >= cp.size {
        return Err(VerifyFailure::Failed(format!("entry {seq} is not in the checkpoint of {} entries", cp.size)));
    }
    if entry.seq != seq {
        return Err(VerifyFailure::Failed(format!("entry {seq}: carries sequence number {}", entry.seq)));
    }
    let proof: vigil_core::merkle::InclusionProof =
        serde_json::from_slice(&server.fetch(&format!("v1/proofs/inclusion?seq={seq}&size={}", cp.size))?)
            .map_err(|e| VerifyFailure::Failed(format!("inclusion proof: {e}")))?;
    let leaf = vigil_core::merkle::leaf_hash(bytes);
    proof
        .verify_in(&leaf, seq, cp.size, &cp.root)
        .map_err(|e| VerifyFailure::Failed(format!("entry {seq}: inclusion proof: {e}")))?;
    let report = EntryReport {
        seq,
        kind: st.event.kind().as_str().into(),
        time_ms: entry.time_ms,
        leaf_hash: leaf.to_hex(),
        checkpoint_size: cp.size,
        root: hex::encode(cp.root.0),
    };
    Ok((report, bytes.to_vec()))
}

/// What `vigil verify --state FILE` remembers between runs: the last checkpoint verified and
/// the verifier's state after it, so that the next run checks only the new entries.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedState {
    /// The signed checkpoint note, as served.
    pub checkpoint: String,
    pub verifier: SavedVerifier,
}

/// A state file: the state, its checkpoint verified against the pinned key (with the time it
/// was signed), and the verifier resumed at it.
fn load_state(
    path: &Path,
    log_key: &VerifierKey,
) -> Result<(SavedState, checkpoint::Checkpoint, Option<u64>, LogVerifier), VerifyFailure> {
    let bad = |e: String| VerifyFailure::CouldNotRun(format!("state file {}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let state: SavedState = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let signed =
        checkpoint::verify(state.checkpoint.as_bytes(), log_key).map_err(|e| bad(format!("its checkpoint: {e}")))?;
    let v = LogVerifier::resume(&state.verifier).map_err(bad)?;
    v.matches(&signed.checkpoint).map_err(|e| bad(format!("does not match its own checkpoint: {e}")))?;
    Ok((state, signed.checkpoint, signed.timestamp, v))
}

/// Writes `contents` to `path` atomically and durably.
fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), VerifyFailure> {
    crate::files::write_durably(path, contents)
        .map_err(|e| VerifyFailure::CouldNotRun(format!("writing {}: {e}", path.display())))
}

/// Records two checkpoints signed by the log key that this run found do not go together, for
/// anyone to re-check with the log's public key, in `FILE.evidence.txt` next to the state
/// `FILE` (or `FILE.evidence-2.txt`, … : evidence already kept is never overwritten); returns
/// the failure that reports it.
fn misbehaviour(state: &Path, what: String, old: &str, new: &[u8]) -> VerifyFailure {
    let text = format!(
        "vigil: log misbehaviour: {what}\n\nBoth checkpoints below are signed by the log's key (check them with its \
         verifier key). Two different roots at the same size prove a fork by themselves; otherwise they show what \
         this verifier was served, and the log's entries show the rest.\n\n--- the checkpoint verified earlier ---\n\
         {old}\n--- the checkpoint served now ---\n{}\n",
        String::from_utf8_lossy(new)
    );
    let names = (1..1000).map(|n| match n {
        1 => crate::files::with_suffix(state, ".evidence.txt"),
        n => crate::files::with_suffix(state, &format!(".evidence-{n}.txt")),
    });
    match crate::files::write_new_durably(names, text.as_bytes()) {
        Ok(evidence) => {
            VerifyFailure::Failed(format!("{what}; evidence (both signed checkpoints) in {}", evidence.display()))
        }
        Err(e) => {
            VerifyFailure::Failed(format!("{what}; could not write the evidence beside {}: {e}", state.display()))
        }
    }
}

/// Verifies a log served at `base_url` (its public API): the checkpoint, signed by `log_key`,
/// then the entries from the tlog-tiles entry bundles, then the root. Anything the server sends
/// that is wrong is a [`VerifyFailure::Failed`]; a network error is `CouldNotRun`.
///
/// With `state`, the run starts from the checkpoint and verifier state saved there by the last
/// run and checks only the entries after it; the new root is computed from the saved tree and
/// the new entries, which proves the new checkpoint consistent with the old one. A smaller
/// tree (rollback) or a root that does not extend the verified tree (fork, or a rewritten
/// entry) is log misbehaviour: both signed checkpoints go to `<state>.evidence.txt`. The state
/// is updated only after a successful run.
pub fn verify_url(
    base_url: &str,
    log_key: &VerifierKey,
    policy: &Policy,
    state: Option<&Path>,
) -> Result<Report, VerifyFailure> {
    verify_url_with(base_url, log_key, policy, state, &mut |_, _| {}, &mut || Ok(()))
}

/// What a verification run hands each entry it has verified (for `vigil audit`).
pub type OnEntry<'a> = &'a mut dyn FnMut(&vigil_core::entry::Entry, &vigil_core::statement::Statement);

/// [`verify_url`], handing every verified entry to `on_entry`, then running `more` (checks
/// over what `on_entry` collected) before the state is saved: a run whose further checks fail
/// does not move the state past what they were to check, so the next run checks them again.
pub fn verify_url_with(
    base_url: &str,
    log_key: &VerifierKey,
    policy: &Policy,
    state: Option<&Path>,
    on_entry: OnEntry<'_>,
    more: &mut dyn FnMut() -> Result<(), VerifyFailure>,
) -> Result<Report, VerifyFailure> {
    let old = match state {
        Some(p) if p.exists() => Some(load_state(p, log_key)?),
        _ => None,
    };
    let server = match &old {
        Some((_, old_cp, _, _)) => Remote::new(base_url).verified_before(old_cp.size),
        None => Remote::new(base_url),
    };
    let fetch = |path: &str| server.fetch(path);
    let note = fetch("checkpoint")?;
    let witnessed =
        verify_witnessed(&note, log_key, policy).map_err(|e| VerifyFailure::Failed(format!("checkpoint: {e}")))?;
    let signed = witnessed.signed;
    let cp = signed.checkpoint;
    // After a verified checkpoint, a failure is evidence against the log: record both notes.
    let report = |what: String| match (&old, state) {
        (Some((saved, old_cp, _, _)), Some(p)) => misbehaviour(
            p,
            format!("{what} (the log is not a valid extension of the {} entries verified earlier)", old_cp.size),
            &saved.checkpoint,
            &note,
        ),
        _ => VerifyFailure::Failed(what),
    };
    let mut v = Checker::new(match &old {
        Some((_, old_cp, _, v)) => {
            if cp.size < old_cp.size {
                return Err(report(format!("rollback: the log now has {} entries", cp.size)));
            }
            v.clone()
        }
        None => LogVerifier::new(),
    });
    let mut n = v.size() / 256;
    let pb = progress(Some(cp.size), "entries");
    pb.set_position(v.size());
    while v.size() < cp.size {
        let width = (cp.size - n * 256).min(256);
        let path = TilePath { entries: true, level: 0, index: n, width }.to_path();
        let bundle = fetch(&format!("tile/{path}"))?;
        let entries = split_bundle(&bundle).map_err(|e| VerifyFailure::Failed(format!("tile/{path}: {e}")))?;
        if entries.len() as u64 != width {
            return Err(VerifyFailure::Failed(format!(
                "tile/{path}: holds {} entries, its width is {width}",
                entries.len()
            )));
        }
        // Entries before the verified size were checked by an earlier run.
        let skip = (v.size() - n * 256) as usize;
        v.push_all(&entries[skip..], &mut |e, st| on_entry(e, st)).map_err(|e| report(e.to_string()))?;
        pb.set_position(v.size());
        n += 1;
    }
    pb.finish_and_clear();
    let v = v.finish().map_err(|e| report(e.to_string()))?;
    v.matches(&cp).map_err(|e| report(format!("{e} (a fork, or a rewritten entry)")))?;
    more()?;
    if let Some(p) = state {
        let saved = SavedState { checkpoint: String::from_utf8_lossy(&note).into_owned(), verifier: v.save() };
        let json = serde_json::to_vec_pretty(&saved).map_err(|e| VerifyFailure::CouldNotRun(e.to_string()))?;
        write_atomically(p, &json)?;
    }
    Ok(Report::new(&cp, signed.timestamp, witnessed.cosigned))
}

/// The entries of a tlog-tiles entry bundle: each a big-endian uint16 length, then the bytes.
/// Never panics on bad bytes.
pub fn split_bundle(mut bundle: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    while !bundle.is_empty() {
        let (len, rest) = bundle.split_first_chunk::<2>().ok_or("a length prefix is cut short")?;
        let len = u16::from_be_bytes(*len) as usize;
        let entry = rest.get(..len).ok_or_else(|| format!("entry {} is cut short", out.len()))?;
        out.push(entry);
        bundle = &rest[len..];
    }
    Ok(out)
}

pub fn verify_data_dir(path: &Path, log_key: &VerifierKey) -> Result<Report, VerifyFailure> {
    verify_data_dir_with(path, log_key, &mut |_, _| {})
}

/// A data dir opened read-only.
fn open_data_dir(path: &Path) -> Result<Store, VerifyFailure> {
    Store::open_read_only(path).map_err(|e| VerifyFailure::CouldNotRun(e.to_string()))
}

/// A data dir's checkpoint note as `read` from its store, verified against the pinned key;
/// `what` names it in an error: the newest (`Store::checkpoint`), or the newest known durable
/// (`Store::durable_checkpoint`, the store's "Durable mark": what a reader that keeps it may
/// keep, since a power cut cannot take it back).
fn verified_note(
    read: Result<Option<Vec<u8>>, crate::store::StoreError>,
    log_key: &VerifierKey,
    what: &str,
) -> Result<(Vec<u8>, checkpoint::SignedCheckpoint), VerifyFailure> {
    let note = read
        .map_err(|e| VerifyFailure::CouldNotRun(e.to_string()))?
        .ok_or_else(|| VerifyFailure::Failed("no signed checkpoint in the data dir".into()))?;
    let signed = checkpoint::verify(&note, log_key).map_err(|e| VerifyFailure::Failed(format!("{what}: {e}")))?;
    Ok((note, signed))
}

/// `vigil verify --data-dir D --state FILE`: as [`verify_url`] with a state file, for a data dir:
/// only entries after the saved checkpoint are checked; rollback and fork are misbehaviour with
/// both signed checkpoints as evidence.
pub fn verify_data_dir_incremental(path: &Path, log_key: &VerifierKey, state: &Path) -> Result<Report, VerifyFailure> {
    let old = if state.exists() { Some(load_state(state, log_key)?) } else { None };
    let store = open_data_dir(path)?;
    let (mut note, mut signed) = verified_note(store.durable_checkpoint(), log_key, "the checkpoint marked durable")?;
    if let Some((_, old_cp, old_timestamp, _)) =
        old.as_ref().filter(|(_, old_cp, _, _)| signed.checkpoint.size < old_cp.size)
    {
        // The mark is behind what was kept: kept from the server itself (`--url`) before its
        // mark followed, or a mark lost in a power cut. A rollback only if the newest
        // checkpoint is behind it too (below); else nothing newer is known durable yet, and the
        // state stays as it is (a later run, with a newer mark, checks on from it).
        let (newest_note, newest) = verified_note(store.checkpoint(), log_key, "checkpoint")?;
        if newest.checkpoint.size >= old_cp.size {
            return Ok(Report::new(old_cp, *old_timestamp, vec![]));
        }
        (note, signed) = (newest_note, newest);
    }
    let cp = &signed.checkpoint;
    let report = |what: String| match &old {
        Some((saved, old_cp, _, _)) => misbehaviour(
            state,
            format!("{what} (the log is not a valid extension of the {} entries verified earlier)", old_cp.size),
            &saved.checkpoint,
            &note,
        ),
        None => VerifyFailure::Failed(what),
    };
    let start = match &old {
        Some((_, old_cp, _, _)) if cp.size < old_cp.size => {
            return Err(report(format!("rollback: the log now has {} entries", cp.size)))
        }
        Some((_, _, _, v)) => v.clone(),
        None => LogVerifier::new(),
    };
    let mut c = Checker::new(start);
    let pb = progress(Some(cp.size), "entries");
    pb.set_position(c.size());
    for_each_chunk(&store, c.size(), cp.size, |chunk, first| {
        if first != c.size() {
            c.finish().map_err(|e| report(e.to_string()))?;
            return Err(report(format!("entry {}: missing", c.size())));
        }
        c.push_all(chunk, &mut |_, _| ()).map_err(|e| report(e.to_string()))?;
        pb.inc(chunk.len() as u64);
        Ok(())
    })?;
    pb.finish_and_clear();
    let v = c.finish().map_err(|e| report(e.to_string()))?;
    if v.size() < cp.size {
        return Err(report(format!("entry {}: missing (checkpoint has {} entries)", v.size(), cp.size)));
    }
    v.matches(cp).map_err(|e| report(format!("{e} (a fork, or a rewritten entry)")))?;
    let saved = SavedState { checkpoint: String::from_utf8_lossy(&note).into_owned(), verifier: v.save() };
    let json = serde_json::to_vec_pretty(&saved).map_err(|e| VerifyFailure::CouldNotRun(e.to_string()))?;
    write_atomically(state, &json)?;
    Ok(Report::new(cp, signed.timestamp, vec![]))
}

/// Reads entries `from..to` of a store in chunks of consecutive sequence numbers, handing each
/// chunk and its first sequence number to `f`. A gap ends a chunk, so `f` sees where it is.
fn for_each_chunk(
    store: &Store,
    from: u64,
    to: u64,
    mut f: impl FnMut(&[&[u8]], u64) -> Result<(), VerifyFailure>,
) -> Result<(), VerifyFailure> {
    const CHUNK: usize = 4096;
    let mut buf: Vec<Vec<u8>> = Vec::with_capacity(CHUNK);
    let mut first = from;
    let mut flush = |buf: &mut Vec<Vec<u8>>, first: u64| -> Result<(), VerifyFailure> {
        let refs: Vec<&[u8]> = buf.iter().map(Vec::as_slice).collect();
        let r = f(&refs, first);
        buf.clear();
        r
    };
    for r in store.entries(from, to) {
        let (seq, bytes) = r.map_err(|e| VerifyFailure::CouldNotRun(e.to_string()))?;
        if seq != first + buf.len() as u64 || buf.len() == CHUNK {
            if !buf.is_empty() {
                flush(&mut buf, first)?;
            }
            first = seq;
        }
        buf.push(bytes);
    }
    if !buf.is_empty() {
        flush(&mut buf, first)?;
    }
    Ok(())
}

/// [`verify_data_dir`], handing every verified entry to `on_entry`.
pub fn verify_data_dir_with(
    path: &Path,
    log_key: &VerifierKey,
    on_entry: OnEntry<'_>,
) -> Result<Report, VerifyFailure> {
    let store = open_data_dir(path)?;
    let (_, signed) = verified_note(store.checkpoint(), log_key, "checkpoint")?;
    let cp = signed.checkpoint;
    let mut c = Checker::new(LogVerifier::new());
    let pb = progress(Some(cp.size), "entries");
    let failed = |e: vigil_core::verifier::VerifyError| VerifyFailure::Failed(e.to_string());
    for_each_chunk(&store, 0, cp.size, |chunk, first| {
        if first != c.size() {
            c.finish().map_err(failed)?;
            return Err(VerifyFailure::Failed(format!("entry {}: missing", c.size())));
        }
        c.push_all(chunk, on_entry).map_err(failed)?;
        pb.inc(chunk.len() as u64);
        Ok(())
    })?;
    pb.finish_and_clear();
    let v = c.finish().map_err(failed)?;
    if v.size() < cp.size {
        return Err(VerifyFailure::Failed(format!("entry {}: missing (checkpoint has {} entries)", v.size(), cp.size)));
    }
    v.matches(&cp).map_err(VerifyFailure::Failed)?;
    Ok(Report::new(&cp, signed.timestamp, vec![]))
}

/// Checks the private-field openings of `entries` (sequence number, their commitments by
/// field) fetched from an internal API as `auditor`, each request signed at `clock`'s time:
/// each must open its commitment. Returns how many values were opened.
pub fn check_openings(
    internal_url: &str,
    auditor: &vigil_core::keys::SignerKey,
    entries: &[(u64, Vec<(String, vigil_core::hash::Digest)>)],
    clock: &dyn crate::engine::Clock,
) -> Result<usize, VerifyFailure> {
    let mut opened = 0;
    for (seq, commitments) in entries {
        // Signed anew for each request: a long run must stay inside the server's replay window.
        let v =
            crate::client::fetch_openings(internal_url, auditor, *seq, clock.now_ms()).map_err(|e| match e.status {
                // The route itself missing: not the internal API (a usage error, not the log's).
                404 if e.detail == crate::http::NO_SUCH_ROUTE => VerifyFailure::CouldNotRun(format!(
                    "{internal_url} has no openings route: is it the internal API's base URL (--openings)?"
                )),
                404 => VerifyFailure::Failed(format!("entry {seq}: the server has no openings for it: {}", e.detail)),
                // Answered, but not with openings (not JSON, cut short): the server's failure.
                200 => VerifyFailure::Failed(format!("entry {seq}: the openings answered are {}", e.detail)),
                _ => VerifyFailure::CouldNotRun(format!("openings of entry {seq}: {e}")),
            })?;
        let openings: Vec<vigil_core::event::Opening> = serde_json::from_value(v["openings"].clone())
            .map_err(|e| VerifyFailure::Failed(format!("entry {seq}: malformed openings: {e}")))?;
        for (field, c) in commitments {
            let o = openings
                .iter()
                .find(|o| &o.field == field)
                .ok_or_else(|| VerifyFailure::Failed(format!("entry {seq}: no opening for {field}")))?;
            if !o.opens(c) {
                return Err(VerifyFailure::Failed(format!(
                    "entry {seq}: the opening of {field} does not open its commitment"
                )));
            }
            opened += 1;
        }
    }
    Ok(opened)
}

#[cfg(test)]
mod tests {
    use super::split_bundle;

    #[test]
    fn bundles_split_into_entries_and_bad_ones_are_errors() {
        // (bundle, entries or None when refused)
        type Case<'a> = (&'a [u8], Option<&'a [&'a [u8]]>);
        let cases: &[Case] = &[
            (b"", Some(&[])),
            (b"\x00\x01a\x00\x02bc", Some(&[b"a", b"bc"])),
            (b"\x00\x00", Some(&[b""])),
            (b"\x00", None),
            (b"\x00\x03ab", None),
            (b"\x00\x01a\x00", None),
        ];
        for (bundle, want) in cases {
            match (split_bundle(bundle), want) {
                (Ok(got), Some(w)) => assert_eq!(&got, w, "{bundle:?}"),
                (Err(_), None) => {}
                (got, _) => panic!("{bundle:?}: {got:?}"),
            }
        }
    }
}
