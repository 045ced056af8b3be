//! The public read API, through the router without sockets.

use crate::support::*;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;
use vigil::engine::Engine;
use vigil_core::checkpoint;
use vigil_core::hash::Digest;
use vigil_core::merkle::{leaf_hash, node_hash, ConsistencyProof, InclusionProof, TileNodes};
use vigil_core::statement::ParsedSubmission;

struct Got {
    status: StatusCode,
    content_type: String,
    cache: String,
    body: Vec<u8>,
}

async fn call(engine: &Arc<Engine>, method: Method, uri: &str) -> Got {
    let app = vigil::http::public::router(engine.clone(), None);
    let res = app.oneshot(Request::builder().method(method).uri(uri).body(Body::empty()).unwrap()).await.unwrap();
    let header = |h| res.headers().get(h).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let (content_type, cache) = (header("content-type"), header("cache-control"));
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Got { status, content_type, cache, body }
}

async fn get(engine: &Arc<Engine>, uri: &str) -> Got {
    call(engine, Method::GET, uri).await
}

/// A ledger with `n` withdrawals after the 6 bootstrap entries, its engine shared.
/// (Built on a plain thread: the tests' runtime must not block.)
fn ledger(n: usize) -> (Keys, Arc<Engine>, tempfile::TempDir) {
    std::thread::spawn(move || build(n)).join().unwrap()
}

/// Appends `subs` on a plain thread (the tests' runtime must not block).
fn append(engine: &Arc<Engine>, subs: Vec<ParsedSubmission>) {
    let engine = engine.clone();
    std::thread::spawn(move || engine.append_blocking(subs).unwrap()).join().unwrap();
}

fn build(n: usize) -> (Keys, Arc<Engine>, tempfile::TempDir) {
    let l = Ledger::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let subs =
            chunk.iter().map(|j| l.sub(&l.keys.withdrawals, withdrawal(&format!("w-{j}")), &format!("k{j}"))).collect();
        l.engine.append_blocking(subs).unwrap();
    }
    let Ledger { dir, engine, keys, .. } = l;
    (keys, Arc::new(engine), dir)
}

#[tokio::test]
async fn checkpoint_is_the_signed_note() {
    let (keys, engine, _dir) = ledger(3);
    let g = get(&engine, "/checkpoint").await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.content_type, "text/plain; charset=utf-8");
    let cp = checkpoint::verify(&g.body, &keys.log.verifier()).unwrap();
    assert_eq!(cp.checkpoint.size, engine.head().state.size);
}

#[tokio::test]
async fn a_tile_walk_recomputes_the_checkpoint_root() {
    // 6 + 600 = 606 entries: two full level-0 tiles, one partial (94), a level-1 tile of 2.
    let (keys, engine, _dir) = ledger(600);
    let cp = checkpoint::verify(&get(&engine, "/checkpoint").await.body, &keys.log.verifier()).unwrap().checkpoint;
    assert_eq!(cp.size, 606);
    let mut leaves = Vec::new();
    for (path, width, cache) in
        [("0/000", 256, "immutable"), ("0/001", 256, "immutable"), ("0/002.p/94", 94, "max-age=1")]
    {
        let g = get(&engine, &format!("/tile/{path}")).await;
        assert_eq!(g.status, StatusCode::OK, "{path}");
        assert!(g.cache.contains(cache), "{path}: {}", g.cache);
        assert_eq!(g.body.len(), width * 32);
        let t = TileNodes::from_bytes(&g.body).unwrap();
        leaves.extend((0..width as u64).map(|i| t.node(0, i).unwrap()));
        // The entry bundle holds the entries whose leaf hashes the tile holds.
        let b = get(&engine, &format!("/tile/entries/{}", path.trim_start_matches("0/"))).await;
        assert_eq!(b.status, StatusCode::OK);
        let mut rest = &b.body[..];
        let mut n = 0;
        while !rest.is_empty() {
            let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
            assert_eq!(leaf_hash(&rest[2..2 + len]), t.node(0, n).unwrap(), "{path} entry {n}");
            rest = &rest[2 + len..];
            n += 1;
        }
        assert_eq!(n, width as u64);
    }
    let l1 = get(&engine, "/tile/1/000.p/2").await;
    assert_eq!(l1.status, StatusCode::OK);
    let l1 = TileNodes::from_bytes(&l1.body).unwrap();
    // Recompute: the two full tiles' roots (from level 1), then the 94 leaves of the partial
    // tile folded as RFC 6962 splits them.
    let mut c = vigil_core::merkle::CompactRange::new();
    leaves.iter().for_each(|h| c.push(*h));
    assert_eq!(c.root(), cp.root, "leaves from the tiles hash to the checkpoint");
    let mut partial = vigil_core::merkle::CompactRange::new();
    leaves[512..].iter().for_each(|h| partial.push(*h));
    assert_eq!(node_hash(&node_hash(&l1.node(0, 0).unwrap(), &l1.node(0, 1).unwrap()), &partial.root()), cp.root);
}

#[tokio::test]
async fn tile_paths_that_are_not_served() {
    let (_keys, engine, _dir) = ledger(10);
    // (path, status): non-canonical, zero width, beyond the tree, full tile not yet full.
    let cases = [
        ("/tile/0/0", StatusCode::NOT_FOUND),
        ("/tile/0/000.p/0", StatusCode::NOT_FOUND),
        ("/tile/0/000.p/300", StatusCode::NOT_FOUND),
        ("/tile/0/000", StatusCode::NOT_FOUND),
        ("/tile/0/000.p/17", StatusCode::NOT_FOUND),
        ("/tile/0/001.p/1", StatusCode::NOT_FOUND),
        ("/tile/1/000.p/1", StatusCode::NOT_FOUND),
        ("/tile/entries/000.p/17", StatusCode::NOT_FOUND),
        // Another spelling of a served tile: percent-encoded slashes.
        ("/tile/0%2F000.p%2F16", StatusCode::NOT_FOUND),
        ("/tile/entries%2F000.p/16", StatusCode::NOT_FOUND),
        ("/tile/0/000.p/16", StatusCode::OK),
        ("/tile/entries/000.p/16", StatusCode::OK),
    ];
    for (uri, want) in cases {
        let g = get(&engine, uri).await;
        assert_eq!(g.status, want, "{uri}: {}", String::from_utf8_lossy(&g.body));
        if want != StatusCode::OK {
            assert_eq!(g.content_type, "application/problem+json", "{uri}");
            // Beyond the tree today, served tomorrow: no cache may keep the 404.
            assert_eq!(g.cache, "no-store", "{uri}");
        }
    }
}

#[tokio::test]
async fn entries_and_proofs() {
    let (keys, engine, _dir) = ledger(20);
    let cp = checkpoint::verify(&get(&engine, "/checkpoint").await.body, &keys.log.verifier()).unwrap().checkpoint;
    let g = get(&engine, "/v1/entries/7").await;
    assert_eq!(g.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
    assert_eq!(v["seq"], 7);
    assert_eq!(v["statement"]["event"]["kind"], "withdrawal");
    let leaf = Digest::from_hex(v["leaf_hash"].as_str().unwrap()).unwrap();
    let bytes = hex::decode(v["bytes"].as_str().unwrap()).unwrap();
    assert_eq!(leaf_hash(&bytes), leaf);

    let p: InclusionProof = serde_json::from_slice(&get(&engine, "/v1/proofs/inclusion?seq=7").await.body).unwrap();
    p.verify(&leaf, &cp.root).unwrap();
    let c: ConsistencyProof =
        serde_json::from_slice(&get(&engine, "/v1/proofs/consistency?from=10").await.body).unwrap();
    assert_eq!((c.old_size, c.new_size), (10, cp.size));
    let old_root = engine.head().tree.root(10, &*engine.store()).unwrap();
    c.verify(&old_root, &cp.root).unwrap();

    // (uri, status, code)
    let cases = [
        ("/v1/entries/26", StatusCode::NOT_FOUND, "not_found"),
        ("/v1/entries/-1", StatusCode::BAD_REQUEST, "bad_request"),
        ("/v1/entries/x", StatusCode::BAD_REQUEST, "bad_request"),
        ("/v1/entries/", StatusCode::NOT_FOUND, "not_found"),
        ("/v1/entries/18446744073709551616", StatusCode::BAD_REQUEST, "bad_request"),
        ("/v1/proofs/inclusion", StatusCode::BAD_REQUEST, "bad_request"),
        ("/v1/proofs/inclusion?seq=26", StatusCode::NOT_FOUND, "not_found"),
        ("/v1/proofs/inclusion?seq=3&size=99", StatusCode::NOT_FOUND, "not_found"),
        ("/v1/proofs/consistency?from=5&to=3", StatusCode::NOT_FOUND, "not_found"),
        ("/v1/proofs/consistency?from=banana", StatusCode::BAD_REQUEST, "bad_request"),
        // A parameter the route does not take is refused, as on /v1/entries.
        ("/v1/proofs/inclusion?seq=3&sise=7", StatusCode::BAD_REQUEST, "bad_request"),
        ("/v1/proofs/consistency?from=3&too=7", StatusCode::BAD_REQUEST, "bad_request"),
    ];
    for (uri, status, code) in cases {
        let g = get(&engine, uri).await;
        assert_eq!(g.status, status, "{uri}");
        assert_eq!(g.content_type, "application/problem+json", "{uri}");
        let v: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
        assert_eq!(v["code"], code, "{uri}");
        assert!(!v["detail"].as_str().unwrap().is_empty(), "{uri}");
        assert_eq!(g.cache, "no-store", "{uri}");
    }
    let g = get(&engine, "/v1/entries/18446744073709551616").await;
    let detail = serde_json::from_slice::<serde_json::Value>(&g.body).unwrap()["detail"].clone();
    assert_eq!(detail, "sequence number 18446744073709551616 is larger than 18446744073709551615");
}

/// Every route answers with the media type documented for it (README, OpenAPI), and the cache
/// policy: full tiles and entry bundles immutable, partial ones short, the checkpoint
/// revalidated, an error never cached.
#[tokio::test]
async fn every_route_answers_with_its_media_type_and_cache_policy() {
    // 6 + 250 = 256 entries: one full tile; then an incident's opening, alone in the next.
    let (keys, engine, _dir) = ledger(250);
    append(&engine, vec![sub(&keys.ops, incident_open("inc-1"), "o1")]);
    let (json, octets) = ("application/json", "application/octet-stream");
    // (path, status, media type, cache policy or "" where none is stated)
    let cases = [
        ("/checkpoint", 200, "text/plain; charset=utf-8", "no-cache"),
        ("/tile/0/000", 200, octets, "public, max-age=31536000, immutable"),
        ("/tile/entries/000", 200, octets, "public, max-age=31536000, immutable"),
        ("/tile/0/001.p/1", 200, octets, "public, max-age=1"),
        ("/tile/entries/001.p/1", 200, octets, "public, max-age=1"),
        ("/tile/1/000.p/1", 200, octets, "public, max-age=1"),
        ("/v1/entries/0", 200, json, ""),
        ("/v1/entries?kind=withdrawal&limit=2", 200, json, ""),
        ("/v1/proofs/inclusion?seq=0", 200, json, ""),
        ("/v1/proofs/consistency?from=1", 200, json, ""),
        ("/v1/incidents", 200, json, ""),
        ("/v1/incidents/inc-1", 200, json, ""),
        ("/v1/safu", 200, json, ""),
        ("/metrics", 200, "application/openmetrics-text; version=1.0.0; charset=utf-8", ""),
        ("/openapi.json", 200, json, ""),
        ("/healthz", 200, "text/plain; charset=utf-8", ""),
        ("/v1/entries/9999", 404, "application/problem+json", "no-store"),
        ("/tile/0/002.p/1", 404, "application/problem+json", "no-store"),
    ];
    for (path, status, media, cache) in cases {
        let g = get(&engine, path).await;
        assert_eq!(g.status.as_u16(), status, "{path}: {}", String::from_utf8_lossy(&g.body));
        assert_eq!(g.content_type, media, "{path}");
        if !cache.is_empty() {
            assert_eq!(g.cache, cache, "{path}");
        }
    }
}

#[tokio::test]
async fn the_public_router_has_no_write_route() {
    let (_keys, engine, _dir) = ledger(1);
    for uri in
        ["/checkpoint", "/tile/0/000.p/7", "/v1/entries/0", "/v1/proofs/inclusion?seq=0", "/v1/incidents", "/v1/safu"]
    {
        for m in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            let g = call(&engine, m.clone(), uri).await;
            assert_eq!(g.status, StatusCode::METHOD_NOT_ALLOWED, "{m} {uri}");
        }
    }
    assert_eq!(call(&engine, Method::POST, "/v1/events").await.status, StatusCode::NOT_FOUND);
    // No openings on the public listener, whatever the method.
    for m in [Method::GET, Method::POST] {
        assert_eq!(call(&engine, m.clone(), "/v1/openings/0").await.status, StatusCode::NOT_FOUND, "{m}");
    }
}

#[tokio::test]
async fn entries_are_listed_by_kind_incident_and_page() {
    let (keys, engine, _dir) = ledger(5);
    // Two entries of an incident, by the operations key.
    let freeze =
        serde_json::json!({"kind": "freeze", "scope": {"target": "withdrawals"}, "reason": "r", "incident": "inc-1"});
    append(&engine, vec![sub(&keys.ops, incident_open("inc-1"), "o1"), sub(&keys.ops, freeze.clone(), "o2")]);
    // Another incident, and a second freeze of the first.
    let mut freeze_2 = freeze.clone();
    freeze_2["incident"] = "inc-2".into();
    append(
        &engine,
        vec![
            sub(&keys.ops, incident_open("inc-2"), "o3"),
            sub(&keys.ops, freeze_2, "o4"),
            sub(&keys.ops, freeze, "o5"),
        ],
    );
    let seqs = |body: &[u8]| -> (Vec<u64>, serde_json::Value) {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        (v["entries"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect(), v["next_after"].clone())
    };
    // Bootstrap is 0..=5, withdrawals 6..=10, inc-1 11, 12 and 15, inc-2 13 and 14.
    // (query, seqs, next_after)
    let cases: &[(&str, &[u64], serde_json::Value)] = &[
        ("?kind=withdrawal", &[6, 7, 8, 9, 10], serde_json::Value::Null),
        ("?kind=withdrawal&limit=2", &[6, 7], serde_json::json!(7)),
        ("?kind=withdrawal&limit=2&after=7", &[8, 9], serde_json::json!(9)),
        // A last page that is exactly full says it is the last.
        ("?kind=withdrawal&limit=1&after=9", &[10], serde_json::Value::Null),
        ("?kind=withdrawal&limit=5", &[6, 7, 8, 9, 10], serde_json::Value::Null),
        ("?incident=inc-1&limit=2", &[11, 12], serde_json::json!(12)),
        ("?after=10&limit=2", &[11, 12], serde_json::json!(12)),
        ("?after=9&limit=2", &[10, 11], serde_json::json!(11)),
        ("?incident=inc-1", &[11, 12, 15], serde_json::Value::Null),
        ("?kind=key_revoked", &[5], serde_json::Value::Null),
        ("?after=10&limit=5", &[11, 12, 13, 14, 15], serde_json::Value::Null),
        ("?limit=3", &[0, 1, 2], serde_json::json!(2)),
        ("?kind=freeze&after=12", &[14, 15], serde_json::Value::Null),
        ("?kind=freeze&after=15", &[], serde_json::Value::Null),
        // Both filters: the entries of that kind naming that incident.
        ("?kind=freeze&incident=inc-1", &[12, 15], serde_json::Value::Null),
        ("?incident=inc-1&kind=freeze&limit=1", &[12], serde_json::json!(12)),
        ("?kind=freeze&incident=inc-1&after=12", &[15], serde_json::Value::Null),
        ("?kind=incident_open&incident=inc-2", &[13], serde_json::Value::Null),
        ("?kind=withdrawal&incident=inc-1", &[], serde_json::Value::Null),
        ("?kind=freeze&incident=inc-3", &[], serde_json::Value::Null),
    ];
    for (q, want, next) in cases {
        let g = get(&engine, &format!("/v1/entries{q}")).await;
        assert_eq!(g.status, StatusCode::OK, "{q}");
        let (got, got_next) = seqs(&g.body);
        assert_eq!(&got, want, "{q}");
        assert_eq!(&got_next, next, "{q}");
    }
    // A search that runs out of steps (one a page here) ends its page where it got to, even
    // an empty page; paging on from there gives every match once.
    let app =
        vigil::http::public::router(engine.clone(), None).layer(axum::Extension(vigil::http::public::JoinSteps(1)));
    let (mut found, mut after, mut pages) = (Vec::new(), String::new(), Vec::new());
    loop {
        let uri = format!("/v1/entries?kind=freeze&incident=inc-1{after}");
        let res = app.clone().oneshot(Request::get(&uri).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{uri}");
        let (got, next) = seqs(&res.into_body().collect().await.unwrap().to_bytes());
        pages.push((got.clone(), next.clone()));
        found.extend(got);
        match next.as_u64() {
            Some(n) => after = format!("&after={n}"),
            None => break,
        }
        assert!(pages.len() < 20, "{pages:?}");
    }
    assert_eq!(found, [12, 15], "{pages:?}");
    assert!(pages.iter().any(|(got, next)| got.is_empty() && next.is_u64()), "an empty page that goes on: {pages:?}");
    for bad in [
        "?kind=teleport",
        "?kind=teleport&incident=inc-1",
        "?kind=freeze&incident=",
        "?limit=0",
        "?limit=5000",
        "?colour=red",
        "?incident=",
    ] {
        let g = get(&engine, &format!("/v1/entries{bad}")).await;
        assert_eq!(g.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(g.content_type, "application/problem+json", "{bad}");
    }
}

fn demo_engine() -> (Arc<Engine>, tempfile::TempDir) {
    std::thread::spawn(|| {
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-example");
        let engine = vigil::demo::write_demo_log(&keys_dir, &dir.path().join("d")).unwrap();
        (Arc::new(engine), dir)
    })
    .join()
    .unwrap()
}

#[tokio::test]
async fn the_safu_history_is_derived_from_the_log() {
    let (engine, _dir) = demo_engine();
    let g = get(&engine, "/v1/safu").await;
    assert_eq!(g.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
    let h = v["history"].as_array().unwrap();
    // The opening balance, 28 daily contributions, the payout.
    assert_eq!(h.len(), 30, "{v}");
    assert_eq!((h[0]["kind"].as_str(), h[0]["balance"].as_str()), (Some("contribution"), Some("850000000000")));
    let payout = h.iter().find(|p| p["kind"] == "payout").unwrap();
    assert_eq!(payout["amount"], "700000000000");
    assert_eq!(payout["incident"], vigil::demo::INCIDENT);
    // Every balance is the previous one plus a contribution or minus a payout.
    let mut balance: i128 = 0;
    for p in h {
        let amount: i128 = p["amount"].as_str().unwrap().parse().unwrap();
        balance += if p["kind"] == "payout" { -amount } else { amount };
        assert_eq!(p["balance"].as_str().unwrap(), balance.to_string(), "{p}");
    }
    assert_eq!(v["balances"]["BTC"], balance.to_string());
    assert_eq!(v["negative"], serde_json::json!([]));
    // Each point is an entry of the log.
    let seq = payout["seq"].as_u64().unwrap();
    let e: serde_json::Value = serde_json::from_slice(&get(&engine, &format!("/v1/entries/{seq}")).await.body).unwrap();
    assert_eq!(e["statement"]["event"]["kind"], "safu_payout");
}

/// Contributions each valid (38 digits) whose sum overflows 128 bits: the log holds them, and
/// `/v1/safu` says the history cannot be stated (FORMAT §3.6 refuses it), not "internal error".
#[tokio::test]
async fn a_safu_history_over_128_bits_is_said_to_be_unstatable() {
    let (keys, engine, _dir) = ledger(0);
    let reg = serde_json::json!({"kind": "key_registered", "key": keys.stranger.verifier().to_vkey(), "kinds": ["safu_contribution"]});
    append(&engine, vec![sub(&keys.operator, reg, "reg-safu")]);
    let first = engine.head().state.size;
    let c = serde_json::json!({"kind": "safu_contribution", "asset": "BTC", "amount": "9".repeat(38),
        "period_start_ms": 1, "period_end_ms": 2, "fee_share_bps": 1000});
    append(&engine, (0..4).map(|i| sub(&keys.stranger, c.clone(), &format!("c{i}"))).collect());
    let g = get(&engine, "/v1/safu").await;
    assert_eq!(g.status, StatusCode::INTERNAL_SERVER_ERROR);
    let p: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
    assert_eq!(p["code"], "unstatable", "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("SAFU contributions of BTC overflows 128 bits"), "{detail}");
    // The entries themselves are served.
    for seq in first..first + 4 {
        assert_eq!(get(&engine, &format!("/v1/entries/{seq}")).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn an_incident_timeline_verifies_against_one_checkpoint_and_states_its_facts() {
    let (engine, _dir) = demo_engine();
    let log_key = vigil::config::read_verifier(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-example/vigil.example_audit-log.vkey"),
    )
    .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&get(&engine, "/v1/incidents").await.body).unwrap();
    let incidents = list["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{list}");
    assert_eq!(
        (incidents[0]["incident"].as_str(), incidents[0]["status"].as_str()),
        (Some(vigil::demo::INCIDENT), Some("closed"))
    );

    let g = get(&engine, &format!("/v1/incidents/{}", vigil::demo::INCIDENT)).await;
    assert_eq!(g.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
    let cp = checkpoint::verify(v["checkpoint"].as_str().unwrap().as_bytes(), &log_key).unwrap().checkpoint;
    let timeline = v["timeline"].as_array().unwrap();
    // 12 executed attack withdrawals (brought in by the alarms), 2 alarms, open, 3 freezes,
    // the credential reset, 2 updates, the payout, 2 unfreezes, the close.
    assert_eq!(timeline.len(), 25, "{v}");
    for e in timeline {
        let leaf = Digest::from_hex(e["leaf_hash"].as_str().unwrap()).unwrap();
        let proof: vigil_core::merkle::InclusionProof = serde_json::from_value(e["inclusion_proof"].clone()).unwrap();
        assert_eq!(proof.tree_size, cp.size);
        proof.verify(&leaf, &cp.root).unwrap_or_else(|err| panic!("entry {}: {err}", e["seq"]));
        // The leaf hash is the hash of the bytes served.
        assert_eq!(leaf_hash(&hex::decode(e["bytes"].as_str().unwrap()).unwrap()), leaf);
    }
    let referenced = timeline.iter().filter(|e| e["membership"]["via"] == "referenced_by").count();
    assert_eq!(referenced, 12);
    let f = &v["facts"];
    assert_eq!(f["lost"]["BTC"], "700000000000");
    assert_eq!(f["covered"]["BTC"], "700000000000");
    assert_eq!(f["uncovered"], serde_json::json!({}));
    // First alarm 17:24, global freeze 17:31.
    assert_eq!(f["alarm_to_freeze_ms"], 7 * 60_000);

    for (path, status) in [("/v1/incidents/INC-none", StatusCode::NOT_FOUND), ("/v1/incidents/", StatusCode::NOT_FOUND)]
    {
        assert_eq!(get(&engine, path).await.status, status, "{path}");
    }
}

/// The summaries are kept per published size: asked again, the same answer; once the log
/// grows, the new one (never a stale answer).
#[tokio::test]
async fn summaries_follow_the_published_size() {
    let (keys, engine, _dir) = ledger(0);
    // One router, so one set of kept answers, for every request.
    let app = vigil::http::public::router(engine.clone(), None);
    let list = || {
        let app = app.clone();
        async move {
            let res = app.oneshot(Request::get("/v1/incidents").body(Body::empty()).unwrap()).await.unwrap();
            assert_eq!(res.headers()["content-type"], "application/json");
            let body = res.into_body().collect().await.unwrap().to_bytes();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let ids: Vec<String> = v["incidents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["incident"].as_str().unwrap().to_string())
                .collect();
            (body, ids)
        }
    };
    let (first, ids) = list().await;
    assert_eq!(ids, Vec::<String>::new());
    assert_eq!(list().await.0, first);
    for (i, id) in ["inc-1", "inc-2"].iter().enumerate() {
        append(&engine, vec![sub(&keys.ops, incident_open(id), &format!("o{i}"))]);
        let want: Vec<String> = ["inc-1", "inc-2"][..=i].iter().map(|s| s.to_string()).collect();
        assert_eq!(list().await.1, want);
    }

    // Snapshots are looked up in a kept index: a snapshot logged later is found, by its own
    // view and by users' proofs (this router has no trees: the refusal then names the tree).
    let ask = |uri: &'static str| {
        let app = app.clone();
        async move {
            let res = app.oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
            let status = res.status();
            (status, String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
        }
    };
    let proof = "/v1/reserves/por-1/proof/00000000000000000000000000000000";
    let unlogged = "the log has no reserve snapshot \\\"por-1\\\"";
    for uri in ["/v1/reserves/por-1", proof] {
        let (status, body) = ask(uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert!(body.contains(unlogged), "{uri}: {body}");
    }
    assert_eq!(ask("/v1/reserves").await.1, r#"{"checkpoint_size":8,"snapshots":[]}"#);
    let register = serde_json::json!({"kind": "key_registered", "key": keys.stranger.verifier().to_vkey(), "kinds": ["reserve_snapshot"]});
    let snapshot = serde_json::json!({"kind": "reserve_snapshot", "snapshot": "por-1", "cut_off_ms": 1,
        "liabilities_root": "00".repeat(32), "padded_size": 2, "attestations": [1],
        "assets": [{"asset": "BTC", "liabilities": "2", "reserves": "3", "ratio": "1.5000"}]});
    append(&engine, vec![sub(&keys.operator, register, "reg"), sub(&keys.stranger, snapshot, "por-1")]);
    let (status, body) = ask("/v1/reserves/por-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((v["seq"].as_u64(), v["checkpoint_size"].as_u64()), (Some(9), Some(10)), "{body}");
    let (status, body) = ask(proof).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(!body.contains(unlogged), "{body}");
    let v: serde_json::Value = serde_json::from_str(&ask("/v1/reserves").await.1).unwrap();
    assert_eq!(v["snapshots"][0]["snapshot"], "por-1", "{v}");
}

/// A page of large entries ends once it holds about a megabyte of them; the next page goes on
/// from there, and together they list every entry once.
#[tokio::test]
async fn a_page_of_large_entries_ends_at_its_byte_limit() {
    let (keys, engine, _dir) = ledger(0);
    for chunk in (0..300).collect::<Vec<u32>>().chunks(100) {
        let large = |i: &u32| {
            let mut a = alarm(vec![]);
            a["summary"] = format!("{i} {}", "x".repeat(4000)).into();
            sub(&keys.risk, a, &format!("a{i}"))
        };
        append(&engine, chunk.iter().map(large).collect());
    }
    let page = |after: Option<u64>| {
        let engine = engine.clone();
        async move {
            let after = after.map(|a| format!("&after={a}")).unwrap_or_default();
            let v: serde_json::Value =
                serde_json::from_slice(&get(&engine, &format!("/v1/entries?kind=alarm&limit=1000{after}")).await.body)
                    .unwrap();
            let seqs: Vec<u64> = v["entries"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
            let bytes: usize =
                v["entries"].as_array().unwrap().iter().map(|e| e["bytes"].as_str().unwrap().len() / 2).sum();
            (seqs, bytes, v["next_after"].as_u64())
        }
    };
    let (first, bytes, next) = page(None).await;
    let limit = vigil::http::public::MAX_PAGE_BYTES;
    assert!(first.len() < 300 && bytes >= limit && bytes < limit + 65_536, "{} entries, {bytes} bytes", first.len());
    assert_eq!(next, first.last().copied());
    let (rest, _, end) = page(next).await;
    assert_eq!(end, None);
    let all: Vec<u64> = first.into_iter().chain(rest).collect();
    assert_eq!(all, (6..306).collect::<Vec<u64>>());
}

/// One incident whose amounts sum past 128 bits (its services' doing): its figures are
/// refused with the reason, while the list and its timeline are still served, and the other
/// incident's figures are stated.
#[tokio::test]
async fn an_incident_whose_amounts_overflow_is_listed_without_figures() {
    let (keys, engine, _dir) = ledger(0);
    let close = serde_json::json!({"kind": "incident_close", "incident": "inc-big", "summary": "s"});
    let mut subs = vec![
        sub(&keys.ops, incident_open("inc-big"), "o1"),
        sub(&keys.ops, incident_open("inc-small"), "o2"),
        sub(&keys.ops, close, "c1"),
    ];
    // Four of the largest amount (38 digits) sum past 2^128.
    for (i, (incident, amount)) in
        [("inc-big", "9".repeat(38)), ("inc-small", "5".into())].iter().flat_map(|x| [x; 4]).enumerate()
    {
        let mut w = withdrawal(&format!("w-{i}"));
        (w["stage"], w["tx_id"]) = ("executed".into(), format!("tx-{i}").into());
        (w["amount"], w["incident"]) = (amount.as_str().into(), (*incident).into());
        subs.push(sub(&keys.withdrawals, w, &format!("w{i}")));
    }
    append(&engine, subs);
    let json = |g: Got| -> serde_json::Value {
        assert_eq!(g.status, StatusCode::OK);
        serde_json::from_slice(&g.body).unwrap()
    };
    let list = json(get(&engine, "/v1/incidents").await);
    let listed: Vec<_> = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let (id, status) = (i["incident"].as_str().unwrap(), i["status"].as_str().unwrap());
            (id, status, i["entries"].as_u64().unwrap(), i["facts"]["lost"]["BTC"].clone())
        })
        .collect();
    // The status comes from the close entry, figures or not.
    assert_eq!(
        listed,
        [("inc-big", "closed", 6, serde_json::Value::Null), ("inc-small", "open", 5, serde_json::json!("20"))],
        "{list}"
    );
    let big = &list["incidents"][0];
    assert_eq!(big["facts"], serde_json::Value::Null, "{big}");
    assert_eq!(big["facts_error"], "the amount lost of BTC overflows 128 bits", "{big}");
    assert_eq!(list["incidents"][1].get("facts_error"), None, "{list}");

    let view = json(get(&engine, "/v1/incidents/inc-big").await);
    assert_eq!(view["timeline"].as_array().unwrap().len(), 6, "{view}");
    assert_eq!(
        (view["facts"].clone(), view["facts_error"].clone()),
        (big["facts"].clone(), big["facts_error"].clone())
    );
}

#[tokio::test]
async fn metrics_count_appends_and_requests_by_route() {
    let (keys, engine, _dir) = ledger(3);
    let (metrics, http, internal_http) = vigil::metrics::Metrics::new(engine.metrics());
    let app = vigil::http::public::router_with(
        engine.clone(),
        metrics,
        http,
        std::sync::Arc::new(vigil::http::public::Site {
            trees: vigil::http::public::Trees::new(None),
            web: None,
            witnessing: None,
            internal: None,
        }),
        vigil::http::REQUEST_TIMEOUT,
    );
    let send = |uri: &str| {
        let app = app.clone();
        let req = Request::get(uri).body(Body::empty()).unwrap();
        async move {
            let res = app.oneshot(req).await.unwrap();
            let status = res.status();
            (status, String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
        }
    };
    for uri in ["/v1/entries/0", "/v1/entries/1", "/v1/entries/999", "/no/such/route"] {
        send(uri).await;
    }
    // The internal listener's requests, in the same registry: a batch of two, and a refusal.
    let count = |text: &str, name: &str| -> u64 {
        // A histogram's sum is written as a float (`11.0`).
        let value = text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok());
        value.unwrap_or_else(|| panic!("no {name} in\n{text}")) as u64
    };
    let before = send("/metrics").await.1;
    let internal = vigil::http::internal::router_with(
        vigil::http::internal::InternalState {
            engine: engine.clone(),
            clock: Arc::new(FixedClock(T0.into())),
            replay_window_ms: 300_000,
            in_flight: Default::default(),
            max_in_flight: 10_000,
            auditors: Default::default(),
        },
        internal_http,
        vigil::http::REQUEST_TIMEOUT,
    );
    let batch: Vec<_> = ["m-1", "m-2"]
        .iter()
        .map(|id| {
            vigil::client::sign_event(
                &keys.withdrawals,
                vigil_core::event::Event::from_value(withdrawal(id)).unwrap(),
                id,
                T0,
            )
            .unwrap()
        })
        .collect();
    for (media, status) in [("application/json", StatusCode::OK), ("text/plain", StatusCode::UNSUPPORTED_MEDIA_TYPE)] {
        let req = Request::post("/v1/events")
            .header("content-type", media)
            .body(Body::from(serde_json::to_vec(&batch).unwrap()))
            .unwrap();
        assert_eq!(internal.clone().oneshot(req).await.unwrap().status(), status);
    }
    let (status, text) = send("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let size = engine.head().state.size;
    // (a line the exposition must contain)
    let want = [
        format!("vigil_checkpoint_size {size}"),
        format!("vigil_appended_entries_total {size}"),
        r#"vigil_http_requests_total{listener="public",route="/v1/entries/{seq}",method="GET",status="200"} 2"#.into(),
        r#"vigil_http_requests_total{listener="public",route="/v1/entries/{seq}",method="GET",status="404"} 1"#.into(),
        r#"vigil_http_requests_total{listener="public",route="unmatched",method="GET",status="404"} 1"#.into(),
        "# TYPE vigil_fsync_seconds histogram".into(),
        "# TYPE vigil_batch_events histogram".into(),
        r#"vigil_http_requests_total{listener="internal",route="/v1/events",method="POST",status="200"} 1"#.into(),
        r#"vigil_http_requests_total{listener="internal",route="/v1/events",method="POST",status="415"} 1"#.into(),
    ];
    for w in want {
        assert!(text.lines().any(|l| l == w), "missing {w:?} in\n{text}");
    }
    // The batch of two: one more caller batch, two more events.
    for (name, more) in [("vigil_batch_events_count", 1), ("vigil_batch_events_sum", 2)] {
        assert_eq!(count(&text, name), count(&before, name) + more, "{name} in\n{text}");
    }
    // One fsync at least per append (4 group commits here).
    let fsyncs: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("vigil_fsync_seconds_count "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no fsync count in\n{text}"));
    assert!(fsyncs >= 2, "{fsyncs}");
}

#[tokio::test]
async fn cors_is_open_for_reads() {
    let (_keys, engine, _dir) = ledger(1);
    let app = vigil::http::public::router(engine.clone(), None);
    // A preflight for a GET, and a plain GET from another origin.
    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri("/checkpoint")
        .header("origin", "https://auditor.example")
        .header("access-control-request-method", "GET")
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(preflight).await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(res.headers()["access-control-allow-methods"].to_str().unwrap().contains("GET"));
    let res = app
        .oneshot(Request::get("/checkpoint").header("origin", "https://auditor.example").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
}

/// `/openapi.json` documents both APIs, generated from the handlers; every public path it
/// lists is a route the router answers (not its fallback).
#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes() {
    let (_keys, engine, _dir) = ledger(3);
    let g = get(&engine, "/openapi.json").await;
    assert_eq!(g.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
    assert!(v["openapi"].as_str().unwrap().starts_with("3.1"), "{}", v["openapi"]);
    let paths = v["paths"].as_object().unwrap();
    let mut listed: Vec<&str> = paths.keys().map(String::as_str).collect();
    listed.sort();
    let mut want = vec![
        "/checkpoint",
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/tile/{path}",
        "/v1/entries",
        "/v1/entries/{seq}",
        "/v1/events",
        "/v1/incidents",
        "/v1/incidents/{id}",
        "/v1/openings/{seq}",
        "/v1/proofs/consistency",
        "/v1/proofs/inclusion",
        "/v1/reserves",
        "/v1/reserves/{snapshot}",
        "/v1/reserves/{snapshot}/proof/{record_id}",
        "/v1/safu",
    ];
    want.sort();
    assert_eq!(listed, want);
    // Both listeners have /healthz: the document keeps the internal one, whose 503 says appends
    // stopped.
    assert!(paths["/healthz"]["get"]["responses"]["503"].is_object(), "{}", paths["/healthz"]);
    // A path is on the listener serving the document unless it names the internal one (a
    // client must not send appends to the public listener).
    assert!(v.get("servers").is_none(), "{}", v["servers"]);
    let servers = |p: &str| -> Vec<String> {
        paths[p]["servers"].as_array().map_or(vec![], |a| a.iter().map(|s| s["url"].as_str().unwrap().into()).collect())
    };
    // A listener bound to every address has no URL of its own: its host is a variable.
    let everywhere = serde_json::to_value(vigil::http::openapi::spec(Some("0.0.0.0:9000".parse().unwrap()))).unwrap();
    let server = &everywhere["paths"]["/v1/events"]["servers"][0];
    assert_eq!(
        (server["url"].as_str(), server["variables"]["host"]["default"].as_str()),
        (Some("http://{host}:9000"), Some("localhost")),
        "{server}"
    );
    for (path, want) in [
        ("/v1/events", vec!["http://127.0.0.1:8081"]),
        ("/v1/openings/{seq}", vec!["http://127.0.0.1:8081"]),
        ("/healthz", vec!["/", "http://127.0.0.1:8081"]),
        ("/checkpoint", vec![]),
        ("/v1/proofs/inclusion", vec![]),
    ] {
        assert_eq!(servers(path), want, "{path}");
    }
    for schema in [
        "Appended",
        "BatchReceipt",
        "Submission",
        "ProblemBody",
        "IncidentView",
        "InclusionProof",
        "EntriesPage",
        "SafuView",
    ] {
        assert!(v["components"]["schemas"][schema].is_object(), "schema {schema} missing");
    }
    // Every documented public GET is served by the router: concrete values for the parameters,
    // and the answer is the handler's (a problem+json or a success), not the router's fallback.
    for (path, item) in paths {
        if item["get"]["tags"][0] != "public" {
            continue;
        }
        let uri = path
            .replace("{seq}", "0")
            .replace("{id}", "none")
            .replace("{snapshot}", "none")
            .replace("{record_id}", &"0".repeat(32))
            .replace("{path}", "0/000.p/1");
        let uri = match uri.as_str() {
            "/v1/proofs/inclusion" => "/v1/proofs/inclusion?seq=0".to_string(),
            "/v1/proofs/consistency" => "/v1/proofs/consistency?from=1".to_string(),
            u => u.to_string(),
        };
        let g = get(&engine, &uri).await;
        assert!(
            g.status.is_success() || g.content_type == "application/problem+json",
            "{uri}: {} {}",
            g.status,
            g.content_type
        );
        let documented: Vec<String> = item["get"]["responses"].as_object().unwrap().keys().cloned().collect();
        assert!(
            documented.contains(&g.status.as_u16().to_string()),
            "{uri}: {} is not documented ({documented:?})",
            g.status
        );
    }
}
