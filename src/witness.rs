//! `vigil witness`: a C2SP `tlog-witness` server. It cosigns a log's checkpoint
//! (`tlog-cosignature/v1`, Ed25519, timestamped) only when it extends the latest checkpoint it
//! cosigned for that log, and it keeps every checkpoint it cosigned and every signed request it
//! refused as a fork or a rollback, so it can show a log's misbehaviour to others.
//!
//! **Architecture Invariant:** the check of a request against the stored latest checkpoint and
//! the update of that checkpoint happen under one lock and are written as one synced RocksDB
//! batch before the cosignature is returned: two requests cannot both pass against the same
//! state (the race the spec describes), and a cosignature is never handed out for a state a
//! crash could lose.
//!
//! Keys in the witness's RocksDB (one default column family, big-endian numbers):
//!
//! | key                                         | value                                      |
//! |---------------------------------------------|--------------------------------------------|
//! | `L` ‖ origin                                | size u64 ‖ root (32) ‖ the cosigned note   |
//! | `C` ‖ origin ‖ 0x00 ‖ size u64 ‖ time u64  | the checkpoint with the log's own verified lines ‖ our cosignature line |
//! | `E` ‖ time ms u64 ‖ counter u64             | an [`Evidence`] record (JSON); keys only grow (below) |
//! | `D` ‖ origin ‖ 0 ‖ reason ‖ 0 ‖ refused size ‖ root [‖ cosigned size ‖ root, for a fork] | empty: that evidence is kept |
//! | `K`                                         | the witness's cosigner key (vkey text): whose memory this is |
//!
//! **Architecture Invariant:** a witness's store is created only when asked (`vigil witness
//! --init`), never because it is missing: a witness that lost what it cosigned and started over
//! under the same key would cosign a log's fork. A store answers to one witness key.
//!
//! Only a fork (two log-signed roots at one size) proves misbehaviour by itself; an
//! inconsistent proof or a rollback may be anyone replaying what the log signed with a bad
//! proof or an old checkpoint. A fork is kept once per (refused, cosigned) checkpoints, with a
//! synced write; an inconsistent proof or a rollback once per refused checkpoint, not synced:
//! anyone can replay every checkpoint the witness ever cosigned (`/v1/cosigned` lists them)
//! after each new one, and that must neither grow the store by more than one record per
//! checkpoint the log signed nor hold the cosigning lock for a sync each. A record keeps the
//! request as the witness read it (`old`, the proof, the checkpoint with the log's own lines):
//! not the bytes as sent, which anyone could pad with signature lines of unknown keys.

use crate::engine::Clock;
use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rocksdb::{Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use vigil_core::checkpoint::CosignatureVerifier;
use vigil_core::hash::Digest;
use vigil_core::keys::{SignerKey, VerifierKey};
use vigil_core::witness::{cosign, own_cosignature, AddCheckpoint, Latest, WitnessError, MAX_REQUEST_BYTES};

/// A request the witness refused although the log signed its checkpoint: what a monitor needs
/// to show the log misbehaved (two signed checkpoints that are not one history).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Evidence {
    pub time_ms: u64,
    pub origin: String,
    /// `fork`, `inconsistent` (the proof does not verify) or `rollback` (smaller than cosigned).
    pub reason: String,
    pub status: u16,
    pub detail: String,
    /// The request as read (a `tlog-witness` request body): its `old` size and proof, and the
    /// checkpoint with the log's own signature lines (any other lines it carried are dropped).
    pub request: String,
    /// The latest checkpoint the witness had cosigned, with its cosignature.
    pub cosigned: String,
}

/// One checkpoint the witness cosigned.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct CosignedRecord {
    pub size: u64,
    pub timestamp: u64,
    /// The checkpoint with the log's own signature lines (the others the request carried are
    /// dropped), followed by the witness's cosignature line.
    pub checkpoint: String,
}

/// Why `add-checkpoint` failed: a refusal the spec defines, or the witness's own storage.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error(transparent)]
    Refused(#[from] WitnessError),
    #[error("witness storage: {0}")]
    Store(String),
}

/// A witness: its key, the logs it witnesses, its store.
pub struct Witness {
    key: SignerKey,
    logs: HashMap<String, VerifierKey>,
    db: DB,
    /// Held across check-and-update (see the invariant above).
    lock: Mutex<()>,
    clock: Arc<dyn Clock>,
    /// The key of the newest evidence record: the next one's is larger, even when the clock
    /// steps back or the witness restarts within a millisecond, so a monitor paging on with
    /// the cursor of the last record it read misses nothing.
    last_evidence: Mutex<Option<Cursor>>,
    /// How long after its last cosignature the same checkpoint is cosigned anew
    /// ([`COSIGN_AGAIN_AFTER_S`] by default); sooner, it gets that cosignature again.
    cosign_again_after_s: u64,
}

/// By default, the same checkpoint sent again this many seconds or more after its last
/// cosignature is cosigned anew, dated now, so that a quiet log's witnessed view shows it is
/// current; sooner, the cosignature it has is answered again, without a write. So a write
/// (synced) for repeats happens at most once this often per log, whoever sends them.
pub const COSIGN_AGAIN_AFTER_S: u64 = 60;

fn latest_key(origin: &str) -> Vec<u8> {
    [b"L".as_slice(), origin.as_bytes()].concat()
}

fn cosigned_prefix(origin: &str) -> Vec<u8> {
    [b"C".as_slice(), origin.as_bytes(), &[0]].concat()
}

impl Witness {
    /// Whether `dir` holds a witness store (a RocksDB), as [`Witness::open`] sees it.
    pub fn store_exists(dir: &Path) -> bool {
        dir.join("CURRENT").exists()
    }

    /// Opens the witness's store, or with `init` creates it (a new witness, which has cosigned
    /// nothing: refused when a store is there). `logs` are the log keys it trusts; each key's
    /// name is the log's origin.
    pub fn open(
        dir: &Path,
        key: SignerKey,
        logs: Vec<VerifierKey>,
        clock: Arc<dyn Clock>,
        init: bool,
    ) -> Result<Witness> {
        let exists = Self::store_exists(dir);
        if init && exists {
            anyhow::bail!("{} already holds a witness store; --init is for a new witness only", dir.display());
        }
        if !init && !exists {
            anyhow::bail!(
                "no witness store at {}: a witness that lost what it cosigned must not start over under the same \
                 key (it could cosign a fork); for a new witness, pass --init once",
                dir.display()
            );
        }
        let mut opts = Options::default();
        opts.create_if_missing(init);
        opts.set_paranoid_checks(true);
        let db = DB::open(&opts, dir).with_context(|| format!("opening the witness store {}", dir.display()))?;
        let mine = CosignatureVerifier::from_signer(&key).to_vkey();
        match db.get(b"K")? {
            Some(k) if k != mine.as_bytes() => anyhow::bail!(
                "the witness store {} belongs to the witness key {}, not {mine}",
                dir.display(),
                String::from_utf8_lossy(&k)
            ),
            Some(_) => {}
            // New, or made before stores named their key: this key's from now on.
            None => {
                let mut wo = WriteOptions::default();
                wo.set_sync(true);
                db.put_opt(b"K", mine.as_bytes(), &wo)?;
            }
        }
        let mut map = HashMap::new();
        for k in logs {
            // The origin ends its records' key prefix with a 0 byte.
            anyhow::ensure!(!k.name().contains('\0'), "log key {}: an origin with a NUL byte", k.to_vkey());
            if let Some(other) = map.insert(k.name().to_string(), k.clone()) {
                anyhow::bail!("two log keys for origin {:?}: {} and {}", k.name(), other.to_vkey(), k.to_vkey());
            }
        }
        let last_evidence = match db.iterator(IteratorMode::From(b"F", Direction::Reverse)).next().transpose()? {
            Some((k, _)) if k.first() == Some(&b'E') => Some(cursor_of(&k[1..]).context("an evidence key")?),
            _ => None,
        };
        Ok(Witness {
            key,
            logs: map,
            db,
            lock: Mutex::new(()),
            clock,
            last_evidence: Mutex::new(last_evidence),
            cosign_again_after_s: COSIGN_AGAIN_AFTER_S,
        })
    }

    /// The same, cosigning the same checkpoint anew `seconds` after its last cosignature (at
    /// least 1).
    pub fn cosign_again_after(mut self, seconds: u64) -> Witness {
        self.cosign_again_after_s = seconds.max(1);
        self
    }

    /// The witness's cosigner verifier key (key type 0x04), what logs and clients configure.
    pub fn cosigner(&self) -> CosignatureVerifier {
        CosignatureVerifier::from_signer(&self.key)
    }

    fn latest(&self, origin: &str) -> Result<Option<(Latest, Vec<u8>)>, AddError> {
        let Some(v) = self.db.get(latest_key(origin)).map_err(|e| AddError::Store(e.to_string()))? else {
            return Ok(None);
        };
        if v.len() < 40 {
            return Err(AddError::Store(format!("the latest checkpoint of {origin:?} is corrupt")));
        }
        let size = u64::from_be_bytes(v[..8].try_into().expect("8 bytes"));
        let root = Digest(v[8..40].try_into().expect("32 bytes"));
        Ok(Some((Latest { size, root }, v[40..].to_vec())))
    }

    /// `add-checkpoint`: checks the request (C2SP tlog-witness, in the spec's order), and on
    /// success stores the new latest checkpoint durably and returns the cosignature line.
    /// Blocking (RocksDB, a synced write).
    pub fn add_checkpoint(&self, body: &[u8]) -> Result<Vec<u8>, AddError> {
        let req = AddCheckpoint::parse(body)?;
        let origin = req.origin()?;
        let log_key = self.logs.get(&origin).ok_or_else(|| WitnessError::UnknownOrigin(origin.clone()))?;
        let signed = req.verify_signature(log_key)?;
        let cp = &signed.checkpoint;
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let latest = self.latest(&origin)?;
        if let Err(refusal) = req.check_against(cp, latest.as_ref().map(|(l, _)| *l)) {
            let reason = match &refusal {
                WitnessError::Fork { .. } => Some("fork"),
                WitnessError::BadProof { .. } => Some("inconsistent"),
                // Another root at the size cosigned proves a fork by itself, whatever `old` says.
                _ if latest.as_ref().is_some_and(|(l, _)| cp.size == l.size && cp.root != l.root) => Some("fork"),
                _ if latest.as_ref().is_some_and(|(l, _)| cp.size < l.size) => Some("rollback"),
                _ => None,
            };
            if let Some(reason) = reason {
                // A fork once per refused and cosigned checkpoint; the others once per refused
                // checkpoint (the module's doc): replaying what the log signed, which anyone
                // can, adds at most one record per checkpoint it signed.
                let fork = reason == "fork";
                let mut seen = [b"D".as_slice(), origin.as_bytes(), &[0], reason.as_bytes(), &[0]].concat();
                seen.extend_from_slice(&cp.size.to_be_bytes());
                seen.extend_from_slice(&cp.root.0);
                if let Some((l, _)) = latest.as_ref().filter(|_| fork) {
                    seen.extend_from_slice(&l.size.to_be_bytes());
                    seen.extend_from_slice(&l.root.0);
                }
                // Kept if it can be: the refusal is owed all the same (a log learns the size to
                // send from a 409), so a store failing here is logged, not answered.
                let kept = match self.db.get(&seen) {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => {
                        let cosigned = latest.map(|(_, n)| n).unwrap_or_default();
                        let read = AddCheckpoint {
                            old_size: req.old_size,
                            proof: req.proof.clone(),
                            checkpoint: signed.log_signed.clone(),
                        };
                        self.keep_evidence(&origin, reason, &refusal, &read.to_bytes(), cosigned, seen, fork)
                    }
                    Err(e) => Err(AddError::Store(e.to_string())),
                };
                if let Err(e) = kept {
                    tracing::error!(origin, reason, "the evidence of a refused checkpoint could not be kept: {e}");
                }
            }
            return Err(refusal.into());
        }
        // Never earlier than this witness's cosignature of the log's last checkpoint: a clock
        // stepped back must not make a larger checkpoint look older than a smaller one. Read
        // with this witness's key alone: the log's key may have been replaced since.
        let stored = latest.as_ref().and_then(|(_, note)| own_cosignature(note, &self.cosigner()));
        let now = self.clock.now_ms() / 1000;
        // What is written: nothing, the latest cosigned only, or it and a history record.
        #[derive(PartialEq)]
        enum Keep {
            Nothing,
            Latest,
            Record,
        }
        let (keep, timestamp) = match &stored {
            // The checkpoint cosigned last, again (its whole body: other extension lines are
            // another message to cosign, and kept as such), soon after: the same cosignature
            // (its stored timestamp; Ed25519 signs alike), and nothing to keep, so no synced
            // write that anyone could repeat at will, and no timestamp handed out that the
            // store does not know of. (Only with the stored cosignature read: else the first
            // repeat is written, and later ones find its date.) A clock stepped back lands here
            // too: never a date before the last.
            Some((c, last)) if c == cp && now < last.saturating_add(self.cosign_again_after_s) => {
                (Keep::Nothing, *last)
            }
            // Again, later: cosigned anew, dated now, so that a log that has not grown can show
            // its view is current. Kept as the latest cosigned (its date is what a later one
            // must not undercut), without a history record: the checkpoint is in the history
            // already, and anyone may send it again (at most one synced write a period).
            Some((c, _)) if c == cp => (Keep::Latest, now),
            // Another body (extension lines) at the size cosigned last: a later time, so that
            // its record (kept by size and time) is its own.
            Some((c, last)) if c.size == cp.size => (Keep::Record, now.max(last.saturating_add(1))),
            Some((_, last)) => (Keep::Record, now.max(*last)),
            None => (Keep::Record, now),
        };
        let line = cosign(&req.checkpoint, &self.key, timestamp).map_err(|e| AddError::Store(e.to_string()))?;
        if keep == Keep::Nothing {
            return Ok(line);
        }
        // Kept: the log's own lines and this witness's, not whatever else the request carried.
        let mut note = signed.log_signed.clone();
        note.extend_from_slice(&line);
        let mut latest_v = Vec::with_capacity(40 + note.len());
        latest_v.extend_from_slice(&cp.size.to_be_bytes());
        latest_v.extend_from_slice(&cp.root.0);
        latest_v.extend_from_slice(&note);
        let mut batch = WriteBatch::default();
        batch.put(latest_key(&origin), latest_v);
        if keep == Keep::Record {
            let mut history_k = cosigned_prefix(&origin);
            history_k.extend_from_slice(&cp.size.to_be_bytes());
            history_k.extend_from_slice(&timestamp.to_be_bytes());
            batch.put(history_k, &note);
        }
        self.write(batch, true)?;
        Ok(line)
    }

    fn write(&self, batch: WriteBatch, sync: bool) -> Result<(), AddError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db.write_opt(batch, &wo).map_err(|e| AddError::Store(e.to_string()))
    }

    /// Keeps an evidence record of a refused request (`body`: as read), synced when `sync`.
    #[allow(clippy::too_many_arguments)]
    fn keep_evidence(
        &self,
        origin: &str,
        reason: &str,
        refusal: &WitnessError,
        body: &[u8],
        cosigned: Vec<u8>,
        seen: Vec<u8>,
        sync: bool,
    ) -> Result<(), AddError> {
        let now = self.clock.now_ms();
        let e = Evidence {
            time_ms: now,
            origin: origin.into(),
            reason: reason.into(),
            status: refusal.status(),
            detail: refusal.to_string(),
            request: String::from_utf8_lossy(body).into_owned(),
            cosigned: String::from_utf8_lossy(&cosigned).into_owned(),
        };
        tracing::warn!(origin, reason, "refused a log-signed checkpoint: {refusal}; evidence kept");
        let mut last = self.last_evidence.lock().unwrap_or_else(|p| p.into_inner());
        let key = match *last {
            Some(Cursor(time, n)) if time >= now => Cursor(time, n + 1),
            _ => Cursor(now, 0),
        };
        let k = [b"E".as_slice(), &key.0.to_be_bytes(), &key.1.to_be_bytes()].concat();
        let mut batch = WriteBatch::default();
        batch.put(k, serde_json::to_vec(&e).map_err(|e| AddError::Store(e.to_string()))?);
        batch.put(seen, []);
        self.write(batch, sync)?;
        *last = Some(key);
        Ok(())
    }

    /// Evidence records, oldest first: at most `limit` after the cursor `after` (from the start
    /// without one).
    pub fn evidence(&self, after: Option<Cursor>, limit: usize) -> Result<Page<Evidence>> {
        self.page(b"E", after, limit, |_, v| serde_json::from_slice(v).context("an evidence record"))
    }

    /// Checkpoints cosigned for `origin`, oldest first: at most `limit` after the cursor `after`
    /// (from the start without one).
    /// `None` for an origin this witness does not witness.
    pub fn cosigned(&self, origin: &str, after: Option<Cursor>, limit: usize) -> Result<Option<Page<CosignedRecord>>> {
        if !self.logs.contains_key(origin) {
            return Ok(None);
        }
        self.page(&cosigned_prefix(origin), after, limit, |c, v| {
            Ok(CosignedRecord { size: c.0, timestamp: c.1, checkpoint: String::from_utf8_lossy(v).into_owned() })
        })
        .map(Some)
    }

    /// The records under `prefix` (each key: `prefix` ‖ two big-endian u64, the record's
    /// cursor) after `after`, at most `limit`, in key order; a read error is an error.
    fn page<T>(
        &self,
        prefix: &[u8],
        after: Option<Cursor>,
        limit: usize,
        record: impl Fn(Cursor, &[u8]) -> Result<T>,
    ) -> Result<Page<T>> {
        let start = match after {
            Some(Cursor(a, b)) => [prefix, &a.to_be_bytes(), &b.to_be_bytes()].concat(),
            None => prefix.to_vec(),
        };
        let mut records = Vec::new();
        let mut last = None;
        for item in self.db.iterator(IteratorMode::From(&start, Direction::Forward)) {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            let cursor = cursor_of(&k[prefix.len()..])
                .with_context(|| format!("a record key under {:?}", String::from_utf8_lossy(prefix)))?;
            if Some(cursor) == after {
                continue;
            }
            if records.len() == limit {
                return Ok(Page { records, next_after: last.map(|c: Cursor| c.to_string()) });
            }
            records.push(Paged { cursor: cursor.to_string(), record: record(cursor, &v)? });
            last = Some(cursor);
        }
        Ok(Page { records, next_after: None })
    }

    /// The logs witnessed and the latest checkpoint cosigned for each.
    pub fn logs(&self) -> Result<Vec<LogStatus>> {
        let mut out = Vec::new();
        let mut origins: Vec<&String> = self.logs.keys().collect();
        origins.sort();
        for origin in origins {
            let latest = self.latest(origin).map_err(|e| anyhow::anyhow!("{e}"))?;
            out.push(LogStatus {
                origin: origin.clone(),
                log_key: self.logs[origin].to_vkey(),
                size: latest.as_ref().map_or(0, |(l, _)| l.size),
                checkpoint: latest.map(|(_, n)| String::from_utf8_lossy(&n).into_owned()),
            });
        }
        Ok(out)
    }
}

/// One page of a monitoring read: the records, and the cursor of the last when more follow.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Page<T> {
    pub records: Vec<Paged<T>>,
    /// Pass as `after` for the next page; `null` on the last one (to read on later, pass the
    /// last record's `cursor`).
    pub next_after: Option<String>,
}

/// A record and its cursor (`A.B`): where a later read can go on from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Paged<T> {
    pub cursor: String,
    #[serde(flatten)]
    pub record: T,
}

/// The cursor in a record key's last 16 bytes (two big-endian u64).
fn cursor_of(rest: &[u8]) -> Result<Cursor> {
    anyhow::ensure!(rest.len() == 16, "corrupt: {} bytes after the prefix, not 16", rest.len());
    Ok(Cursor(u64::from_be_bytes(rest[..8].try_into()?), u64::from_be_bytes(rest[8..].try_into()?)))
}

/// Where a page starts: after the record with these two numbers (a cosigned checkpoint's size
/// and timestamp; an evidence record's time in ms and counter), written `A.B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub u64, pub u64);

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl std::str::FromStr for Cursor {
    type Err = String;
    fn from_str(s: &str) -> Result<Cursor, String> {
        let bad = || format!("after={s:?}: expected the next_after of the previous page, two numbers as A.B");
        let (a, b) = s.split_once('.').ok_or_else(bad)?;
        let num = |x: &str| x.bytes().all(|c| c.is_ascii_digit()).then(|| x.parse().ok()).flatten().ok_or_else(bad);
        Ok(Cursor(num(a)?, num(b)?))
    }
}

/// Most records on one page of `/v1/cosigned` or `/v1/evidence` (and the default).
pub const MAX_PAGE: usize = 1000;

/// A witnessed log and the latest checkpoint cosigned for it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LogStatus {
    pub origin: String,
    pub log_key: String,
    pub size: u64,
    pub checkpoint: Option<String>,
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn refused(e: AddError) -> Response {
    match e {
        AddError::Refused(WitnessError::Conflict { latest, .. }) => {
            text(StatusCode::CONFLICT, "text/x.tlog.size", format!("{latest}\n"))
        }
        AddError::Refused(WitnessError::Fork { size }) => {
            text(StatusCode::CONFLICT, "text/x.tlog.size", format!("{size}\n"))
        }
        AddError::Refused(r) => text(
            StatusCode::from_u16(r.status()).unwrap_or(StatusCode::BAD_REQUEST),
            "text/plain; charset=utf-8",
            format!("{r}\n"),
        ),
        AddError::Store(s) => {
            tracing::error!("witness storage: {s}");
            text(StatusCode::INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", "internal error\n".into())
        }
    }
}

async fn add_checkpoint(State(w): State<Arc<Witness>>, body: Bytes) -> Response {
    match tokio::task::spawn_blocking(move || w.add_checkpoint(&body)).await {
        Ok(Ok(line)) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], line).into_response(),
        Ok(Err(e)) => refused(e),
        Err(e) => refused(AddError::Store(e.to_string())),
    }
}

/// A monitoring read (a RocksDB scan) off the async workers, as JSON.
async fn read<T: serde::Serialize + Send + 'static>(
    w: Arc<Witness>,
    f: impl FnOnce(&Witness) -> Result<T> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(move || f(&w)).await {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => refused(AddError::Store(format!("{e:#}"))),
        Err(e) => refused(AddError::Store(e.to_string())),
    }
}

/// `?[origin=…][&after=A.B][&limit=N]`.
#[derive(serde::Deserialize)]
struct PageQuery {
    origin: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

impl PageQuery {
    /// The cursor and the limit, or what is wrong with them.
    fn parse(&self, needs_origin: bool) -> Result<(Option<Cursor>, usize), String> {
        if needs_origin && self.origin.is_none() {
            return Err("origin=… is missing: the origin of the log whose checkpoints to list".into());
        }
        let after = self.after.as_deref().map(str::parse).transpose()?;
        match self.limit.unwrap_or(MAX_PAGE) {
            limit @ 1..=MAX_PAGE => Ok((after, limit)),
            _ => Err(format!("limit must be 1 to {MAX_PAGE}")),
        }
    }
}

/// A page of records, or 400 with what is wrong with the query.
async fn paged<T: serde::Serialize + Send + 'static>(
    w: Arc<Witness>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
    needs_origin: bool,
    f: impl FnOnce(&Witness, &PageQuery, Option<Cursor>, usize) -> Result<Option<Page<T>>> + Send + 'static,
) -> Response {
    let bad = |m: String| text(StatusCode::BAD_REQUEST, "text/plain; charset=utf-8", format!("{m}\n"));
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return bad(format!("{e}: expected ?origin=, after=, limit=")),
    };
    let (after, limit) = match q.parse(needs_origin) {
        Ok(p) => p,
        Err(m) => return bad(m),
    };
    match tokio::task::spawn_blocking(move || f(&w, &q, after, limit)).await {
        Ok(Ok(Some(page))) => Json(page).into_response(),
        Ok(Ok(None)) => text(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "unknown origin\n".into()),
        Ok(Err(e)) => refused(AddError::Store(format!("{e:#}"))),
        Err(e) => refused(AddError::Store(e.to_string())),
    }
}

/// The witness's routes: `POST /add-checkpoint` (tlog-witness), and for monitors
/// `GET /v1/logs`, `GET /v1/cosigned?origin=…`, `GET /v1/evidence` (both paged: `after`,
/// `limit`), `GET /healthz`.
pub fn router(w: Arc<Witness>) -> Router {
    type Q = Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>;
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/v1/logs", get(|State(w): State<Arc<Witness>>| read(w, Witness::logs)))
        .route(
            "/v1/cosigned",
            get(|State(w): State<Arc<Witness>>, q: Q| {
                paged(w, q, true, |w, q, after, limit| {
                    w.cosigned(q.origin.as_deref().unwrap_or_default(), after, limit)
                })
            }),
        )
        .route(
            "/v1/evidence",
            get(|State(w): State<Arc<Witness>>, q: Q| {
                paged(w, q, false, |w, _, after, limit| w.evidence(after, limit).map(Some))
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(axum::middleware::from_fn_with_state(crate::http::REQUEST_TIMEOUT, crate::http::timeout))
        .with_state(w)
}

/// Serves a witness on `listener` until `shutdown` completes.
pub async fn serve(
    w: Arc<Witness>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    crate::http::serve(listener, router(w), crate::http::REQUEST_TIMEOUT, shutdown).await.context("witness")
}
