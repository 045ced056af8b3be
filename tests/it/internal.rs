//! The internal append API, through the router without sockets.

use crate::support::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tower::ServiceExt;
use vigil::engine::Engine;
use vigil::http::internal::{router, InternalState};
use vigil_core::statement::Submission;

struct Env {
    keys: Keys,
    auditor: vigil_core::keys::SignerKey,
    engine: Arc<Engine>,
    state: InternalState,
    /// The clock of the engine and of the replay window.
    clock: Arc<FixedClock>,
    _dir: tempfile::TempDir,
}

fn env() -> Env {
    std::thread::spawn(|| {
        let Ledger { dir, engine, keys, clock } = Ledger::new();
        let engine = Arc::new(engine);
        let state = state_of(&engine, &clock);
        Env { keys, auditor: key("auditor", 77), engine, state, clock, _dir: dir }
    })
    .join()
    .unwrap()
}

/// The internal API's state over `engine`: a 5-minute replay window, `auditor` (seed 77) the
/// one auditor.
fn state_of(engine: &Arc<Engine>, clock: &Arc<FixedClock>) -> InternalState {
    InternalState {
        engine: engine.clone(),
        clock: clock.clone(),
        replay_window_ms: 300_000,
        in_flight: Arc::new(AtomicUsize::new(0)),
        max_in_flight: 10_000,
        auditors: Arc::new(vec![key("auditor", 77).verifier()]),
    }
}

/// `event` (JSON) signed by `key` at `created_at_ms`, as a service sends it.
fn signed_submission(key: &vigil_core::keys::SignerKey, event: Value, idem: &str, created_at_ms: u64) -> Submission {
    let ev = vigil_core::event::Event::from_value(event).unwrap();
    vigil::client::sign_event(key, ev, idem, created_at_ms).unwrap()
}

fn submission(key: &vigil_core::keys::SignerKey, event: Value, idem: &str, created_at_ms: u64) -> Value {
    serde_json::to_value(signed_submission(key, event, idem, created_at_ms)).unwrap()
}

/// `POST /v1/events`; the answer's status and JSON body, its media type checked: a receipt's
/// `application/json`, a refusal's `application/problem+json`.
async fn post(state: &InternalState, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let (status, _, body) = post_with_headers(state, content_type, body).await;
    (status, body)
}

/// [`post`], with the answer's headers.
async fn post_with_headers(
    state: &InternalState,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let req = Request::post("/v1/events").header("content-type", content_type).body(Body::from(body)).unwrap();
    let res = router(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let media = if status.is_success() { "application/json" } else { "application/problem+json" };
    assert_eq!(res.headers().get("content-type").map(|v| v.to_str().unwrap()), Some(media), "{status}");
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_batch_is_appended_and_answered_with_receipts() {
    let e = env();
    let before = e.engine.head().state.size;
    let batch = json!([
        submission(&e.keys.withdrawals, withdrawal("w-1"), "a", T0),
        submission(&e.keys.risk, alarm(vec![1]), "b", T0 + 1000),
    ]);
    let (status, body) = post(&e.state, "application/json", batch.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The checkpoint once; each receipt's proof leads to its root.
    let appended: vigil::http::internal::Appended = serde_json::from_value(body.clone()).unwrap();
    let cp = vigil_core::checkpoint::verify(appended.checkpoint.as_bytes(), &e.keys.log.verifier()).unwrap().checkpoint;
    assert_eq!(cp.size, before + 2);
    let receipts = appended.receipts;
    assert_eq!(receipts.iter().map(|r| r.seq).collect::<Vec<_>>(), [before, before + 1]);
    for r in &receipts {
        let leaf = vigil_core::hash::Digest::from_hex(&r.leaf_hash).unwrap();
        r.inclusion_proof.verify(&leaf, &cp.root).unwrap();
        assert_eq!(r.inclusion_proof.tree_size, cp.size);
    }
    assert_eq!(e.engine.head().state.size, before + 2);
    // One object (not an array) is a batch of one.
    let one = submission(&e.keys.withdrawals, withdrawal("w-2"), "c", T0);
    let (status, body) = post(&e.state, "application/json; charset=utf-8", one.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Media types and charsets are case-insensitive.
    let one = submission(&e.keys.withdrawals, withdrawal("w-3"), "d", T0);
    let (status, body) = post(&e.state, "Application/JSON; Charset=\"UTF-8\"", one.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn every_refusal_has_its_status_and_writes_nothing() {
    let e = env();
    let k = &e.keys;
    let good = submission(&k.withdrawals, withdrawal("w-ok"), "good", T0);
    e.engine
        .append(vec![serde_json::from_value::<Submission>(submission(&k.withdrawals, withdrawal("w-0"), "taken", T0))
            .unwrap()
            .parse()
            .unwrap()])
        .await
        .unwrap();
    let mut bad_sig = submission(&k.withdrawals, withdrawal("w-1"), "d", T0);
    bad_sig["signature"] = json!(base64_sig_flipped(bad_sig["signature"].as_str().unwrap()));
    let mut bad_field = submission(&k.withdrawals, withdrawal("w-2"), "e", T0);
    bad_field["statement"]["event"]["amount"] = json!(1.5);
    let mut bad_amount = submission(&k.withdrawals, withdrawal("w-8"), "k", T0);
    bad_amount["statement"]["event"]["amount"] = json!("7 BTC");
    let mut unknown_kind = submission(&k.withdrawals, withdrawal("w-9"), "l", T0);
    unknown_kind["statement"]["event"]["kind"] = json!("teleport");
    let mut no_opening = submission(&k.withdrawals, withdrawal("w-10"), "n", T0);
    no_opening["openings"] = json!([]);
    let mut wrong_opening = submission(&k.withdrawals, withdrawal("w-11"), "o", T0);
    wrong_opening["openings"][0]["value"] = json!("acct-999");
    // `twin+0fe81b63` registered; the other key of that name and id is then a conflict.
    let (twin, other_twin) = twin_keys();
    let register = |key: &vigil_core::keys::SignerKey, idem: &str| {
        submission(
            &k.operator,
            json!({"kind": "key_registered", "key": key.verifier().to_vkey(), "kinds": ["alarm"]}),
            idem,
            T0,
        )
    };
    e.engine
        .append(vec![serde_json::from_value::<Submission>(register(&twin, "twin")).unwrap().parse().unwrap()])
        .await
        .unwrap();
    let many: Vec<Value> = (0..1001).map(|_| good.clone()).collect();
    let big = vec![b' '; vigil::http::internal::MAX_BODY + 1];
    // (what, content type, body, status, code)
    let cases: Vec<(&str, &str, Vec<u8>, StatusCode, &str)> = vec![
        ("not JSON", "application/json", b"{\"statement\":".to_vec(), StatusCode::BAD_REQUEST, "malformed_json"),
        ("a number", "application/json", b"42".to_vec(), StatusCode::BAD_REQUEST, "malformed_json"),
        (
            "missing signature",
            "application/json",
            json!([good.clone(), {"statement": good["statement"].clone()}]).to_string().into_bytes(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "text/plain",
            "text/plain",
            json!(good).to_string().into_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "unknown key",
            "application/json",
            json!([good.clone(), submission(&k.stranger, withdrawal("w-3"), "f", T0)]).to_string().into_bytes(),
            StatusCode::UNAUTHORIZED,
            "unknown_key",
        ),
        (
            "revoked key",
            "application/json",
            json!([good.clone(), submission(&k.retired, alarm(vec![]), "g", T0)]).to_string().into_bytes(),
            StatusCode::UNAUTHORIZED,
            "revoked_key",
        ),
        (
            // The signer is fine; the event names a key that is not there: not a 401.
            "revoking a key never registered",
            "application/json",
            json!([
                good.clone(),
                submission(
                    &k.operator,
                    json!({"kind": "key_revoked", "key": k.stranger.key_ref.to_string(), "reason": "r"}),
                    "rv",
                    T0
                )
            ])
            .to_string()
            .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_event",
        ),
        (
            "bad signature",
            "application/json",
            json!([good.clone(), bad_sig]).to_string().into_bytes(),
            StatusCode::UNAUTHORIZED,
            "bad_signature",
        ),
        (
            "kind not allowed",
            "application/json",
            json!([good.clone(), submission(&k.risk, withdrawal("w-4"), "h", T0)]).to_string().into_bytes(),
            StatusCode::FORBIDDEN,
            "kind_not_allowed",
        ),
        (
            "idempotency reuse",
            "application/json",
            json!([good.clone(), submission(&k.withdrawals, withdrawal("w-5"), "taken", T0)]).to_string().into_bytes(),
            StatusCode::CONFLICT,
            "idempotency_conflict",
        ),
        (
            "a key name and id registered with another key",
            "application/json",
            json!([good.clone(), register(&other_twin, "other-twin")]).to_string().into_bytes(),
            StatusCode::CONFLICT,
            "key_conflict",
        ),
        (
            "an opening missing",
            "application/json",
            json!([good.clone(), no_opening]).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_openings",
        ),
        (
            "an opening that does not open its commitment",
            "application/json",
            json!([good.clone(), wrong_opening]).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_openings",
        ),
        (
            "float amount",
            "application/json",
            json!([good.clone(), bad_field]).to_string().into_bytes(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "amount not minor units",
            "application/json",
            json!([good.clone(), bad_amount]).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_event",
        ),
        (
            "unknown kind",
            "application/json",
            json!([good.clone(), unknown_kind]).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_event",
        ),
        (
            "replayed (old)",
            "application/json",
            json!([good.clone(), submission(&k.withdrawals, withdrawal("w-6"), "i", T0 - 3_600_000)])
                .to_string()
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "outside_replay_window",
        ),
        (
            "from the future",
            "application/json",
            json!([good.clone(), submission(&k.withdrawals, withdrawal("w-7"), "j", T0 + 3_600_000)])
                .to_string()
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "outside_replay_window",
        ),
        (
            // The body is read whole before the window is checked: only the sequencer can tell
            // a late retry (answered) from a late new event (refused).
            "stale, then unknown kind",
            "application/json",
            json!([submission(&k.withdrawals, withdrawal("w-8"), "m", T0 - 3_600_000), unknown_kind.clone()])
                .to_string()
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_event",
        ),
        (
            "too many events",
            "application/json",
            json!(many).to_string().into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        ("body too large", "application/json", big, StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        (
            "another charset",
            "application/json; charset=iso-8859-1",
            json!(good).to_string().into_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            // serde_json keeps the last of two equal keys; another parser, the first.
            "a key twice",
            "application/json",
            json!(good).to_string().replacen("\"stage\":", "\"stage\":\"executed\",\"stage\":", 1).into_bytes(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
    ];
    for (what, ct, body, status, code) in cases {
        let before = e.engine.head();
        let (got, problem) = post(&e.state, ct, body).await;
        assert_eq!(got, status, "{what}: {problem}");
        if !code.is_empty() {
            assert_eq!(problem["code"], code, "{what}: {problem}");
            assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}");
        }
        assert_eq!(e.engine.head().state, before.state, "{what}: the log changed");
        if what == "amount not minor units" {
            assert!(problem["detail"].as_str().unwrap().contains("event 1: event.amount"), "{problem}");
        }
    }
    assert_eq!(e.engine.store().idempotency("withdrawals", "good").unwrap(), None);
}

/// A new, empty log takes only its genesis entry first (the operator's self-registration): a
/// service's event is 403 `genesis` and writes nothing.
#[tokio::test]
async fn a_new_log_answers_403_genesis_to_anything_but_its_first_entry() {
    let (dir, keys, clock) = (tempfile::tempdir().unwrap(), Keys::new(), Arc::new(FixedClock(T0.into())));
    let engine = Arc::new(
        tokio::task::spawn_blocking({
            let (path, config) = (dir.path().to_path_buf(), engine_config(&keys, clock.clone()));
            move || Engine::open(&path, config).unwrap()
        })
        .await
        .unwrap(),
    );
    let state = state_of(&engine, &clock);
    let body = submission(&keys.withdrawals, withdrawal("w-1"), "a", T0).to_string().into_bytes();
    let (status, problem) = post(&state, "application/json", body).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::FORBIDDEN, Some("genesis")), "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("the first entry must be a key_registered"), "{problem}");
    assert_eq!(engine.head().state.size, 0, "the log changed");
}

/// A retry that comes after the replay window (its append was written, its answer lost) is
/// answered with the original receipt and writes nothing; a new event of that age, alone or
/// beside the retry, is refused and writes nothing.
#[tokio::test]
async fn a_late_retry_gets_its_receipt_and_a_late_new_event_is_refused() {
    let e = env();
    let first = submission(&e.keys.withdrawals, withdrawal("w-1"), "a", T0);
    let (status, body) = post(&e.state, "application/json", first.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let original = body["receipts"][0].clone();
    // An hour later, past the 5-minute window.
    e.clock.0.store(T0 + 3_600_000, std::sync::atomic::Ordering::SeqCst);
    let size = e.engine.head().state.size;
    let (status, body) = post(&e.state, "application/json", first.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let retry = &body["receipts"][0];
    assert_eq!(
        (&retry["seq"], &retry["entry_hash"], &retry["duplicate"]),
        (&original["seq"], &original["entry_hash"], &json!(true))
    );
    let late_new = submission(&e.keys.withdrawals, withdrawal("w-2"), "b", T0);
    for (what, batch) in [("alone", json!([late_new])), ("beside the retry", json!([first, late_new]))] {
        let (status, problem) = post(&e.state, "application/json", batch.to_string().into_bytes()).await;
        assert_eq!(
            (status, &problem["code"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!("outside_replay_window")),
            "{what}: {problem}"
        );
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("not a retry of an event already logged"), "{what}: {detail}");
    }
    assert_eq!(e.engine.head().state.size, size, "nothing written");
    assert_eq!(e.engine.store().idempotency("withdrawals", "b").unwrap(), None);
}

fn base64_sig_flipped(sig: &str) -> String {
    use base64::prelude::{Engine as _, BASE64_STANDARD};
    let mut raw = BASE64_STANDARD.decode(sig).unwrap();
    raw[3] ^= 1;
    BASE64_STANDARD.encode(raw)
}

#[tokio::test]
async fn a_saturated_sequencer_answers_503_with_retry_after() {
    let mut e = env();
    e.state.max_in_flight = 0;
    let req = Request::post("/v1/events")
        .header("content-type", "application/json")
        .body(Body::from(submission(&e.keys.withdrawals, withdrawal("w"), "s", T0).to_string()))
        .unwrap();
    let res = router(e.state.clone()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers().get("retry-after").unwrap(), "1");
    // A wrong content type, which no retry mends, is said as such even then.
    let req = Request::post("/v1/events").header("content-type", "text/plain").body(Body::from("{}")).unwrap();
    let res = router(e.state.clone()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

/// `n` signed [`large_alarm`]s.
fn large_alarms(key: &vigil_core::keys::SignerKey, n: usize) -> Vec<Submission> {
    (0..n).map(|i| signed_submission(key, large_alarm(i), &format!("large-{i}"), T0)).collect()
}

/// The client library waits out a saturated server: after the answer's `Retry-After` it sends
/// the batch again, up to its number of retries, over real HTTP.
#[test]
fn the_client_waits_out_a_saturated_sequencer() {
    use std::sync::atomic::Ordering::SeqCst;
    let e = env();
    let url = serve_app(router(e.state.clone()));
    let (in_flight, max) = (e.state.in_flight.clone(), e.state.max_in_flight);
    let batch = |idem: &str| vec![signed_submission(&e.keys.withdrawals, withdrawal(idem), idem, T0)];
    let client = |retries| vigil::client::AppendClient::new(&url).with_retries(retries);
    // As under load: as many events in flight as the sequencer takes.
    in_flight.store(max, SeqCst);
    let size = e.engine.head().state.size;
    let refused = client(0).append(&batch("a")).unwrap_err();
    assert_eq!(refused.status, 503, "{refused}");
    assert!(refused.detail.contains("(saturated)") && !refused.is_refusal(), "{refused}");
    // A large batch too gets its answer (the server reads the body before it answers: a
    // client still writing would see the connection closed, no answer at all).
    let large = large_alarms(&e.keys.risk, 500);
    assert!(serde_json::to_vec(&large).unwrap().len() > 3 << 20);
    for _ in 0..5 {
        let refused = client(0).append(&large).unwrap_err();
        assert_eq!(refused.status, 503, "{refused}");
    }
    // Still saturated after two retries, 1 s apart (so it took 2 s at least): the last answer.
    let started = std::time::Instant::now();
    let refused = client(2).append(&batch("a")).unwrap_err();
    assert!(started.elapsed() >= std::time::Duration::from_millis(1900), "{:?}: not retried", started.elapsed());
    assert_eq!(refused.status, 503, "{refused}");
    assert_eq!(e.engine.head().state.size, size);
    // The load passes while the client waits: its next try is answered.
    let released = std::thread::spawn({
        let in_flight = in_flight.clone();
        move || {
            std::thread::sleep(std::time::Duration::from_millis(1500));
            in_flight.fetch_sub(max, SeqCst);
        }
    });
    let receipts = client(vigil::client::RETRIES).append(&batch("a")).unwrap();
    released.join().unwrap();
    assert_eq!(receipts.iter().map(|r| (r.seq, r.duplicate)).collect::<Vec<_>>(), [(size, false)]);
    assert_eq!(e.engine.head().state.size, size + 1);
}

/// A batch sent again after saturated answers is signed again by a client that holds the key
/// (`append_signing`, and `vigil append`): with a replay window shorter than the waits, the
/// batch signed once is refused on its last try (422), the one signed for each try is appended.
#[test]
fn a_batch_sent_again_after_saturated_answers_is_signed_again() {
    use std::sync::atomic::Ordering::SeqCst;
    let mut e = env();
    e.state.clock = Arc::new(vigil::engine::SystemClock);
    e.state.replay_window_ms = 2000;
    let url = serve_app(router(e.state.clone()));
    let (in_flight, max) = (e.state.in_flight.clone(), e.state.max_in_flight);
    let sign = |idem: &str| vec![signed_submission(&e.keys.withdrawals, withdrawal(idem), idem, now_ms())];
    let dir = tempfile::tempdir().unwrap();
    let (key, events) = (dir.path().join("withdrawals.skey"), dir.path().join("events.jsonl"));
    std::fs::write(&key, e.keys.withdrawals.to_skey()).unwrap();
    std::fs::write(&events, format!("{}\n", json!({"idempotency_key": "by-cli", "event": withdrawal("by-cli")})))
        .unwrap();
    let size = e.engine.head().state.size;
    // Saturated for 3.5 s: each client is answered 503 (1 s apart) until a try about 4 s after
    // its batch was first signed, well past the 2 s window, is taken; a batch signed for that
    // try has the whole window to arrive in. (The retries cover 5 s: a client whose first try
    // came late still meets the saturation.)
    in_flight.store(max, SeqCst);
    let released = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(3500));
        in_flight.fetch_sub(max, SeqCst);
    });
    let client = vigil::client::AppendClient::new(&url);
    let (once, each_try, cli) = std::thread::scope(|s| {
        let once = s.spawn(|| client.append(&sign("once")));
        let each_try = s.spawn(|| client.append_signing(|| Ok::<_, vigil::client::AppendFailure>(sign("each-try"))));
        let cli =
            s.spawn(|| vigil(&["append", "--url", &url, "--key", key.to_str().unwrap(), events.to_str().unwrap()]));
        (once.join().unwrap(), each_try.join().unwrap(), cli.join().unwrap())
    });
    released.join().unwrap();
    let once = once.unwrap_err();
    assert_eq!(once.status, 422, "{once}");
    assert!(once.detail.contains("outside_replay_window"), "{once}");
    let each_try = each_try.unwrap();
    let (code, stdout, stderr) = cli;
    assert_eq!(code, 0, "{stderr}");
    let by_cli: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // Appended once each, after the saturation passed.
    let mut seqs: Vec<u64> = by_cli.iter().map(|r| r["seq"].as_u64().unwrap()).chain([each_try[0].seq]).collect();
    seqs.sort();
    assert_eq!(seqs, [size, size + 1]);
    assert_eq!(e.engine.head().state.size, size + 2);

    // Saturated through every retry: nothing was taken, and the client and `vigil append` say so.
    e.state.in_flight.fetch_add(max, SeqCst);
    let refused = vigil::client::AppendClient::new(&url).with_retries(0).append(&sign("never")).unwrap_err();
    assert!(refused.saturated && refused.status == 503, "{refused}");
    std::fs::write(&events, format!("{}\n", json!({"idempotency_key": "by-cli-2", "event": withdrawal("by-cli-2")})))
        .unwrap();
    let (code, _, stderr) = vigil(&["append", "--url", &url, "--key", key.to_str().unwrap(), events.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("still after 5 retries; nothing of them was appended"), "{stderr}");
    e.state.in_flight.fetch_sub(max, SeqCst);
    assert_eq!(e.engine.head().state.size, size + 2);
}

/// A batch over the body limit is refused by the client library before it is sent (the
/// server would read it only to drop it). Nothing listens at the URL: a request would have been
/// "no answer", status 0.
#[test]
fn the_client_refuses_a_batch_over_the_body_limit_without_sending_it() {
    let batch = large_alarms(&Keys::new().risk, 700);
    let client = vigil::client::AppendClient::new(&format!("http://127.0.0.1:{}", free_port()));
    let refused = client.append(&batch).unwrap_err();
    assert_eq!(refused.status, 413, "{refused}");
    assert!(refused.is_refusal() && refused.detail.contains("split_batch"), "{refused}");
    // Split, each request is under the limit (and, nothing listening, goes unanswered).
    let parts = vigil::client::split_batch(&batch, 1000);
    assert_eq!(parts.len(), 2, "{parts:?}");
    for part in parts {
        assert_eq!(client.append(&batch[part]).unwrap_err().status, 0);
    }
}

/// A batch whose request timed out (503 `timeout`: it arrived whole, the server was slow) is
/// still in the sequencer's hands: it counts against `max_in_flight` until the engine answers
/// it (appends meanwhile get 503, not a place in a queue that is full), and then it is in the
/// log and its count is released. (A body that does not arrive in time is 408:
/// `http::tests::a_timeout_is_408_for_a_slow_client_and_503_for_a_slow_server`.)
#[tokio::test]
async fn a_timed_out_batch_counts_in_flight_until_the_engine_answers_it() {
    use vigil::http::internal::MAX_BATCH;
    let mut e = env();
    e.state.max_in_flight = MAX_BATCH;
    let before = e.engine.head().state.size;
    let (_, _, http) = vigil::metrics::Metrics::new(e.engine.metrics());
    let app = vigil::http::internal::router_with(e.state.clone(), http, std::time::Duration::from_millis(300));
    let send = |body: Vec<u8>| {
        let app = app.clone();
        async move {
            let req = Request::post("/v1/events").header("content-type", "application/json").body(Body::from(body));
            let res = app.oneshot(req.unwrap()).await.unwrap();
            let status = res.status();
            // A 408 closes its connection; a 503 asks to come back.
            let closes = res.headers().get("connection").is_some_and(|c| c == "close");
            assert_eq!(closes, status == StatusCode::REQUEST_TIMEOUT, "{status}");
            let retry = res.headers().get("retry-after").is_some_and(|c| c == "1");
            assert_eq!(retry, status == StatusCode::SERVICE_UNAVAILABLE, "{status}");
            (status, serde_json::from_slice::<Value>(&res.into_body().collect().await.unwrap().to_bytes()).unwrap())
        }
    };
    let batch: Vec<Value> = (0..MAX_BATCH)
        .map(|i| submission(&e.keys.withdrawals, withdrawal(&format!("w{i}")), &format!("b{i}"), T0))
        .collect();
    let one = submission(&e.keys.withdrawals, withdrawal("late"), "late", T0).to_string().into_bytes();

    let held = e.engine.hold_syncs();
    let (status, problem) = send(serde_json::to_vec(&batch).unwrap()).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("timeout")), "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("the server did not answer"), "{problem}");
    let (status, problem) = send(one.clone()).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("saturated")), "{problem}");

    drop(held);
    let released = std::time::Instant::now();
    while e.state.in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0 {
        assert!(released.elapsed().as_secs() < 30, "the count was never released");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(e.engine.head().state.size, before + MAX_BATCH as u64, "the timed-out batch was appended");
    let (status, answer) = send(one).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn a_panicking_signature_check_answers_500_writes_nothing_and_the_server_goes_on() {
    let e = env();
    let before = e.engine.head().state.size;
    let body = |idem: &str| submission(&e.keys.withdrawals, withdrawal(idem), idem, T0).to_string().into_bytes();
    e.engine.inject_check_panic();
    let (status, problem) = post(&e.state, "application/json", body("p")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{problem}");
    assert_eq!(problem["code"], "internal", "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("nothing of the batch was written"), "{problem}");
    assert_eq!(e.engine.head().state.size, before);
    // The verifier threads go on: the same event is appended when sent again.
    let (status, answer) = post(&e.state, "application/json", body("p")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["receipts"][0]["duplicate"], false, "{answer}");
    assert_eq!(e.engine.head().state.size, before + 1);
}

#[tokio::test]
async fn openings_are_for_auditors_with_signed_requests() {
    use vigil_core::request::RequestSignature;
    let e = env();
    let (status, receipts) = post(
        &e.state,
        "application/json",
        json!([
            submission(&e.keys.withdrawals, withdrawal("w-1"), "a", T0),
            submission(&e.keys.risk, alarm(vec![]), "b", T0)
        ])
        .to_string()
        .into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{receipts}");
    let seq = |i: usize| receipts["receipts"][i]["seq"].as_u64().unwrap();
    let (w, a) = (seq(0), seq(1));
    let path = |seq: u64| format!("/v1/openings/{seq}");
    let sign = |k: &vigil_core::keys::SignerKey, p: &str, at: u64| Some(RequestSignature::sign(k, "GET", p, at));
    let stranger = key("auditor", 78);
    // (case, path, header, status, code)
    let cases: Vec<(&str, String, Option<String>, StatusCode, &str)> = vec![
        ("no signature", path(w), None, StatusCode::UNAUTHORIZED, "unauthenticated"),
        ("malformed", path(w), Some("keyid=auditor".into()), StatusCode::UNAUTHORIZED, "unauthenticated"),
        (
            "signed for another entry",
            path(w),
            sign(&e.auditor, &path(a), T0),
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
        ("too old", path(w), sign(&e.auditor, &path(w), T0 - 3_600_000), StatusCode::UNAUTHORIZED, "unauthenticated"),
        ("unknown key", path(w), sign(&stranger, &path(w), T0), StatusCode::UNAUTHORIZED, "unauthenticated"),
        ("a service key", path(w), sign(&e.keys.withdrawals, &path(w), T0), StatusCode::FORBIDDEN, "not_an_auditor"),
        ("no private fields", path(a), sign(&e.auditor, &path(a), T0), StatusCode::NOT_FOUND, "not_found"),
        ("beyond the log", path(999), sign(&e.auditor, &path(999), T0), StatusCode::NOT_FOUND, "not_found"),
        ("the auditor", path(w), sign(&e.auditor, &path(w), T0), StatusCode::OK, ""),
    ];
    for (case, p, header, want, code) in cases {
        let mut req = Request::get(&p);
        if let Some(h) = header {
            req = req.header("vigil-signature", h);
        }
        let res = router(e.state.clone()).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = res.status();
        let body: Value = serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(status, want, "{case}: {body}");
        if want != StatusCode::OK {
            assert_eq!(body["code"], code, "{case}: {body}");
            continue;
        }
        // The openings open the commitment logged in the entry.
        let bytes = e.engine.store().entry(w).unwrap().unwrap();
        let (_, st) = vigil_core::entry::Entry::decode(&bytes).unwrap();
        let openings: Vec<vigil_core::event::Opening> = serde_json::from_value(body["openings"].clone()).unwrap();
        let vigil_core::event::Event::Withdrawal(wd) = &st.event else { panic!("not a withdrawal") };
        let vigil_core::event::Private::Committed(c) = &wd.account else { panic!("clear account") };
        assert_eq!(openings.len(), 1);
        assert!(openings[0].opens(c));
        assert_eq!(openings[0].value, "acct-42");
    }
}

/// `vigil reserves build`'s publishing, over real HTTP with the replay window at the clock
/// both the server and the publisher read: the custody service's attestations are appended as
/// soon as the balances are read and good, before the tree is written; the snapshot entry is
/// signed when it is sent, so a build that outlasts the window (an hour here, the clock moved
/// on while the tree is written) is still logged. Attestations that reach the server outside
/// the window are refused, and then nothing is left: no tree, no records, no entry.
#[test]
fn reserves_are_published_within_the_replay_window_however_long_the_build() {
    struct Watch<'a> {
        client: vigil::client::AppendClient,
        clock: &'a FixedClock,
        tree: std::path::PathBuf,
        /// Per batch: whether the tree existed when it was sent, and its events' times.
        sent: Vec<(bool, Vec<u64>)>,
        /// Puts a file where the tree is about to be written, once the attestations are sent.
        block_tree: bool,
    }
    impl vigil::demo::Sink for Watch<'_> {
        fn append(&mut self, batch: &[Submission]) -> anyhow::Result<Vec<u64>> {
            let times = batch.iter().map(|s| s.statement["created_at_ms"].as_u64().unwrap()).collect();
            self.sent.push((self.tree.exists(), times));
            let seqs = vigil::demo::Sink::append(&mut self.client, batch)?;
            if self.block_tree {
                std::fs::write(vigil::files::with_suffix(&self.tree, ".staging"), "in the way").unwrap();
            }
            // The tree takes an hour to write.
            self.clock.0.fetch_add(3_600_000, std::sync::atomic::Ordering::SeqCst);
            Ok(seqs)
        }
    }
    let e = env();
    let url = serve_app(router(e.state.clone()));
    let (custody, treasury) = (key("custody", 61), key("treasury", 62));
    let register = |k: &vigil_core::keys::SignerKey, kind: &str| {
        sub(
            &e.keys.operator,
            json!({"kind": "key_registered", "key": k.verifier().to_vkey(), "kinds": [kind]}),
            &format!("register-{kind}"),
        )
    };
    e.engine
        .append_blocking(vec![register(&custody, "reserve_attestation"), register(&treasury, "reserve_snapshot")])
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let balances = dir.path().join("balances.csv");
    std::fs::write(&balances, "account,BTC\na,500\nb,300\n").unwrap();
    let reserves_dir = dir.path().join("reserves");
    let publish = |snapshot: &str, attested_at: u64, block_tree: bool| {
        let attestation = json!({"kind": "reserve_attestation", "asset": "BTC", "wallet": "cold-1",
            "address": "bc1q", "balance": "900", "block_height": 1, "as_of_ms": 1});
        let mut sink = Watch {
            client: vigil::client::AppendClient::new(&url),
            clock: &e.clock,
            tree: vigil::reserves::tree_dir(&reserves_dir, snapshot),
            sent: Vec::new(),
            block_tree,
        };
        let records = dir.path().join(format!("{snapshot}.records.csv"));
        let published = vigil::reserves::publish(
            &mut sink,
            vigil::reserves::Publish {
                snapshot,
                cut_off_ms: 1,
                assets: None,
                balances: &balances,
                attestations: vec![signed_submission(&custody, attestation, snapshot, attested_at)],
                key: &treasury,
                clock: &*e.clock,
                records: &records,
                reserves_dir: &reserves_dir,
                progress: false,
            },
        );
        (published, sink.sent, records.exists() || sink.tree.exists())
    };

    let now = || vigil::engine::Clock::now_ms(&*e.clock);
    let size = e.engine.head().state.size;
    let started = now();
    let (published, sent, left) = publish("por-1", started, false);
    let published = published.unwrap();
    // The attestation before the tree, at its own time; the snapshot after, signed an hour later.
    assert_eq!(sent, [(false, vec![started]), (true, vec![started + 3_600_000])]);
    assert!(left);
    assert_eq!((published.attestations, published.seq), (vec![size], size + 1));
    assert_eq!(e.engine.head().state.size, size + 2);

    // Attestations signed longer ago than the window: refused, and the build leaves nothing.
    let stale = now() - e.state.replay_window_ms - 1;
    let (published, sent, left) = publish("por-2", stale, false);
    let err = format!("{:#}", published.unwrap_err());
    assert!(err.contains("reserve attestations") && err.contains("outside_replay_window"), "{err}");
    assert_eq!(sent, [(false, vec![stale])]);
    assert!(!left, "a refused build left its tree or records");
    assert_eq!(e.engine.head().state.size, size + 2);

    // The tree cannot be written after the attestations were logged: the error says they are.
    let (published, sent, left) = publish("por-3", now(), true);
    let err = format!("{:#}", published.unwrap_err());
    assert!(err.contains(&format!("the attestations are logged (entries [{}])", size + 2)), "{err}");
    assert_eq!(sent.len(), 1);
    assert!(!left, "a failed build left its tree or records");
    assert_eq!(e.engine.head().state.size, size + 3);
}

/// The internal `/healthz` says whether appends are accepted: 200 `ok`, then 503 naming the
/// storage failure that stopped the ledger, then 200 again once it has recovered.
#[tokio::test]
async fn healthz_says_whether_appends_are_accepted() {
    let Ledger { dir, engine, keys, clock } = std::thread::spawn(Ledger::new).join().unwrap();
    drop(engine);
    let store = vigil::store::Store::open(&dir.path().join("data")).unwrap().inject(vigil::store::Fault::SyncFails, 1);
    let engine = Arc::new(Engine::open_store(store, engine_config(&keys, clock.clone())).unwrap());
    let state = state_of(&engine, &clock);
    let health = || async {
        let req = Request::get("/healthz").body(Body::empty()).unwrap();
        let res = router(state.clone()).oneshot(req).await.unwrap();
        let status = res.status();
        (status, String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap())
    };
    assert_eq!(health().await, (StatusCode::OK, "ok\n".to_string()));
    let body = submission(&keys.withdrawals, withdrawal("w-1"), "a", T0).to_string().into_bytes();
    let (status, headers, problem) = post_with_headers(&state, "application/json", body.clone()).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("storage")), "{problem}");
    assert_eq!(headers.get("retry-after").map(|v| v.to_str().unwrap()), Some("1"), "{problem}");
    let (status, text) = health().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(text.starts_with("storage failure: ") && text.contains("the sync failed"), "{text}");
    let recovered = tokio::task::spawn_blocking({
        let engine = engine.clone();
        move || engine.recover().unwrap()
    });
    assert!(recovered.await.unwrap());
    assert_eq!(health().await, (StatusCode::OK, "ok\n".to_string()));
    let (status, _) = post(&state, "application/json", body).await;
    assert_eq!(status, StatusCode::OK, "the refused event lands after recovery");
}
