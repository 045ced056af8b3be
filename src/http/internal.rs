//! The internal append API (its own listener, loopback by default): `POST /v1/events`.
//!
//! The body is one submission `{"statement": …, "signature": …, "openings": […]}` or a JSON
//! array of them (a batch: all or nothing). Answers: `200` with [`Appended`] (the checkpoint
//! once, then one receipt per event, in order), or an RFC 9457 problem with a stable `code`:
//!
//! | status | code | when |
//! |---|---|---|
//! | 400 | `malformed_json` | the body is not JSON of that shape, or an empty batch |
//! | 401 | `unknown_key`, `revoked_key`, `bad_signature` | the signer is not accepted |
//! | 403 | `kind_not_allowed`, `genesis` | that key may not append that kind |
//! | 409 | `idempotency_conflict`, `key_conflict` | an idempotency key reused with other content |
//! | 413 | `too_large` | body over the limit, or an entry over 65,535 bytes |
//! | 415 | `unsupported_media_type` | not `application/json` |
//! | 422 | `invalid_event`, `bad_openings`, `outside_replay_window` | schema-invalid (names the field); created outside the replay window, and not a retry of an event already logged |
//! | 500 | `internal` | something failed unexpectedly (a bug); the detail says whether the batch may have been written; the server goes on |
//! | 408 | `timeout` | the body did not arrive whole within the request timeout (the connection is closed) |
//! | 503 | `saturated`, `storage`, `stopping`, `timeout` | too many events waiting, storage failed, the server is shutting down, or it did not answer within the request timeout (`Retry-After`) |
//!
//! `GET /v1/openings/{seq}`: the private-field openings of entry `seq`, for auditors only. The
//! request carries a `Vigil-Signature` header (`vigil_core::request`) by a key listed in the
//! configuration's `auditors`: without one, or with an unknown key, a bad signature or a
//! `created` outside the replay window, 401 (`unauthenticated`); a valid signature by a key that
//! is not an auditor's (a service key), 403 (`not_an_auditor`); 404 when the entry does not
//! exist or has no private fields.

use super::{Problem, ProblemBody};
use crate::engine::Receipt;
use crate::engine::{AppendError, Clock, Engine, RejectCode};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use utoipa_axum::{router::OpenApiRouter, routes};
use vigil_core::keys::VerifierKey;
use vigil_core::request::{RequestSignature, HEADER};
use vigil_core::statement::{ParsedSubmission, Submission};

/// The answer to an accepted batch: the signed checkpoint every receipt's inclusion proof
/// leads to, once (a batch is committed in one group, so its receipts share it), and one
/// receipt per event, in order. [`Appended::into_receipts`] makes each a whole [`Receipt`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Appended {
    pub checkpoint: String,
    pub receipts: Vec<BatchReceipt>,
}

/// A [`Receipt`] without the checkpoint its batch shares.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct BatchReceipt {
    pub seq: u64,
    /// Chain hash of the entry (BLAKE3, hex).
    pub entry_hash: String,
    /// RFC 6962 leaf hash of the entry (hex).
    pub leaf_hash: String,
    /// To the tree of the batch's checkpoint.
    pub inclusion_proof: vigil_core::merkle::InclusionProof,
    /// True when this idempotency key was appended before and the original entry is returned.
    pub duplicate: bool,
}

impl Appended {
    /// The engine's receipts of one batch (all to the same checkpoint; at least one).
    pub fn from_receipts(receipts: Vec<Receipt>) -> Appended {
        let checkpoint = receipts.first().map(|r| r.checkpoint.clone()).unwrap_or_default();
        debug_assert!(receipts.iter().all(|r| r.checkpoint == checkpoint), "one group, one checkpoint");
        let receipts = receipts
            .into_iter()
            .map(|r| BatchReceipt {
                seq: r.seq,
                entry_hash: r.entry_hash,
                leaf_hash: r.leaf_hash,
                inclusion_proof: r.inclusion_proof,
                duplicate: r.duplicate,
            })
            .collect();
        Appended { checkpoint, receipts }
    }

    /// Each receipt whole, with the checkpoint: what a client keeps per event.
    pub fn into_receipts(self) -> Vec<Receipt> {
        let Appended { checkpoint, receipts } = self;
        receipts
            .into_iter()
            .map(|r| Receipt {
                seq: r.seq,
                entry_hash: r.entry_hash,
                leaf_hash: r.leaf_hash,
                checkpoint: checkpoint.clone(),
                inclusion_proof: r.inclusion_proof,
                duplicate: r.duplicate,
            })
            .collect()
    }
}

/// Largest request body.
pub const MAX_BODY: usize = 4 << 20;
/// Most events in one request.
pub const MAX_BATCH: usize = vigil_core::config::MAX_BATCH;

#[derive(Clone)]
pub struct InternalState {
    pub engine: Arc<Engine>,
    pub clock: Arc<dyn Clock>,
    /// How far `created_at_ms` may be from the server's clock, either way.
    pub replay_window_ms: u64,
    /// Events accepted for processing and not answered yet, and the most allowed.
    pub in_flight: Arc<AtomicUsize>,
    pub max_in_flight: usize,
    /// Keys that may read openings.
    pub auditors: Arc<Vec<VerifierKey>>,
}

/// The internal router with metrics of its own (tests, embedding).
pub fn router(state: InternalState) -> Router {
    let (_, _, http) = crate::metrics::Metrics::new(state.engine.metrics());
    router_with(state, http, super::REQUEST_TIMEOUT)
}

/// The internal router recording its requests in `http`.
pub fn router_with(
    state: InternalState,
    http: crate::metrics::HttpMetrics,
    request_timeout: std::time::Duration,
) -> Router {
    let (routes, _) = api().split_for_parts();
    // The body limit is `read_body`'s (the append route reads the raw body).
    let routes = routes.layer(axum::Extension(RequestTimeout(request_timeout)));
    super::with_fallbacks(routes.with_state(state))
        .layer(axum::middleware::from_fn_with_state(request_timeout, super::timeout))
        .layer(axum::middleware::from_fn_with_state(http, crate::metrics::track))
}

/// The documented routes of the internal API (router and OpenAPI paths from one annotation).
pub(crate) fn api() -> OpenApiRouter<InternalState> {
    OpenApiRouter::new().routes(routes!(append)).routes(routes!(openings)).routes(routes!(healthz))
}

/// Whether the ledger accepts appends: 503 with the storage failure that stopped it (a full
/// disk, say) until it has recovered. (The public listener's `/healthz` answers 200 `ok`
/// while it serves.)
#[utoipa::path(get, path = "/healthz", tag = "internal", responses(
    (status = 200, description = "ok", body = String, content_type = "text/plain"),
    (status = 503, description = "appends are refused after a storage failure, named in the body", body = String, content_type = "text/plain"),
))]
async fn healthz(State(s): State<InternalState>) -> Response {
    match s.engine.failure() {
        None => "ok\n".into_response(),
        Some(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("storage failure: {e}\n")).into_response(),
    }
}

fn reject_problem(index: usize, code: RejectCode, reason: &str) -> Problem {
    let (status, name) = match code {
        RejectCode::UnknownKey => (StatusCode::UNAUTHORIZED, "unknown_key"),
        RejectCode::RevokedKey => (StatusCode::UNAUTHORIZED, "revoked_key"),
        RejectCode::BadSignature => (StatusCode::UNAUTHORIZED, "bad_signature"),
        RejectCode::KindNotAllowed => (StatusCode::FORBIDDEN, "kind_not_allowed"),
        RejectCode::Genesis => (StatusCode::FORBIDDEN, "genesis"),
        RejectCode::IdempotencyConflict => (StatusCode::CONFLICT, "idempotency_conflict"),
        RejectCode::KeyConflict => (StatusCode::CONFLICT, "key_conflict"),
        RejectCode::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        RejectCode::InvalidEvent => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_event"),
        RejectCode::BadOpenings => (StatusCode::UNPROCESSABLE_ENTITY, "bad_openings"),
        RejectCode::OutsideReplayWindow => (StatusCode::UNPROCESSABLE_ENTITY, "outside_replay_window"),
    };
    Problem::new(status, name, format!("event {index}: {reason}; nothing of the batch was written"))
}

fn saturated() -> Response {
    unavailable("saturated", "the sequencer is saturated; retry shortly".into())
}

fn unavailable(code: &'static str, detail: String) -> Response {
    let mut r = Problem::new(StatusCode::SERVICE_UNAVAILABLE, code, detail).into_response();
    r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    r
}

/// Releases the in-flight count when the request ends, however it ends.
struct InFlight(Arc<AtomicUsize>, usize);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Ordering::SeqCst);
    }
}

/// Appends one signed submission or a batch (a JSON array, all or nothing). Every event is
/// signed by its service's key; new events created further than the replay window from the
/// server's clock are refused; a repeated idempotency key is answered with the original receipt
/// (however late: a retry is not a replay, it writes nothing).
#[utoipa::path(post, path = "/v1/events", tag = "internal",
    request_body(content = Vec<Submission>, description = "a submission, or an array of up to 1000", content_type = "application/json"),
    responses(
        (status = 200, description = "the checkpoint, then one receipt per event, in order", body = Appended),
        (status = 400, description = "malformed_json; bad_request (the body could not be read)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unknown_key, revoked_key, bad_signature", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "kind_not_allowed, genesis", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "idempotency_conflict, key_conflict", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "too_large", body = ProblemBody, content_type = "application/problem+json"),
        (status = 408, description = "timeout (the body did not arrive whole within the request timeout)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "invalid_event, bad_openings, outside_replay_window", body = ProblemBody, content_type = "application/problem+json"),
        (status = 500, description = "internal", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "saturated, storage, stopping, timeout (not answered within the request timeout; with Retry-After)", body = ProblemBody, content_type = "application/problem+json"),
    ))]
async fn append(
    State(s): State<InternalState>,
    axum::Extension(RequestTimeout(limit)): axum::Extension<RequestTimeout>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let body = match read_body(&headers, body, limit).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // A request no retry can mend is refused as such, saturated or not: the content type (a
    // header, at no cost) first.
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !is_json(ct) {
        return Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("content type {ct:?}: send application/json (UTF-8)"),
        )
        .into_response();
    }
    // Saturated already: said before the body is parsed (it is counted in below). Not before
    // it is read: a client still writing its body when the connection closes under it reads no
    // answer at all, and would not know to wait and retry.
    if s.in_flight.load(Ordering::SeqCst) >= s.max_in_flight {
        return saturated();
    }
    match append_inner(&s, &body).await {
        Ok(r) => r,
        Err(r) => r,
    }
}

/// The listener's request timeout, for what goes on after a request is answered.
#[derive(Clone, Copy)]
struct RequestTimeout(std::time::Duration);

/// The most of a body over the limit that is read (and dropped) after its 413 is answered.
pub const DRAIN_MAX: u64 = 4 * MAX_BODY as u64;

/// The request body, at most [`MAX_BODY`] bytes, or the answer to send instead. A body over
/// the limit (announced by `Content-Length` or found while reading) is answered 413 at once,
/// and the rest of it is read and dropped in the background, up to [`DRAIN_MAX`] bytes in all
/// and for at most the request timeout `limit`: a client that writes its whole body before it
/// reads the answer (most do, without `Expect: 100-continue`) then reads the 413, where a
/// connection closed under it would give a broken pipe and no answer. A body announced over
/// `DRAIN_MAX`, or one whose client waits for `100 Continue` and has not had it, is not read
/// on: its connection is closed after the answer.
async fn read_body(
    headers: &HeaderMap,
    mut body: axum::body::Body,
    limit: std::time::Duration,
) -> Result<axum::body::Bytes, Response> {
    use http_body_util::BodyExt;
    let announced =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let too_large = |mut body: axum::body::Body, mut read: u64| {
        let expects_continue = headers
            .get(header::EXPECT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
        // A client waiting for `100 Continue` sends nothing more; one that had it (hyper sends it
        // when the body is first read) is writing its body.
        if (read > 0 || !expects_continue) && announced.is_none_or(|n| n <= DRAIN_MAX) {
            tokio::spawn(async move {
                let drain = async {
                    while let Some(Ok(frame)) = body.frame().await {
                        read += frame.data_ref().map_or(0, |d| d.len() as u64);
                        if read > DRAIN_MAX {
                            break;
                        }
                    }
                };
                let _ = tokio::time::timeout(limit, drain).await;
            });
        }
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is over the limit of {MAX_BODY} bytes; send smaller batches"),
        )
        .into_response()
    };
    if announced.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large(body, 0));
    }
    // Sized for the usual batch at once, but not reserved whole for what is only announced.
    let mut bytes = Vec::with_capacity(announced.unwrap_or(0).min(256 << 10) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Problem::bad_request(format!("could not read the body: {e}")).into_response())?;
        if let Some(data) = frame.data_ref() {
            if bytes.len() + data.len() > MAX_BODY {
                return Err(too_large(body, (bytes.len() + data.len()) as u64));
            }
            bytes.extend_from_slice(data);
        }
    }
    Ok(bytes.into())
}

/// `application/json` (media types are case-insensitive), with no charset but UTF-8: the body
/// is read as UTF-8, so a body declared in another charset would be read as something else.
fn is_json(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/json")
        && parts.all(|p| match p.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
                v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            }
            _ => true,
        })
}

async fn append_inner(s: &InternalState, body: &[u8]) -> Result<Response, Response> {
    // A body without a fault is read in one typed pass; any other is read again the careful
    // way, which names what is wrong.
    let fast = vigil_core::statement::parse_body_fast(body).filter(|subs| (1..=MAX_BATCH).contains(&subs.len()));
    let subs = match fast {
        Some(subs) => subs,
        None => parse_body(body).map_err(IntoResponse::into_response)?,
    };
    // Created too far from the server's clock: refused unless it is a retry of an event already
    // logged, which the sequencer answers with its receipt (a retry after a lost answer must
    // not read as "nothing was written").
    let now = s.clock.now_ms();
    let stale: Vec<(usize, String)> = subs
        .iter()
        .enumerate()
        .filter(|(_, p)| p.statement.created_at_ms.abs_diff(now) > s.replay_window_ms)
        .map(|(i, p)| {
            let at = p.statement.created_at_ms;
            let w = s.replay_window_ms;
            (i, format!("created_at_ms {at} is more than {w} ms from the server's clock ({now}), and it is not a retry of an event already logged"))
        })
        .collect();
    let n = subs.len();
    if s.in_flight.fetch_add(n, Ordering::SeqCst) + n > s.max_in_flight {
        s.in_flight.fetch_sub(n, Ordering::SeqCst);
        return Err(saturated());
    }
    let guard = InFlight(s.in_flight.clone(), n);
    // Signature checks are CPU work: off the async executor's threads, on the engine's
    // verifier threads, with the batches of concurrent requests.
    let result = match s.engine.verify_coalesced(subs).await {
        // The append runs in a task of its own that holds the count until the engine answers:
        // a client that times out or goes away leaves its batch in the sequencer's queue, where
        // it must still count against `max_in_flight`.
        Ok(mut v) => {
            for (i, why) in stale {
                v[i].only_as_a_retry(why);
            }
            let engine = s.engine.clone();
            let append = tokio::spawn(async move {
                let r = engine.append_verified(v).await;
                drop(guard);
                r
            });
            append.await.unwrap_or(Err(AppendError::Unanswered("the append failed unexpectedly")))
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(receipts) => Ok(Json(Appended::from_receipts(receipts)).into_response()),
        Err(AppendError::Rejected { index, code, reason }) => Err(reject_problem(index, code, &reason).into_response()),
        Err(AppendError::Empty) => {
            Err(Problem::new(StatusCode::BAD_REQUEST, "malformed_json", "empty batch").into_response())
        }
        Err(e @ AppendError::Storage(_)) => {
            tracing::error!("append failed: {e}");
            Err(unavailable("storage", format!("the ledger cannot write right now: {e}")))
        }
        Err(e @ (AppendError::Internal(_) | AppendError::Unanswered(_))) => {
            tracing::error!("append failed: {e}");
            Err(Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("{e}; retrying with the same idempotency keys is safe"),
            )
            .into_response())
        }
        Err(e @ AppendError::Closed) => {
            tracing::error!("append failed: {e}");
            Err(unavailable(
                "stopping",
                format!("the ledger is stopping ({e}): the batch was not acknowledged and may or may not have been written; retry with the same idempotency keys"),
            ))
        }
    }
}

/// The careful way of reading a body of submissions ([`vigil_core::statement::parse_body`]):
/// each fault named, with its event's index, the first in the body first.
fn parse_body(body: &[u8]) -> Result<Vec<ParsedSubmission>, Problem> {
    use vigil_core::statement::BodyError;
    vigil_core::statement::parse_body(body, MAX_BATCH).map_err(|e| {
        let (status, code) = match e {
            BodyError::Malformed(_) | BodyError::Empty { .. } => (StatusCode::BAD_REQUEST, "malformed_json"),
            BodyError::TooMany { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            BodyError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_event"),
        };
        Problem::new(status, code, e.to_string())
    })
}

/// The openings of an entry's private fields.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct OpeningsView {
    pub seq: u64,
    pub openings: Vec<vigil_core::event::Opening>,
}

/// The private-field openings of an entry, for auditors: the request must carry a
/// `Vigil-Signature` header by an auditor's key (docs/FORMAT.md §3.7).
#[utoipa::path(get, path = "/v1/openings/{seq}", tag = "internal",
    params(
        ("seq" = u64, Path, description = "sequence number"),
        ("vigil-signature" = String, Header, description = "keyid=<name+hexid>;created=<unix ms>;sig=<base64>"),
    ),
    responses(
        (status = 200, body = OpeningsView),
        (status = 400, description = "bad_request: not a sequence number", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "unauthenticated", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "not_an_auditor", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "no such entry, or no private fields", body = ProblemBody, content_type = "application/problem+json"),
    ))]
async fn openings(
    State(s): State<InternalState>,
    super::PathOf(seq): super::PathOf<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let unauthenticated = |d: String| Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", d);
    let header = headers
        .get(HEADER)
        .ok_or_else(|| unauthenticated(format!("openings are for auditors: sign the request ({HEADER} header)")))?
        .to_str()
        .map_err(|_| unauthenticated(format!("the {HEADER} header is not ASCII")))?;
    let sig = RequestSignature::parse(header).map_err(|e| unauthenticated(format!("{HEADER}: {e}")))?;
    let now = s.clock.now_ms();
    if sig.created_ms.abs_diff(now) > s.replay_window_ms {
        return Err(unauthenticated(format!(
            "{HEADER}: created {} is more than {} ms from the server's clock ({now})",
            sig.created_ms, s.replay_window_ms
        )));
    }
    let path = uri.path();
    if let Some(k) = s.auditors.iter().find(|k| k.key_ref == sig.key) {
        if !sig.verify(k, "GET", path) {
            return Err(unauthenticated(format!("{HEADER}: the signature by {} does not verify", sig.key)));
        }
    } else {
        let head = s.engine.head();
        return Err(match head.registry.get(&sig.key) {
            Some(r) if sig.verify(&r.key, "GET", path) => Problem::new(
                StatusCode::FORBIDDEN,
                "not_an_auditor",
                format!("{} is a service key, not an auditor's: openings are for auditors", sig.key),
            ),
            _ => unauthenticated(format!("{HEADER}: unknown key {} or bad signature", sig.key)),
        });
    }
    let seq = super::parse_seq(&seq)?;
    let size = s.engine.head().state.size;
    if seq >= size {
        return Err(Problem::not_found(format!("entry {seq} does not exist; the log has {size} entries")));
    }
    let json = s
        .engine
        .store()
        .openings(seq)
        .map_err(Problem::internal)?
        .ok_or_else(|| Problem::not_found(format!("entry {seq} has no private fields")))?;
    let openings: Vec<vigil_core::event::Opening> = serde_json::from_slice(&json).map_err(Problem::internal)?;
    tracing::info!(auditor = %sig.key, seq, "openings read");
    Ok(Json(OpeningsView { seq, openings }).into_response())
}
