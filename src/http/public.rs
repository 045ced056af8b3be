//! The public, read-only API: checkpoints, C2SP tlog-tiles, entries and proofs.
//!
//! **Architecture Invariant:** no route here writes; everything is bounded by the published
//! head, so nothing beyond the latest durable checkpoint is ever served.

use super::Problem;
use crate::engine::Engine;
use crate::metrics::{HttpMetrics, Metrics};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use vigil_core::entry::Entry;
use vigil_core::event::{Event, EventKind};
use vigil_core::facts;
use vigil_core::statement::Statement;
use vigil_core::hash::chain_hash;
use vigil_core::merkle::{leaf_hash, TilePath, TILE_WIDTH};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const SHORT: &str = "public, max-age=1";

/// The public router with metrics of its own (tests, embedding).
pub fn router(engine: Arc<Engine>) -> Router {
    let (metrics, http, _) = Metrics::new(engine.metrics());
    router_with(engine, metrics, http)
}

/// The public router serving `metrics` at `/metrics` and recording its requests in `http`.
/// CORS is open for reads (any origin, GET and HEAD): the data is public, and browsers verify it.
pub fn router_with(engine: Arc<Engine>, metrics: Arc<Metrics>, http: HttpMetrics) -> Router {
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([axum::http::Method::GET, axum::http::Method::HEAD]);
    routes(engine)
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], metrics.render())
                }
            }),
        )
        .layer(axum::middleware::from_fn_with_state(http, crate::metrics::track))
        .layer(cors)
        .layer(super::timeout())
        .layer(axum::extract::DefaultBodyLimit::max(1024))
}

fn routes(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/checkpoint", get(checkpoint))
        .route("/tile/{*path}", get(tile))
        .route("/v1/entries", get(entries))
        .route("/v1/entries/{seq}", get(entry))
        .route("/v1/safu", get(safu))
        .route("/v1/incidents", get(incidents))
        .route("/v1/incidents/{id}", get(incident))
        .route("/v1/proofs/inclusion", get(inclusion))
        .route("/v1/proofs/consistency", get(consistency))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(engine)
}

async fn checkpoint(State(engine): State<Arc<Engine>>) -> Result<Response, Problem> {
    let head = engine.head();
    if head.checkpoint.is_empty() {
        return Err(Problem::not_found("the log has no checkpoint yet"));
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        head.checkpoint.clone(),
    )
        .into_response())
}

async fn tile(State(engine): State<Arc<Engine>>, Path(path): Path<String>) -> Result<Response, Problem> {
    let TilePath { entries: is_data, level, index, width } =
        TilePath::parse(&path).ok_or_else(|| Problem::not_found(format!("tile/{path} is not a tlog-tiles path")))?;
    let size = engine.head().state.size;
    // Hashes at tree level 8·level that exist in the published tree.
    let available = size.checked_shr(8 * u32::from(level)).unwrap_or(0);
    let start = index.checked_mul(TILE_WIDTH).ok_or_else(|| Problem::not_found("no such tile"))?;
    if start.saturating_add(width) > available {
        return Err(Problem::not_found(format!("tile/{path} is beyond the published tree of size {size}")));
    }
    let body = if is_data {
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
        out
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

async fn entry(State(engine): State<Arc<Engine>>, Path(seq): Path<String>) -> Result<Json<serde_json::Value>, Problem> {
    let seq: u64 = seq
        .parse()
        .map_err(|_| Problem::bad_request(format!("sequence number {seq:?} is not a non-negative integer")))?;
    let size = engine.head().state.size;
    if seq >= size {
        return Err(Problem::not_found(format!("entry {seq} does not exist; the log has {size} entries")));
    }
    entry_json(&engine, seq).map(Json)
}

/// An entry as JSON: its fields, its statement, its bytes in hex and its hashes.
fn entry_json(engine: &Engine, seq: u64) -> Result<serde_json::Value, Problem> {
    let bytes = engine
        .store()
        .entry(seq)
        .map_err(Problem::internal)?
        .ok_or_else(|| Problem::internal(format!("entry {seq} missing")))?;
    let (e, _) = Entry::decode(&bytes).map_err(Problem::internal)?;
    let statement: serde_json::Value = serde_json::from_slice(&e.statement_bytes).map_err(Problem::internal)?;
    Ok(serde_json::json!({
        "seq": e.seq,
        "time_ms": e.time_ms,
        "prev": e.prev.to_hex(),
        "entry_hash": chain_hash(&bytes).to_hex(),
        "leaf_hash": leaf_hash(&bytes).to_hex(),
        "signature": hex::encode(e.signature),
        "statement": statement,
        "bytes": hex::encode(&bytes),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    kind: Option<String>,
    incident: Option<String>,
    after: Option<u64>,
    limit: Option<usize>,
}

/// Most entries one page lists.
const MAX_PAGE: usize = 1000;

/// `GET /v1/entries?kind=&incident=&after=&limit=`: a page of entries in log order, filtered by
/// kind or incident (one of them, or neither), after a sequence number.
async fn entries(
    State(engine): State<Arc<Engine>>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, Problem> {
    let Query(q) = q.map_err(|e| Problem::bad_request(format!("{e}: expected ?kind=|incident=, after=, limit=")))?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(Problem::bad_request(format!("limit must be 1 to {MAX_PAGE}")));
    }
    let size = engine.head().state.size;
    let seqs: Vec<u64> = match (&q.kind, &q.incident) {
        (Some(_), Some(_)) => return Err(Problem::bad_request("filter by kind or by incident, not both")),
        (Some(k), None) => {
            if vigil_core::event::EventKind::parse(k).is_none() {
                return Err(Problem::bad_request(format!("unknown kind {k:?}")));
            }
            engine.store().by_kind(k, q.after, limit).map_err(Problem::internal)?
        }
        (None, Some(i)) => engine.store().by_incident(i, q.after, limit).map_err(Problem::internal)?,
        (None, None) => {
            let from = q.after.map_or(0, |a| a.saturating_add(1));
            (from..size.min(from.saturating_add(limit as u64))).collect()
        }
    };
    let mut out = Vec::with_capacity(seqs.len());
    for seq in seqs.into_iter().filter(|&s| s < size) {
        out.push(entry_json(&engine, seq)?);
    }
    let next = out.last().and_then(|e| e["seq"].as_u64()).filter(|_| out.len() == limit);
    Ok(Json(serde_json::json!({ "entries": out, "next_after": next })))
}

#[derive(Deserialize)]
struct InclusionQuery {
    seq: u64,
    size: Option<u64>,
}

async fn inclusion(
    State(engine): State<Arc<Engine>>,
    q: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = q.map_err(|e| Problem::bad_request(format!("{e}: expected ?seq=N[&size=M]")))?;
    let head = engine.head();
    let size = q.size.unwrap_or(head.state.size);
    if size > head.state.size || q.seq >= size {
        return Err(Problem::not_found(format!(
            "no entry {} in a tree of size {size} (published size {})",
            q.seq, head.state.size
        )));
    }
    let p = head.tree.inclusion_proof(q.seq, size, engine.store()).map_err(Problem::internal)?;
    Ok(Json(p).into_response())
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

async fn consistency(
    State(engine): State<Arc<Engine>>,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = q.map_err(|e| Problem::bad_request(format!("{e}: expected ?from=N[&to=M]")))?;
    let head = engine.head();
    let to = q.to.unwrap_or(head.state.size);
    if q.from > to || to > head.state.size {
        return Err(Problem::not_found(format!(
            "no consistency proof from {} to {to} (published size {})",
            q.from, head.state.size
        )));
    }
    let p = head.tree.consistency_proof(q.from, to, engine.store()).map_err(Problem::internal)?;
    Ok(Json(p).into_response())
}

/// Reads and decodes the entries `seqs` (all below the published size).
fn decoded(engine: &Engine, seqs: &[u64]) -> Result<Vec<(Entry, Statement)>, Problem> {
    seqs.iter()
        .map(|&seq| {
            let bytes = engine
                .store()
                .entry(seq)
                .map_err(Problem::internal)?
                .ok_or_else(|| Problem::internal(format!("entry {seq} missing")))?;
            Entry::decode(&bytes).map_err(Problem::internal)
        })
        .collect()
}

fn items(entries: &[(Entry, Statement)]) -> Vec<facts::Item<'_>> {
    entries.iter().map(|(e, st)| facts::Item { seq: e.seq, time_ms: e.time_ms, event: &st.event }).collect()
}

/// `GET /v1/safu`: the SAFU fund's balance history, per asset, derived (by `vigil_core::facts`)
/// from every `safu_contribution` and `safu_payout` up to the latest checkpoint; each point
/// names the entry it comes from (verify it with `/v1/proofs/inclusion?seq=`). Amounts are
/// strings of minor units. A payout larger than the balance is reported, never wrapped.
async fn safu(State(engine): State<Arc<Engine>>) -> Result<Json<serde_json::Value>, Problem> {
    let size = engine.head().state.size;
    let mut seqs =
        engine.store().by_kind(EventKind::SafuContribution.as_str(), None, usize::MAX).map_err(Problem::internal)?;
    seqs.extend(engine.store().by_kind(EventKind::SafuPayout.as_str(), None, usize::MAX).map_err(Problem::internal)?);
    seqs.retain(|&s| s < size);
    seqs.sort_unstable();
    let entries = decoded(&engine, &seqs)?;
    let h = facts::safu_history(&items(&entries)).map_err(Problem::internal)?;
    Ok(Json(serde_json::json!({
        "checkpoint_size": size,
        "balances": h.balances,
        "negative": h.went_negative,
        "history": h.history,
    })))
}

/// The sequence numbers of `incident`'s timeline below `size`: the entries naming it and the
/// entries its alarms refer to, each with why it is there, in log order.
fn timeline(engine: &Engine, incident: &str, size: u64) -> Result<Vec<(u64, facts::Membership)>, Problem> {
    let mut seqs = engine.store().by_incident(incident, None, usize::MAX).map_err(Problem::internal)?;
    seqs.retain(|&s| s < size);
    let naming = decoded(engine, &seqs)?;
    let mut out: std::collections::BTreeMap<u64, facts::Membership> =
        seqs.iter().map(|&s| (s, facts::Membership::Names)).collect();
    for (e, st) in &naming {
        for &r in facts::brings_in(&st.event) {
            if r < size {
                out.entry(r).or_insert(facts::Membership::ReferencedBy { alarm: e.seq });
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// `GET /v1/incidents`: every incident the log opened, with its derived facts.
async fn incidents(State(engine): State<Arc<Engine>>) -> Result<Json<serde_json::Value>, Problem> {
    let size = engine.head().state.size;
    let mut opens = engine.store().by_kind(EventKind::IncidentOpen.as_str(), None, usize::MAX).map_err(Problem::internal)?;
    opens.retain(|&s| s < size);
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (e, st) in decoded(&engine, &opens)? {
        let Event::IncidentOpen(o) = &st.event else { continue };
        if !seen.insert(o.incident.clone()) {
            continue;
        }
        let members = timeline(&engine, &o.incident, size)?;
        let seqs: Vec<u64> = members.iter().map(|(s, _)| *s).collect();
        let entries = decoded(&engine, &seqs)?;
        let f = facts::incident_facts(&o.incident, &items(&entries)).map_err(Problem::internal)?;
        out.push(serde_json::json!({
            "incident": o.incident,
            "opened_seq": e.seq,
            "status": if f.closed_ms.is_some() { "closed" } else { "open" },
            "entries": seqs.len(),
            "facts": f,
        }));
    }
    Ok(Json(serde_json::json!({ "checkpoint_size": size, "incidents": out })))
}

/// `GET /v1/incidents/{id}`: the incident's timeline, every entry with its inclusion proof to
/// the one checkpoint returned with it, and the facts derived from it.
async fn incident(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Result<Json<serde_json::Value>, Problem> {
    let head = engine.head();
    let size = head.state.size;
    let members = timeline(&engine, &id, size)?;
    if members.is_empty() {
        return Err(Problem::not_found(format!("no entry of the log names incident {id:?}")));
    }
    let seqs: Vec<u64> = members.iter().map(|(s, _)| *s).collect();
    let entries = decoded(&engine, &seqs)?;
    let f = facts::incident_facts(&id, &items(&entries)).map_err(Problem::internal)?;
    let proofs = head.tree.inclusion_proofs(&seqs, size, engine.store()).map_err(Problem::internal)?;
    let mut timeline = Vec::with_capacity(seqs.len());
    for (((seq, why), proof), (_, st)) in members.iter().zip(proofs).zip(&entries) {
        let mut e = entry_json(&engine, *seq)?;
        e["kind"] = st.event.kind().as_str().into();
        e["membership"] = serde_json::to_value(why).map_err(Problem::internal)?;
        e["inclusion_proof"] = serde_json::to_value(proof).map_err(Problem::internal)?;
        timeline.push(e);
    }
    Ok(Json(serde_json::json!({
        "incident": id,
        "checkpoint": String::from_utf8_lossy(&head.checkpoint),
        "checkpoint_size": size,
        "facts": f,
        "timeline": timeline,
    })))
}
