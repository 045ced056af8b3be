//! The public, read-only API: checkpoints, C2SP tlog-tiles, entries and proofs.
//!
//! **Architecture Invariant:** no route here writes; everything is bounded by the published
//! head, so nothing beyond the latest durable checkpoint is ever served.

use super::ProblemBody;
use super::{PathOf, Problem};
use crate::engine::Engine;
use crate::metrics::{HttpMetrics, Metrics};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use vigil_core::entry::Entry;
use vigil_core::event::{Event, EventKind};
use vigil_core::facts;
use vigil_core::hash::chain_hash;
use vigil_core::merkle::{leaf_hash, ConsistencyProof, InclusionProof, TilePath, TILE_WIDTH};
use vigil_core::statement::Statement;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const SHORT: &str = "public, max-age=1";

/// The public router with metrics of its own (tests, embedding), serving proof-of-reserves
/// proofs from the trees under `reserves_dir` (none without it).
pub fn router(engine: Arc<Engine>, reserves_dir: Option<std::path::PathBuf>) -> Router {
    let (metrics, http, _) = Metrics::new(engine.metrics());
    let site = Arc::new(Site { trees: Trees::new(reserves_dir), web: None, witnessing: None, internal: None });
    router_with(engine, metrics, http, site, super::REQUEST_TIMEOUT)
}

/// What the public listener serves besides the log: the liabilities trees, and the web page
/// (`web/`: `index.html` with the log's verifier key pinned in it, `app.js`, `style.css`, and
/// `vigil.wasm`, the core built for the browser by `build_wasm` in `scripts/setup.sh`).
pub struct Site {
    pub trees: Trees,
    pub web: Option<Web>,
    /// With witnesses configured: the checkpoint served is the newest witnessed one.
    pub witnessing: Option<Arc<crate::witnessing::Witnessing>>,
    /// Where the internal listener is, for the OpenAPI document (none: its default address).
    pub internal: Option<std::net::SocketAddr>,
}

impl Site {
    /// The checkpoint every view is stated against: the newest one the witness policy accepts,
    /// or without witnesses the log's latest. Proofs and tiles reach up to the latest anyway.
    pub fn published(&self, engine: &Engine) -> Arc<crate::witnessing::Published> {
        self.witnessing.as_ref().and_then(|w| w.published()).unwrap_or_else(|| {
            let head = engine.head();
            Arc::new(crate::witnessing::Published {
                size: head.state.size,
                note: head.checkpoint.clone(),
                cosignatures: 0,
                round: 0,
            })
        })
    }
}

pub struct Web {
    pub dir: std::path::PathBuf,
    /// The log's verifier key, pinned in the page.
    pub log_vkey: String,
}

/// The snapshots' liabilities trees, opened (read-only) on first use and kept open.
pub struct Trees {
    dir: Option<std::path::PathBuf>,
    open: std::sync::Mutex<std::collections::HashMap<String, Arc<crate::reserves::Tree>>>,
}

impl Trees {
    pub fn new(dir: Option<std::path::PathBuf>) -> Trees {
        Trees { dir, open: Default::default() }
    }

    /// The tree of the snapshot `logged`, which must be the one its entry names (root and
    /// padded size): its proofs are cached as immutable, so a tree put in its place by mistake
    /// must not answer at all. Only the right tree is kept open; a wrong one replaced by the
    /// right one is read on the next request.
    fn get(&self, logged: &SnapshotSummary) -> Result<Arc<crate::reserves::Tree>, Problem> {
        let snapshot = logged.snapshot.as_str();
        if let Some(t) = self.open.lock().expect("trees lock").get(snapshot) {
            return Ok(t.clone());
        }
        let dir = self.dir.as_ref().ok_or_else(|| Problem::not_found("this server keeps no liabilities trees"))?;
        let path = crate::reserves::tree_dir(dir, snapshot);
        if !path.exists() {
            return Err(Problem::not_found(format!("this server has no liabilities tree for snapshot {snapshot:?}")));
        }
        let tree = Arc::new(crate::reserves::Tree::open(&path).map_err(Problem::internal)?);
        if tree.meta.snapshot != snapshot {
            return Err(Problem::internal(format!("{} holds snapshot {:?}", path.display(), tree.meta.snapshot)));
        }
        if tree.meta.root != logged.liabilities_root || tree.meta.padded_size() != logged.padded_size {
            return Err(Problem::internal(format!(
                "the liabilities tree at {} (root {}) is not the one entry {} names (root {})",
                path.display(),
                tree.meta.root,
                logged.seq,
                logged.liabilities_root
            )));
        }
        self.open.lock().expect("trees lock").insert(snapshot.to_string(), tree.clone());
        Ok(tree)
    }
}

/// The public router serving `metrics` at `/metrics`, the OpenAPI document of both APIs at
/// `/openapi.json`, and recording its requests in `http`. CORS is open for reads (any origin,
/// GET and HEAD): the data is public, and browsers verify it.
pub fn router_with(
    engine: Arc<Engine>,
    metrics: Arc<Metrics>,
    http: HttpMetrics,
    site: Arc<Site>,
    request_timeout: std::time::Duration,
) -> Router {
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([axum::http::Method::GET, axum::http::Method::HEAD]);
    let spec = Arc::new(super::openapi::spec(site.internal));
    let engine_for_metrics = engine.clone();
    let (routes, _) = api().split_for_parts();
    let routes = routes
        // tlog-tiles paths carry slashes; documented by `tile`'s annotation.
        .route("/tile/{*path}", get(tile))
        .with_state(engine)
        .route("/", get(page))
        // The page's own files by exact name: any other path is the fallback's "no such route".
        .route("/app.js", get(|site| page_file(site, "app.js", "text/javascript; charset=utf-8")))
        .route("/style.css", get(|site| page_file(site, "style.css", "text/css; charset=utf-8")))
        .route("/vigil.wasm", get(|site| page_file(site, "vigil.wasm", "application/wasm")))
        .layer(axum::Extension(site))
        .layer(axum::Extension(Arc::new(Summaries::default())))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi_json))
        .layer(axum::Extension(MetricsSource(metrics, engine_for_metrics)))
        .layer(axum::Extension(spec));
    super::with_fallbacks(routes)
        .layer(axum::middleware::from_fn_with_state(request_timeout, super::timeout))
        .layer(axum::middleware::from_fn_with_state(http, crate::metrics::track))
        .layer(cors)
}

/// What `/metrics` renders: the process's counters and the store's figures.
#[derive(Clone)]
pub(crate) struct MetricsSource(Arc<Metrics>, Arc<Engine>);

/// Prometheus/OpenMetrics text: appends, batch sizes, fsync latency, checkpoint size, HTTP
/// requests by route and status, RocksDB figures.
#[utoipa::path(get, path = "/metrics", tag = "public", responses(
    (status = 200, description = "the metrics", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
))]
pub(crate) async fn metrics_text(
    axum::Extension(MetricsSource(metrics, engine)): axum::Extension<MetricsSource>,
) -> Response {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        metrics.render_with(&engine.store()),
    )
        .into_response()
}

/// This document: the OpenAPI 3.1 description of both APIs.
#[utoipa::path(get, path = "/openapi.json", tag = "public", responses(
    (status = 200, description = "the OpenAPI document", body = Object, content_type = "application/json"),
))]
pub(crate) async fn openapi_json(
    axum::Extension(spec): axum::Extension<Arc<utoipa::openapi::OpenApi>>,
) -> Json<utoipa::openapi::OpenApi> {
    Json(spec.as_ref().clone())
}

/// The documented routes of the public API: the router and its OpenAPI paths come from the same
/// annotations, so they cannot drift apart.
pub(crate) fn api() -> OpenApiRouter<Arc<Engine>> {
    OpenApiRouter::new()
        .routes(routes!(checkpoint))
        .routes(routes!(entries))
        .routes(routes!(entry))
        .routes(routes!(safu))
        .routes(routes!(incidents))
        .routes(routes!(incident))
        .routes(routes!(reserves))
        .routes(routes!(reserve_snapshot))
        .routes(routes!(reserve_proof))
        .routes(routes!(inclusion))
        .routes(routes!(consistency))
        .routes(routes!(healthz))
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "public", responses((status = 200, description = "ok", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// The latest signed checkpoint: exactly the C2SP tlog-checkpoint signed note, with the
/// witnesses' cosignatures when witnesses are configured (then the newest checkpoint that has
/// the policy's quorum of them).
#[utoipa::path(get, path = "/checkpoint", tag = "public", responses(
    (status = 200, description = "the signed note", body = String, content_type = "text/plain; charset=utf-8"),
    (status = 404, description = "the log has no checkpoint yet", body = ProblemBody, content_type = "application/problem+json"),
))]
async fn checkpoint(
    State(engine): State<Arc<Engine>>,
    axum::Extension(site): axum::Extension<Arc<Site>>,
) -> Result<Response, Problem> {
    let published = site.published(&engine);
    if published.note.is_empty() {
        return Err(Problem::not_found("the log has no checkpoint yet"));
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        published.note.clone(),
    )
        .into_response())
}

/// C2SP tlog-tiles: a hash tile `tile/{L}/{N}[.p/{W}]` or an entry bundle
/// `tile/entries/{N}[.p/{W}]` (each entry prefixed by its uint16 big-endian length). Full tiles
/// are immutable (`Cache-Control: immutable`), partial ones short-lived.
#[utoipa::path(get, path = "/tile/{path}", tag = "public",
    params(("path" = String, Path, description = "a tlog-tiles path, e.g. 0/x001/234.p/7 or entries/000")),
    responses(
        (status = 200, description = "the tile's bytes", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 400, description = "bad_request: the path does not decode (percent-encoding that is not UTF-8)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "not a tlog-tiles path, or beyond the log's tree", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub(crate) async fn tile(
    State(engine): State<Arc<Engine>>,
    uri: axum::http::Uri,
    PathOf(path): PathOf<String>,
) -> Result<Response, Problem> {
    // One spelling per tile: a percent-encoded one (`%2F` for `/`, decoded by the router) is
    // not a tlog-tiles path, and must not be cached as another name of an immutable tile.
    let not_tile = || Problem::not_found(format!("tile/{path} is not a tlog-tiles path"));
    if uri.path().contains('%') {
        return Err(not_tile());
    }
    let TilePath { entries: is_data, level, index, width } = TilePath::parse(&path).ok_or_else(not_tile)?;
    let size = engine.head().state.size;
    // Hashes at tree level 8·level that exist in the log's tree.
    let available = size.checked_shr(8 * u32::from(level)).unwrap_or(0);
    let start = index.checked_mul(TILE_WIDTH).ok_or_else(|| Problem::not_found("no such tile"))?;
    if start.saturating_add(width) > available {
        return Err(Problem::not_found(format!("tile/{path} is beyond the log's tree of size {size}")));
    }
    let body = if is_data {
        // Up to 256 entries of up to 64 KiB: a scan, off the async workers (which also serve
        // the internal API), as the summaries are. A hash tile is one key of at most 8 KiB.
        blocking(move || {
            let mut out = Vec::new();
            let mut expected = start;
            for r in engine.store().entries(start, start + width) {
                let (seq, e) = r.map_err(Problem::internal)?;
                if seq != expected {
                    return Err(Problem::internal(format!("entry {expected} missing")));
                }
                out.extend_from_slice(&(e.len() as u16).to_be_bytes());
                out.extend_from_slice(&e);
                expected += 1;
            }
            if expected != start + width {
                return Err(Problem::internal(format!("entry {expected} missing")));
            }
            Ok(out)
        })
        .await?
    } else {
        let data = engine
            .store()
            .tile_bytes(level, index)
            .map_err(Problem::internal)?
            .ok_or_else(|| Problem::internal(format!("tile {level}/{index} missing")))?;
        let want = (width * 32) as usize;
        if data.len() < want {
            return Err(Problem::internal(format!("tile {level}/{index} is shorter than its width")));
        }
        data[..want].to_vec()
    };
    let cache = if width == TILE_WIDTH { IMMUTABLE } else { SHORT };
    Ok(([(header::CONTENT_TYPE, "application/octet-stream"), (header::CACHE_CONTROL, cache)], body).into_response())
}

/// An entry of the log, decoded.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    pub seq: u64,
    /// Sequencer time, Unix milliseconds.
    pub time_ms: u64,
    /// Chain hash of the previous entry (hex).
    pub prev: String,
    /// BLAKE3 chain hash of this entry (hex).
    pub entry_hash: String,
    /// RFC 6962 leaf hash (hex).
    pub leaf_hash: String,
    /// The service's Ed25519 signature (hex).
    pub signature: String,
    /// The signed statement (docs/FORMAT.md §3).
    #[schema(value_type = Object)]
    pub statement: serde_json::Value,
    /// The entry's bytes (hex), what the hashes are computed over.
    pub bytes: String,
}

/// One entry, decoded to JSON, with its bytes and hashes.
#[utoipa::path(get, path = "/v1/entries/{seq}", tag = "public",
    params(("seq" = u64, Path, description = "sequence number")),
    responses(
        (status = 200, body = EntryView),
        (status = 400, description = "not a sequence number", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "beyond the log", body = ProblemBody, content_type = "application/problem+json"),
    ))]
async fn entry(State(engine): State<Arc<Engine>>, PathOf(seq): PathOf<String>) -> Result<Json<EntryView>, Problem> {
    let seq = super::parse_seq(&seq)?;
    let size = engine.head().state.size;
    if seq >= size {
        return Err(Problem::not_found(format!("entry {seq} does not exist; the log has {size} entries")));
    }
    entry_view(&engine, seq).map(Json)
}

fn entry_view(engine: &Engine, seq: u64) -> Result<EntryView, Problem> {
    view(&read(engine, seq)?)
}

/// The stored bytes of entry `seq` (below the log's size, so it must exist).
fn read(engine: &Engine, seq: u64) -> Result<Vec<u8>, Problem> {
    engine
        .store()
        .entry(seq)
        .map_err(Problem::internal)?
        .ok_or_else(|| Problem::internal(format!("entry {seq} missing")))
}

fn view(bytes: &[u8]) -> Result<EntryView, Problem> {
    let e = Entry::decode_header(bytes).map_err(Problem::internal)?;
    let statement: serde_json::Value = serde_json::from_slice(&e.statement_bytes).map_err(Problem::internal)?;
    Ok(EntryView {
        seq: e.seq,
        time_ms: e.time_ms,
        prev: e.prev.to_hex(),
        entry_hash: chain_hash(bytes).to_hex(),
        leaf_hash: leaf_hash(bytes).to_hex(),
        signature: hex::encode(e.signature),
        statement,
        bytes: hex::encode(bytes),
    })
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only entries of this kind.
    kind: Option<String>,
    /// Only entries naming this incident (with `kind`: the entries of that kind naming it).
    incident: Option<String>,
    /// Only entries after this sequence number.
    after: Option<u64>,
    /// At most this many (1 to 1000, default 100).
    limit: Option<usize>,
}

/// A page of entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntriesPage {
    pub entries: Vec<EntryView>,
    /// Pass as `after` for the next page; `null` on the last one. Filtered by both kind and
    /// incident, a page whose search ran out of steps ends where the search got to: then this
    /// may be past the page's last entry, and the page may be empty.
    pub next_after: Option<u64>,
}

/// Most entries one page lists.
const MAX_PAGE: usize = 1000;
/// A page ends at the entry that brings its entries' bytes to this (its JSON, with each entry's
/// bytes in hex and its statement decoded, is about three times as large).
pub const MAX_PAGE_BYTES: usize = 1 << 20;

/// Most steps (two index seeks each) of the search of one page filtered by both kind and
/// incident (a leapfrog join of the two indexes,
/// [`crate::store::Store::by_kind_and_incident`]): a page that runs out of them ends early, with
/// `next_after` where the join got to. A router may be given another bound ([`JoinSteps`]).
pub const MAX_JOIN_STEPS: usize = 8 * MAX_PAGE;

/// The bound on a page's join steps, when a router is given one other than
/// [`MAX_JOIN_STEPS`] (as an `axum::Extension`; the tests reach the bound with a few entries).
#[derive(Debug, Clone, Copy)]
pub struct JoinSteps(pub usize);

/// A page of entries in log order, filtered by kind, incident or both, after a sequence number.
#[utoipa::path(get, path = "/v1/entries", tag = "public", params(ListQuery), responses(
    (status = 200, body = EntriesPage),
    (status = 400, description = "a bad filter or limit", body = ProblemBody, content_type = "application/problem+json"),
))]
async fn entries(
    State(engine): State<Arc<Engine>>,
    steps: Option<axum::Extension<JoinSteps>>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EntriesPage>, Problem> {
    let steps = steps.map_or(MAX_JOIN_STEPS, |s| s.0 .0);
    let Query(q) = q.map_err(|e| Problem::bad_request(format!("{e}: expected kind=, incident=, after=, limit=")))?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(Problem::bad_request(format!("limit must be 1 to {MAX_PAGE}")));
    }
    let size = engine.head().state.size;
    // One more than the page: whether it exists says whether this page is the last.
    let probe = limit + 1;
    if let Some(k) = q.kind.as_ref().filter(|k| EventKind::parse(k).is_none()) {
        return Err(Problem::bad_request(format!("unknown kind {k:?}")));
    }
    // An id is never empty: `?incident=` is a mistake, not a filter that matches nothing.
    if q.incident.as_ref().is_some_and(|i| i.is_empty()) {
        return Err(Problem::bad_request("incident= names no incident"));
    }
    blocking(move || {
        let store = engine.store();
        // The page's candidates; with both filters, where the join stopped if it ran out of
        // steps.
        let (mut seqs, joined_to) = match (&q.kind, &q.incident) {
            (Some(k), Some(i)) => store.by_kind_and_incident(k, i, q.after, probe, steps).map_err(Problem::internal)?,
            (Some(k), None) => (store.by_kind(k, q.after, probe).map_err(Problem::internal)?, None),
            (None, Some(i)) => (store.by_incident(i, q.after, probe).map_err(Problem::internal)?, None),
            (None, None) => {
                let from = q.after.map_or(0, |a| a.saturating_add(1));
                ((from..size.min(from.saturating_add(probe as u64))).collect(), None)
            }
        };
        drop(store);
        seqs.retain(|&s| s < size);
        // A join that got past the published head has seen every published match.
        let joined_to = joined_to.filter(|&j| j < size);
        let mut more = seqs.len() > limit;
        seqs.truncate(limit);
        // A page also ends once its entries hold MAX_PAGE_BYTES (entries may be up to 64 KiB):
        // the next page starts after the last one given.
        let (mut entries, mut bytes) = (Vec::with_capacity(seqs.len()), 0);
        for (i, &seq) in seqs.iter().enumerate() {
            let raw = read(&engine, seq)?;
            bytes += raw.len();
            entries.push(view(&raw)?);
            if bytes >= MAX_PAGE_BYTES && i + 1 < seqs.len() {
                more = true;
                break;
            }
        }
        let next_after = match joined_to {
            // Every match up to it is on this page (the join stops at `limit + 1` matches, so
            // a page cut short by its bytes was cut before it).
            Some(j) if !more => Some(j),
            _ => entries.last().map(|e| e.seq).filter(|_| more),
        };
        Ok(Json(EntriesPage { entries, next_after }))
    })
    .await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    /// The entry's sequence number.
    seq: u64,
    /// Tree size of the checkpoint to prove against (default: the one `/checkpoint` serves).
    size: Option<u64>,
}

/// Inclusion proof of an entry in a published tree (RFC 9162 §2.1.3).
#[utoipa::path(get, path = "/v1/proofs/inclusion", tag = "public", params(InclusionQuery), responses(
    (status = 200, body = InclusionProof),
    (status = 400, description = "bad parameters", body = ProblemBody, content_type = "application/problem+json"),
    (status = 404, description = "no such entry in that tree", body = ProblemBody, content_type = "application/problem+json"),
))]
async fn inclusion(
    State(engine): State<Arc<Engine>>,
    axum::Extension(site): axum::Extension<Arc<Site>>,
    q: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<InclusionProof>, Problem> {
    let Query(q) = q.map_err(|e| Problem::bad_request(format!("{e}: expected ?seq=N[&size=M]")))?;
    // Without a size, to the checkpoint `/checkpoint` serves (with witnesses, the log's head
    // may be ahead of it, and a proof to that tree would verify against no served checkpoint).
    let size = q.size.unwrap_or_else(|| site.published(&engine).size);
    let head = engine.head();
    if size > head.state.size || q.seq >= size {
        return Err(Problem::not_found(format!(
            "no entry {} in a tree of size {size} (the log has {} entries)",
            q.seq, head.state.size
        )));
    }
    head.tree.inclusion_proof(q.seq, size, &*engine.store()).map(Json).map_err(Problem::internal)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    /// The older tree size.
    from: u64,
    /// The newer tree size (default: the one `/checkpoint` serves).
    to: Option<u64>,
}

/// Consistency proof between two published tree sizes (RFC 9162 §2.1.4).
#[utoipa::path(get, path = "/v1/proofs/consistency", tag = "public", params(ConsistencyQuery), responses(
    (status = 200, body = ConsistencyProof),
    (status = 400, description = "bad parameters", body = ProblemBody, content_type = "application/problem+json"),
    (status = 404, description = "sizes out of order or beyond the log's tree", body = ProblemBody, content_type = "application/problem+json"),
))]
async fn consistency(
    State(engine): State<Arc<Engine>>,
    axum::Extension(site): axum::Extension<Arc<Site>>,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConsistencyProof>, Problem> {
    let Query(q) = q.map_err(|e| Problem::bad_request(format!("{e}: expected ?from=N[&to=M]")))?;
    let to = q.to.unwrap_or_else(|| site.published(&engine).size);
    let head = engine.head();
    if q.from > to || to > head.state.size {
        return Err(Problem::not_found(format!(
            "no consistency proof from {} to {to} (the log has {} entries)",
            q.from, head.state.size
        )));
    }
    head.tree.consistency_proof(q.from, to, &*engine.store()).map(Json).map_err(Problem::internal)
}

/// Reads and decodes the entries `seqs` (all below the log's size).
fn decoded(engine: &Engine, seqs: &[u64]) -> Result<Vec<(Entry, Statement)>, Problem> {
    seqs.iter().map(|&seq| Entry::decode(&read(engine, seq)?).map_err(Problem::internal)).collect()
}

fn items(entries: &[(Entry, Statement)]) -> Vec<facts::Item<'_>> {
    entries.iter().map(|(e, st)| facts::Item { seq: e.seq, time_ms: e.time_ms, event: &st.event }).collect()
}

/// The SAFU fund: balances and their history.
#[derive(Debug, Serialize, ToSchema)]
pub struct SafuView {
    /// The published tree size this is derived from.
    pub checkpoint_size: u64,
    /// Per asset, a signed decimal string of minor units.
    pub balances: std::collections::BTreeMap<String, String>,
    /// Assets whose balance went below zero.
    pub negative: Vec<String>,
    pub history: Vec<facts::SafuPoint>,
}

/// The SAFU fund's balance history, per asset, derived (by `vigil_core::facts`) from every
/// `safu_contribution` and `safu_payout` up to the latest checkpoint; each point names the
/// entry it comes from (verify it with `/v1/proofs/inclusion?seq=`). A payout larger than the
/// balance is reported, never wrapped.
#[utoipa::path(get, path = "/v1/safu", tag = "public", responses(
    (status = 200, body = SafuView),
    (status = 500, description = "unstatable: a sum of an asset's contributions or payouts overflows 128 bits (the detail names it); internal", body = ProblemBody, content_type = "application/problem+json"),
))]
async fn safu(
    State(engine): State<Arc<Engine>>,
    axum::Extension(site): axum::Extension<Arc<Site>>,
    axum::Extension(kept): axum::Extension<Arc<Summaries>>,
) -> Result<Response, Problem> {
    let size = site.published(&engine).size;
    kept.safu.answer(size, move || safu_view(&engine, size)).await
}

/// The answers of the summaries over the whole log (`/v1/safu`, `/v1/incidents`,
/// `/v1/reserves`), and the index of the snapshots that `/v1/reserves/{snapshot}` and users'
/// proofs look theirs up in, each kept for the published size it was built for: each is a
/// scan of the log, and each changes only when the published checkpoint does (the log below it
/// never changes).
#[derive(Default)]
pub(crate) struct Summaries {
    safu: Kept<axum::body::Bytes>,
    incidents: Kept<axum::body::Bytes>,
    reserves: Kept<axum::body::Bytes>,
    snapshots: Kept<Snapshots>,
}

/// The snapshots a log states (first of each id), each with its entry's stored bytes.
type Snapshots = Arc<Vec<(SnapshotSummary, Vec<u8>)>>;

/// One value built from the log and the published size it is of: the latest built.
struct Kept<T>(Arc<std::sync::Mutex<Option<(u64, T)>>>);

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Kept(Default::default())
    }
}

impl<T> Clone for Kept<T> {
    fn clone(&self) -> Self {
        Kept(self.0.clone())
    }
}

impl<T: Clone + Send + 'static> Kept<T> {
    fn at(&self, size: u64) -> Option<T> {
        let kept = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.as_ref().filter(|(at, _)| *at == size).map(|(_, t)| t.clone())
    }

    /// The value for `size`: the kept one, or one `build` makes and keeps (on a thread that
    /// may block).
    fn get_or_build(&self, size: u64, build: impl FnOnce() -> Result<T, Problem>) -> Result<T, Problem> {
        if let Some(t) = self.at(size) {
            return Ok(t);
        }
        let t = build()?;
        let mut slot = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // The published size only grows: a value for an older size never replaces one for a newer.
        if slot.as_ref().is_none_or(|(at, _)| *at < size) {
            *slot = Some((size, t.clone()));
        }
        Ok(t)
    }

    /// [`Kept::get_or_build`] off the async workers. The build keeps its value itself, on its
    /// own thread: one whose request timed out is not thrown away, and requests that waited
    /// for a scan find the value it made.
    async fn get(&self, size: u64, build: impl FnOnce() -> Result<T, Problem> + Send + 'static) -> Result<T, Problem> {
        if let Some(t) = self.at(size) {
            return Ok(t);
        }
        let kept = self.clone();
        blocking(move || kept.get_or_build(size, build)).await
    }
}

impl Kept<axum::body::Bytes> {
    /// A summary's answer for `size` (JSON): the kept one, or the one `build` makes.
    async fn answer<T: Serialize>(
        &self,
        size: u64,
        build: impl FnOnce() -> Result<T, Problem> + Send + 'static,
    ) -> Result<Response, Problem> {
        let b = self
            .get(size, move || Ok(axum::body::Bytes::from(serde_json::to_vec(&build()?).map_err(Problem::internal)?)))
            .await?;
        Ok(([(header::CONTENT_TYPE, "application/json")], b).into_response())
    }
}

impl Summaries {
    /// The snapshots the log below `size` states (first of each id), with their stored bytes.
    fn snapshots_at(&self, engine: &Engine, size: u64) -> Result<Snapshots, Problem> {
        self.snapshots.get_or_build(size, || snapshot_entries(engine, size).map(Arc::new))
    }

    /// The snapshot `id` the log below `size` states, with its stored bytes, or a 404.
    fn snapshot(&self, engine: &Engine, size: u64, id: &str) -> Result<(SnapshotSummary, Vec<u8>), Problem> {
        self.snapshots_at(engine, size)?
            .iter()
            .find(|(s, _)| s.snapshot == id)
            .cloned()
            .ok_or_else(|| Problem::not_found(format!("the log has no reserve snapshot {id:?}")))
    }
}

/// Runs a handler's scan of the store (a page of entries, a summary over the log) off the async
/// workers (they also serve the internal API), so a long read does not stall appends, and the
/// request timeout can answer meanwhile. A handler that reads one entry, proof or tile reads it
/// in place: bounded, and mostly from RocksDB's cache.
///
/// At most [`MAX_SCANS`] run at once; the others wait their turn (within the request timeout).
/// A scan whose request timed out runs to its end, so without the bound, requests that time
/// out could pile scans up in tokio's blocking pool, which closing the engine also uses.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Problem> + Send + 'static) -> Result<T, Problem> {
    static SCANS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_SCANS);
    let permit = SCANS.acquire().await.map_err(Problem::internal)?;
    let scan = tokio::task::spawn_blocking(move || {
        let _held = permit;
        f()
    });
    scan.await.map_err(Problem::internal)?
}

/// Most store scans of the public API at once.
const MAX_SCANS: usize = 8;

fn safu_view(engine: &Engine, size: u64) -> Result<SafuView, Problem> {
    let mut seqs =
        engine.store().by_kind(EventKind::SafuContribution.as_str(), None, usize::MAX).map_err(Problem::internal)?;
    seqs.extend(engine.store().by_kind(EventKind::SafuPayout.as_str(), None, usize::MAX).map_err(Problem::internal)?);
    seqs.retain(|&s| s < size);
    seqs.sort_unstable();
    let entries = decoded(engine, &seqs)?;
    // A history whose sums overflow 128 bits is refused (docs/FORMAT.md §3.6): every entry is
    // valid, the log holds them, and no bug is involved, so the answer says so.
    let h = facts::safu_history(&items(&entries)).map_err(|e| match e {
        facts::FactsError::Overflow { .. } => Problem::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "unstatable",
            format!("the SAFU history cannot be stated: {e}, and such a history is refused (docs/FORMAT.md §3.6)"),
        ),
        e => Problem::internal(e),
    })?;
    Ok(SafuView { checkpoint_size: size, balances: h.balances, negative: h.went_negative, history: h.history })
}

/// The sequence numbers of `incident`'s timeline below `size`: the entries naming it and the
/// entries its alarms refer to, each with why it is there, in log order.
fn timeline(engine: &Engine, incident: &str, size: u64) -> Result<Vec<(u64, facts::Membership)>, Problem> {
    let mut seqs = engine.store().by_incident(incident, None, usize::MAX).map_err(Problem::internal)?;
    seqs.retain(|&s| s < size);
    let naming = decoded(engine, &seqs)?;
    Ok(facts::members(naming.iter().map(|(e, st)| (e.seq, &st.event)), size).into_iter().collect())
}

/// An incident in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentSummary {
    pub incident: String,
    /// The entry that opened it.
    pub opened_seq: u64,
    /// `open` or `closed`.
    pub status: String,
    /// Entries in its timeline.
    pub entries: usize,
    /// Its figures; `null` when they cannot be stated, with `facts_error` saying why.
    pub facts: Option<facts::IncidentFacts>,
    /// Why there are no figures (an amount summing past 128 bits); absent with figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facts_error: Option<String>,
}

/// An incident's figures, or why there are none: one incident's amounts past 128 bits (its
/// services' doing) must not hide the other incidents or its own timeline. Any other refusal
/// means the server built a wrong timeline: an internal error.
fn stated_facts(
    incident: &str,
    entries: &[(Entry, Statement)],
) -> Result<(Option<facts::IncidentFacts>, Option<String>), Problem> {
    match facts::incident_facts(incident, &items(entries)) {
        Ok(f) => Ok((Some(f), None)),
        Err(e @ facts::FactsError::Overflow { .. }) => Ok((None, Some(e.to_string()))),
        Err(e) => Err(Problem::internal(e)),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentList {
    pub checkpoint_size: u64,
    pub incidents: Vec<IncidentSummary>,
}

/// Every incident the log opened, with its derived facts.
#[utoipa::path(get, path = "/v1/incidents", tag = "public", responses((status = 200, body = IncidentList)))]
async fn incidents(
    State(engine): State<Arc<Engine>>,
    axum::Extension(site): axum::Extension<Arc<Site>>,
    axum::Extension(kept): axum::Extension<Arc<Summaries>>,
) -> Result<Response, Problem> {
    let size = site.published(&engine).size;
    kept.incidents.answer(size, move || incident_list(&engine, size)).await
}

fn incident_list(engine: &Engine, size: u64) -> Result<IncidentList, Problem> {
    let mut opens =
        engine.store().by_kind(EventKind::IncidentOpen.as_str(), None, usize::MAX).map_err(Problem::internal)?;
    opens.retain(|&s| s < size);
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (e, st) in decoded(engine, &opens)? {
        let Event::IncidentOpen(o) = &st.event else { continue };
        if !seen.insert(o.incident.clone()) {
            continue;
        }
        let members = timeline(engine, &o.incident, size)?;
        let seqs: Vec<u64> = members.iter().map(|(s, _)| *s).collect();
        let entries = decoded(engine, &seqs)?;
        let (facts, facts_error) = stated_facts(&o.incident, &entries)?;
        let closed =
            entries.iter().any(|(_, st)| matches!(&st.event, Event::IncidentClose(c) if c.incident == o.incident));
        out.push(IncidentSummary {
            incident: o.incident.clone(),
            opened_seq: e.seq,
            status: if closed { "closed" } else { "open" }.into(),
            entries: seqs.len(),
            facts,
            facts_error,
        });
    }
    Ok(IncidentList { checkpoint_size: size, incidents: out })
}

/// An entry of an incident's timeline, with why it is there and its inclusion proof.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    #[serde(flatten)]
    pub entry: EntryView,
    pub kind: String,
    pub membership: facts::Membership,
    /// Proof to the checkpoint returned with the timeline.
    pub inclusion_proof: InclusionProof,
}

/// An incident's timeline, verifiable against one checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentView {
    pub incident: String,
    /// The signed checkpoint every inclusion proof leads to.
    pub checkpoint: String,
    pub checkpoint_size: u64,
    /// Its figures; `null` when they cannot be stated, with `facts_error` saying why.
    pub facts: Option<facts::IncidentFacts>,
    /// Why there are no figures (an amount summing past 128 bits); absent with figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facts_error: Option<String>,
    pub timeline: Vec<TimelineEntry>,
}

/// The incident's timeline (every entry naming it, and the entries its alarms refer to), each
/// entry with its inclusion proof to the one checkpoint returned, and the facts derived from it.
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "public",
    params(("id" = String, Path, description = "the incident id")),
    responses(
        (status = 200, body = IncidentView),
        (status = 400, description = "bad_request: the path does not decode (percent-encoding that is not UTF-8)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "no entry names that incident", body = ProblemBody, content_type = "application/problem+json"),
    ))]
async fn incident(
    State(engine): State<Arc<Engine>>,
    axum::Extension(site): axum::Extension<Arc<Site>>,
    PathOf(id): PathOf<String>,
) -> Result<Json<IncidentView>, Problem> {
    let published = site.published(&engine);
    blocking(move || incident_view(&engine, id, published)).await.map(Json)
}

fn incident_view(
    engine: &Engine,
    id: String,
    published: Arc<crate::witnessing::Published>,
) -> Result<IncidentView, Problem> {
    let head = engine.head();
    let size = published.size;
    let members = timeline(engine, &id, size)?;
    if members.is_empty() {
        return Err(Problem::not_found(format!("no entry of the log names incident {id:?}")));
    }
    let seqs: Vec<u64> = members.iter().map(|(s, _)| *s).collect();
    // Each entry is read once: decoded for the facts, shown as it is stored.
    let raw = seqs.iter().map(|&seq| read(engine, seq)).collect::<Result<Vec<_>, _>>()?;
    let entries = raw.iter().map(|b| Entry::decode(b).map_err(Problem::internal)).collect::<Result<Vec<_>, _>>()?;
    let (facts, facts_error) = stated_facts(&id, &entries)?;
    let proofs = head.tree.inclusion_proofs(&seqs, size, &*engine.store()).map_err(Problem::internal)?;
    let mut timeline = Vec::with_capacity(seqs.len());
    for ((((_, membership), inclusion_proof), (_, st)), bytes) in members.iter().zip(proofs).zip(&entries).zip(&raw) {
        timeline.push(TimelineEntry {
            entry: view(bytes)?,
            kind: st.event.kind().as_str().into(),
            membership: *membership,
            inclusion_proof,
        });
    }
    Ok(IncidentView {
        incident: id,
        checkpoint: String::from_utf8_lossy(&published.note).into_owned(),
        checkpoint_size: size,
        facts,
        facts_error,
        timeline,
    })
}

/// A proof-of-reserves snapshot as the log states it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SnapshotSummary {
    /// The `reserve_snapshot` entry.
    pub seq: u64,
    pub time_ms: u64,
    pub snapshot: String,
    pub cut_off_ms: u64,
    pub liabilities_root: String,
    pub padded_size: u64,
    #[schema(value_type = Vec<Object>)]
    pub assets: Vec<vigil_core::event::AssetReserves>,
    pub attestations: Vec<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReservesHistory {
    pub checkpoint_size: u64,
    /// In log order; a snapshot id logged twice is listed once, as first logged.
    pub snapshots: Vec<SnapshotSummary>,
}

/// Every proof-of-reserves snapshot in the log, oldest first: per asset the liabilities,
/// reserves and their ratio. Each is an entry: verify it with `/v1/reserves/{snapshot}`.
#[utoipa::path(get, path = "/v1/reserves", tag = "public", responses((status = 200, body = ReservesHistory)))]
async fn reserves(
    State(engine): State<Arc<Engine>>,
    axum::Extension(site): axum::Extension<Arc<Site>>,
    axum::Extension(kept): axum::Extension<Arc<Summaries>>,
) -> Result<Response, Problem> {
    let size = site.published(&engine).size;
    let all = kept.clone();
    kept.reserves
        .answer(size, move || {
            let snapshots = all.snapshots_at(&engine, size)?.iter().map(|(s, _)| s.clone()).collect();
            Ok(ReservesHistory { checkpoint_size: size, snapshots })
        })
        .await
}

/// The snapshots below `size`, first of each id, with their stored bytes.
fn snapshot_entries(engine: &Engine, size: u64) -> Result<Vec<(SnapshotSummary, Vec<u8>)>, Problem> {
    let mut seqs =
        engine.store().by_kind(EventKind::ReserveSnapshot.as_str(), None, usize::MAX).map_err(Problem::internal)?;
    seqs.retain(|&s| s < size);
    let mut out: Vec<(SnapshotSummary, Vec<u8>)> = Vec::new();
    for seq in seqs {
        let bytes = read(engine, seq)?;
        let (e, st) = Entry::decode(&bytes).map_err(Problem::internal)?;
        let Event::ReserveSnapshot(r) = st.event else { continue };
        if out.iter().any(|(s, _)| s.snapshot == r.snapshot) {
            continue;
        }
        out.push((
            SnapshotSummary {
                seq: e.seq,
                time_ms: e.time_ms,
                snapshot: r.snapshot,
                cut_off_ms: r.cut_off_ms,
                liabilities_root: r.liabilities_root,
                padded_size: r.padded_size,
                assets: r.assets,
                attestations: r.attestations,
            },
            bytes,
        ));
    }
    Ok(out)
}

/// One snapshot, verifiable against one checkpoint: its entry with an inclusion proof, and the
/// custody service's attestations it adds up, each with its own.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotView {
    #[serde(flatten)]
    pub summary: SnapshotSummary,
    /// The signed checkpoint every inclusion proof leads to.
    pub checkpoint: String,
    pub checkpoint_size: u64,
    pub entry: EntryView,
    pub inclusion_proof: InclusionProof,
    pub attestation_entries: Vec<TimelineEntry>,
}

/// A snapshot with its entry, the attestations, and their inclusion proofs.
#[utoipa::path(get, path = "/v1/reserves/{snapshot}", tag = "public",
    params(("snapshot" = String, Path, description = "the snapshot id")),
    responses(
        (status = 200, body = SnapshotView),
        (status = 400, description = "bad_request: the path does not decode (percent-encoding that is not UTF-8)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "no such snapshot in the log", body = ProblemBody, content_type = "application/problem+json"),
    ))]
async fn reserve_snapshot(
    State(engine): State<Arc<Engine>>,
    axum::Extension(site): axum::Extension<Arc<Site>>,
    axum::Extension(kept): axum::Extension<Arc<Summaries>>,
    PathOf(id): PathOf<String>,
) -> Result<Json<SnapshotView>, Problem> {
    let published = site.published(&engine);
    blocking(move || {
        let head = engine.head();
        let size = published.size;
        let (summary, bytes) = kept.snapshot(&engine, size, &id)?;
        let mut seqs = vec![summary.seq];
        seqs.extend(summary.attestations.iter().filter(|&&s| s < size));
        let mut proofs =
            head.tree.inclusion_proofs(&seqs, size, &*engine.store()).map_err(Problem::internal)?.into_iter();
        let inclusion_proof = proofs.next().ok_or_else(|| Problem::internal("no proof"))?;
        let mut attestation_entries = Vec::new();
        for (&seq, inclusion_proof) in seqs[1..].iter().zip(proofs) {
            let b = read(&engine, seq)?;
            let (_, st) = Entry::decode(&b).map_err(Problem::internal)?;
            attestation_entries.push(TimelineEntry {
                entry: view(&b)?,
                kind: st.event.kind().as_str().into(),
                membership: facts::Membership::Names,
                inclusion_proof,
            });
        }
        Ok(SnapshotView {
            entry: view(&bytes)?,
            summary,
            checkpoint: String::from_utf8_lossy(&published.note).into_owned(),
            checkpoint_size: size,
            inclusion_proof,
            attestation_entries,
        })
    })
    .await
    .map(Json)
}

/// A user's liabilities proof (docs/FORMAT.md §11.4, binary), fetched by record id only: the
/// user checks it with their secret, which never leaves them.
#[utoipa::path(get, path = "/v1/reserves/{snapshot}/proof/{record_id}", tag = "public",
    params(("snapshot" = String, Path, description = "the snapshot id"),
           ("record_id" = String, Path, description = "the record id, 32 hex digits")),
    responses(
        (status = 200, description = "the proof", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 400, description = "not a record id", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "no such snapshot or record", body = ProblemBody, content_type = "application/problem+json"),
    ))]
async fn reserve_proof(
    State(engine): State<Arc<Engine>>,
    axum::Extension(site): axum::Extension<Arc<Site>>,
    axum::Extension(kept): axum::Extension<Arc<Summaries>>,
    PathOf((snapshot, record)): PathOf<(String, String)>,
) -> Result<Response, Problem> {
    let mut id = [0u8; 16];
    if record.len() != 32 || hex::decode_to_slice(&record, &mut id).is_err() {
        return Err(Problem::bad_request(format!("record id {record:?} is not 32 hex digits")));
    }
    let size = site.published(&engine).size;
    blocking(move || {
        // Only snapshots the published log states: a tree without its entry proves nothing.
        let (logged, _) = kept.snapshot(&engine, size, &snapshot)?;
        let tree = site.trees.get(&logged)?;
        let proof = tree
            .proof(&id)
            .map_err(Problem::internal)?
            .ok_or_else(|| Problem::not_found(format!("snapshot {snapshot:?} has no record {record}")))?;
        Ok(([(header::CONTENT_TYPE, "application/octet-stream"), (header::CACHE_CONTROL, IMMUTABLE)], proof.encode())
            .into_response())
    })
    .await
}

/// The web page, its log key pinned.
async fn page(axum::Extension(site): axum::Extension<Arc<Site>>) -> Result<Response, Problem> {
    let web = site.web.as_ref().ok_or_else(|| Problem::not_found("this server has no web page"))?;
    let html = tokio::fs::read_to_string(web.dir.join("index.html"))
        .await
        .map_err(|e| Problem::not_found(format!("the web page is not installed: {e}")))?;
    let policy = site.witnessing.as_ref().map(|w| w.policy().clone()).unwrap_or_default();
    let policy = serde_json::json!({
        "quorum": policy.quorum(),
        "witnesses": policy.witnesses().iter().map(|k| k.to_vkey()).collect::<Vec<_>>(),
    });
    // In HTML attributes: escaped (a key name may hold `&` or `"`).
    let attr = |s: &str| s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
    let html =
        html.replace("{{LOG_VKEY}}", &attr(&web.log_vkey)).replace("{{WITNESS_POLICY}}", &attr(&policy.to_string()));
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], html)
        .into_response())
}

/// One of the page's own files, served as `kind`.
async fn page_file(
    axum::Extension(site): axum::Extension<Arc<Site>>,
    file: &'static str,
    kind: &'static str,
) -> Result<Response, Problem> {
    let web = site.web.as_ref().ok_or_else(|| Problem::not_found("this server has no web page"))?;
    let body = tokio::fs::read(web.dir.join(file)).await.map_err(|e| {
        Problem::not_found(format!("{file} is not installed ({e}); scripts/demo and scripts/test build vigil.wasm"))
    })?;
    Ok(([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// More scans than the bound, each holding its turn a while: never more than `MAX_SCANS`
    /// run at once, the bound is reached, and every scan still runs.
    #[tokio::test]
    async fn at_most_max_scans_run_at_once() {
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let scans: Vec<_> = (0..3 * MAX_SCANS)
            .map(|i| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(i)
                }))
            })
            .collect();
        let mut done = Vec::new();
        for scan in scans {
            done.push(scan.await.unwrap().unwrap());
        }
        assert_eq!(done, (0..3 * MAX_SCANS).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), MAX_SCANS);
    }
}
