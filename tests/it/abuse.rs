//! API abuse against the real `vigil serve` on loopback: one table of hostile requests, each
//! sent over a raw TCP socket by one helper that checks the documented status and problem code
//! and, after every case, that the log has not changed (the served checkpoint's size and root).

use crate::serve::Server;
use crate::support::*;
use base64::prelude::{Engine as _, BASE64_STANDARD};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_core::keys::SignerKey;

/// The server's request timeout in this test (`[server] request_timeout_ms`), short so that the
/// slow clients' cases end quickly.
const TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, PartialEq, Debug)]
enum To {
    Internal,
    Public,
}

/// How the request's bytes are sent.
#[derive(Clone, Copy, Debug)]
enum Pace {
    /// All at once (by a writer thread while the answer is read: a server may answer before it
    /// has read everything).
    Whole,
    /// The first `head` bytes at once, then one byte every `every` (a slow client).
    Trickle { head: usize, every: Duration },
    /// All of it before the answer is read, as most clients send a body: a write that fails
    /// (the connection closed under it) is no answer, status 0.
    BodyFirst,
}

/// What the server must answer.
#[derive(Clone, Debug)]
enum Want {
    /// An `application/problem+json` answer with this status and `code`, and a `detail`.
    Problem(u16, &'static str),
    /// [`Want::Problem`], whose `detail` names this (a field, a limit).
    Naming(u16, &'static str, &'static str),
    /// One of these statuses (a route that does not exist for that method): a problem whose
    /// code is `not_found` (404) or `method_not_allowed` (405); for hyper's own 431, no body.
    OneOf(&'static [u16]),
    /// The connection is closed, with no answer or a 408, within the request timeout (plus a
    /// margin); meanwhile another client is served.
    DroppedOrTimedOut,
    /// [`Want::DroppedOrTimedOut`], and answered: a 408 `timeout` problem.
    TimedOut,
    /// 200 with exactly these receipts again, each marked `duplicate`.
    Duplicate(Vec<Value>),
}

struct Case {
    name: String,
    to: To,
    bytes: Vec<u8>,
    pace: Pace,
    want: Want,
}

fn case(name: impl Into<String>, to: To, bytes: Vec<u8>, want: Want) -> Case {
    Case { name: name.into(), to, bytes, pace: Pace::Whole, want }
}

/// An answer read off a raw socket: `status` 0 when the server closed without answering.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
    /// The server closed the connection (rather than the client giving up waiting).
    closed_by_server: bool,
}

/// A request in HTTP/1.1 wire form with `Connection: close` (the server closes after its answer,
/// so the answer is everything up to EOF).
fn wire(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut w = format!("{method} {path} HTTP/1.1\r\nHost: vigil.test\r\nConnection: close\r\n");
    for (k, v) in headers {
        w.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding")) {
        w.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    w.push_str("\r\n");
    let mut w = w.into_bytes();
    w.extend_from_slice(body);
    w
}

/// The start of a JSON `POST /v1/events`, before its length or encoding.
const POST_HEAD: &str =
    "POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n";

/// `POST /v1/events` with this content type (none when `None`).
fn post(content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    match content_type {
        Some(ct) => wire("POST", "/v1/events", &[("Content-Type", ct)], body),
        None => wire("POST", "/v1/events", &[], body),
    }
}

fn post_json(body: &[u8]) -> Vec<u8> {
    post(Some("application/json"), body)
}

/// A JSON `POST /v1/events` whose body is sent chunked (no `Content-Length`), 64 KiB a chunk.
fn post_chunked(body: &[u8]) -> Vec<u8> {
    let mut w = format!("{POST_HEAD}Transfer-Encoding: chunked\r\n\r\n").into_bytes();
    for piece in body.chunks(64 << 10) {
        w.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        w.extend_from_slice(piece);
        w.extend_from_slice(b"\r\n");
    }
    w.extend_from_slice(b"0\r\n\r\n");
    w
}

/// Sends `bytes` at `pace` and reads the answer until the server closes the connection (or
/// `patience` passes: then status 0).
fn exchange(addr: &str, bytes: Vec<u8>, pace: Pace, patience: Duration) -> Answer {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(patience)).unwrap();
    let answered = Arc::new(AtomicBool::new(false));
    if let Pace::BodyFirst = pace {
        c.set_write_timeout(Some(patience)).unwrap();
        if let Err(e) = c.write_all(&bytes) {
            return Answer {
                status: 0,
                head: format!("writing the request: {e}"),
                body: Vec::new(),
                closed_by_server: true,
            };
        }
    }
    let mut w = c.try_clone().unwrap();
    let stop = answered.clone();
    let writer = std::thread::spawn(move || match pace {
        Pace::BodyFirst => {}
        Pace::Whole => {
            // In pieces, stopping once answered: a refused body need not all be sent.
            for piece in bytes.chunks(64 << 10) {
                if stop.load(Ordering::SeqCst) || w.write_all(piece).is_err() {
                    return;
                }
            }
        }
        Pace::Trickle { head, every } => {
            if w.write_all(&bytes[..head.min(bytes.len())]).is_err() {
                return;
            }
            for b in bytes.iter().skip(head) {
                // A pause that ends early once answered.
                let until = Instant::now() + every;
                while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20).min(every));
                }
                if stop.load(Ordering::SeqCst) || w.write_all(&[*b]).is_err() {
                    return;
                }
            }
        }
    });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    let closed_by_server = loop {
        match c.read(&mut chunk) {
            Ok(0) => break true,
            Err(e) => break !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    answered.store(true, Ordering::SeqCst);
    let _ = c.shutdown(std::net::Shutdown::Both);
    writer.join().unwrap();
    Answer { closed_by_server, ..parse_answer(&buf) }
}

fn parse_answer(mut buf: &[u8]) -> Answer {
    // An interim `100 Continue` comes before the answer.
    while buf.starts_with(b"HTTP/1.1 1") {
        match buf.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(i) => buf = &buf[i + 4..],
            None => break,
        }
    }
    let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Answer {
            status: 0,
            head: String::from_utf8_lossy(buf).into_owned(),
            body: Vec::new(),
            closed_by_server: false,
        };
    };
    let head = String::from_utf8_lossy(&buf[..i]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let raw = &buf[i + 4..];
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(raw) } else { raw.to_vec() };
    Answer { status, head, body, closed_by_server: false }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..i]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[i + 2..i + 2 + size]);
        raw = &raw[i + 2 + size + 2..];
    }
    out
}

/// The size and root lines of the checkpoint the public listener serves.
fn log_state(public: &str) -> (String, String) {
    let a = exchange(
        public.trim_start_matches("http://"),
        wire("GET", "/checkpoint", &[], b""),
        Pace::Whole,
        Duration::from_secs(10),
    );
    assert_eq!(a.status, 200, "GET /checkpoint: {}", a.head);
    let note = String::from_utf8(a.body).unwrap();
    let mut lines = note.lines().skip(1);
    (lines.next().unwrap().to_string(), lines.next().unwrap().to_string())
}

/// Runs one case: sends it, checks the answer against what it must be, and that the log did
/// not change. Returns what was observed, for the report.
fn run(server: &Server, c: Case, before: &(String, String)) -> String {
    let addr = |to: To| {
        match to {
            To::Internal => &server.internal,
            To::Public => &server.public,
        }
        .trim_start_matches("http://")
        .to_string()
    };
    let name = &c.name;
    let started = Instant::now();
    let observed = if let Want::DroppedOrTimedOut | Want::TimedOut = c.want {
        // The slow client on its own thread; meanwhile another client is served. The slow one
        // is patient (ten request timeouts): it must be the server that ends the connection.
        let (target, bytes, pace) = (addr(c.to), c.bytes, c.pace);
        let slow = std::thread::spawn(move || exchange(&target, bytes, pace, TIMEOUT * 10));
        let other = exchange(&addr(c.to), wire("GET", "/healthz", &[], b""), Pace::Whole, Duration::from_secs(5));
        assert_eq!(other.status, 200, "{name}: another client was not served: {}", other.head);
        assert!(!slow.is_finished(), "{name}: the other client was served only after the slow one");
        let a = slow.join().unwrap();
        let took = started.elapsed();
        assert!(a.status == 0 || a.status == 408, "{name}: {} {}", a.head, String::from_utf8_lossy(&a.body));
        if let Want::TimedOut = c.want {
            assert_eq!(a.status, 408, "{name}: {}", a.head);
        }
        if a.status == 408 {
            // A problem like every other error, readable by a browser (CORS) on the public side.
            let head = a.head.to_ascii_lowercase();
            assert!(head.contains("content-type: application/problem+json"), "{name}: {}", a.head);
            let v: Value = serde_json::from_slice(&a.body).unwrap_or_else(|_| panic!("{name}: {}", a.head));
            assert_eq!(v["code"], "timeout", "{name}: {v}");
            if c.to == To::Public {
                assert!(head.contains("access-control-allow-origin: *"), "{name}: {}", a.head);
            }
        }
        assert!(a.closed_by_server, "{name}: the server held the slow client until it gave up");
        format!(
            "{} after {:.1} s",
            if a.status == 0 { "dropped".to_string() } else { a.status.to_string() },
            took.as_secs_f64()
        )
    } else {
        let a = exchange(&addr(c.to), c.bytes, c.pace, Duration::from_secs(20));
        let text = String::from_utf8_lossy(&a.body).into_owned();
        let problem = || -> Value {
            assert!(
                a.head.to_ascii_lowercase().contains("content-type: application/problem+json"),
                "{name}: not a problem: {}\n{text}",
                a.head
            );
            let v: Value = serde_json::from_slice(&a.body).unwrap_or_else(|_| panic!("{name}: {text}"));
            assert!(v["detail"].as_str().is_some_and(|d| !d.trim().is_empty()), "{name}: no detail: {text}");
            assert_eq!(v["status"], a.status, "{name}: {text}");
            v
        };
        let observed = match &c.want {
            Want::Problem(status, code) | Want::Naming(status, code, _) => {
                assert_eq!(a.status, *status, "{name}: {}\n{text}", a.head);
                let v = problem();
                assert_eq!(v["code"], *code, "{name}: {text}");
                if let Want::Naming(_, _, what) = &c.want {
                    assert!(
                        v["detail"].as_str().unwrap().contains(what),
                        "{name}: the detail does not name {what:?}: {text}"
                    );
                }
                format!("{} {}", a.status, code)
            }
            Want::OneOf(statuses) => {
                assert!(statuses.contains(&a.status), "{name}: {} {text}", a.head);
                let code = match a.status {
                    404 | 405 => {
                        let code = problem()["code"].as_str().unwrap().to_string();
                        let want = if a.status == 404 { "not_found" } else { "method_not_allowed" };
                        assert_eq!(code, want, "{name}: {text}");
                        code
                    }
                    _ => "(no problem body)".into(),
                };
                format!("{} {code}", a.status)
            }
            Want::Duplicate(original) => {
                assert_eq!(a.status, 200, "{name}: {}\n{text}", a.head);
                let got: Value = serde_json::from_slice(&a.body).unwrap();
                let got = got["receipts"].as_array().unwrap();
                assert_eq!(got.len(), original.len(), "{name}: {text}");
                for (g, o) in got.iter().zip(original) {
                    assert_eq!(g["duplicate"], true, "{name}: {text}");
                    for f in ["seq", "entry_hash", "leaf_hash"] {
                        assert_eq!(g[f], o[f], "{name}: {f}: {text}");
                    }
                }
                "200 duplicate: the original receipts".into()
            }
            Want::DroppedOrTimedOut | Want::TimedOut => unreachable!(),
        };
        // Every request says `Connection: close`: answered, it is closed by the server (after
        // a body over the limit, when the request timeout ends its reading on at the latest).
        assert!(a.closed_by_server, "{name}: the server held the connection after the answer");
        observed
    };
    assert_eq!(&log_state(&server.public), before, "{name}: the log changed");
    observed
}

/// A submission of an event signed now by `key`, as JSON.
fn signed(key: &SignerKey, event: Value, idem: &str, at: u64) -> Value {
    let ev = vigil_core::event::Event::from_value(event).unwrap();
    serde_json::to_value(vigil::client::sign_event(key, ev, idem, at).unwrap()).unwrap()
}

/// A statement `key` signs whatever it says (even what the schema refuses): sorted keys, as
/// the canonical form would have them.
fn signed_raw(key: &SignerKey, statement: Value) -> Value {
    let bytes = serde_json::to_vec(&statement).unwrap();
    let sig = key.sign(&vigil_core::statement::signing_message(&bytes));
    json!({"statement": statement, "signature": BASE64_STANDARD.encode(sig)})
}

fn alarm(summary: &str) -> Value {
    json!({"kind": "alarm", "rule": "r", "severity": "low", "summary": summary})
}

fn withdrawal(amount: Value) -> Value {
    json!({"kind": "withdrawal", "withdrawal_id": "w-1", "stage": "requested", "asset": "BTC", "amount": amount,
        "destination": "bc1q", "wallet": "hot-1", "wallet_tier": "hot", "account": {"commitment": "ab".repeat(32)}})
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// Replaces the one occurrence of `from` in `body` (it must be there once).
fn replace_once(body: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(text.matches(from).count(), 1, "{from} in {text}");
    text.replacen(from, to, 1).into_bytes()
}

#[test]
fn abuse_of_both_listeners_is_refused_as_documented_and_changes_nothing() {
    let started = Instant::now();
    let keys = Keys::new();
    let dir = tempfile::tempdir().unwrap();
    // `retired` may append alarms until the operator revokes it (below, through the API).
    // `ops` may append freezes.
    std::fs::write(dir.path().join("retired.vkey"), keys.retired.verifier().to_vkey()).unwrap();
    std::fs::write(dir.path().join("ops.vkey"), keys.ops.verifier().to_vkey()).unwrap();
    let server = Server::start_with(
        dir,
        "[[services]]\nvkey = \"retired.vkey\"\nkinds = [\"alarm\"]\n\
         [[services]]\nvkey = \"ops.vkey\"\nkinds = [\"freeze\"]\n",
        &format!("request_timeout_ms = {}", TIMEOUT.as_millis()),
    );
    let internal = server.internal.trim_start_matches("http://").to_string();
    let (k, now) = (&server.keys, now_ms());
    let send = |body: &Value| {
        let a = exchange(&internal, post_json(&bytes(body)), Pace::Whole, Duration::from_secs(20));
        assert_eq!(a.status, 200, "{}: {}", a.head, String::from_utf8_lossy(&a.body));
        serde_json::from_slice::<Value>(&a.body).unwrap()["receipts"].as_array().unwrap().clone()
    };
    // Set-up, through the API: an alarm (replayed below) and the revocation of `retired`.
    let original = bytes(&signed(&k.risk, alarm("original"), "orig", now));
    let receipts = send(&serde_json::from_slice(&original).unwrap());
    assert_eq!(receipts[0]["duplicate"], false);
    let revoke = json!({"kind": "key_revoked", "key": k.retired.key_ref.to_string(), "reason": "rotated"});
    send(&signed(&k.operator, revoke, "revoke-retired", now));
    let before = log_state(&server.public);

    // A good submission no case may write: each case that carries it must leave it unwritten,
    // which is checked at the end by appending it and getting a new entry.
    let fresh = signed(&k.risk, alarm("fresh"), "fresh", now);
    let fresh_bytes = bytes(&fresh);
    let batch = bytes(&json!([signed(&k.risk, alarm("one"), "b-1", now), signed(&k.risk, alarm("two"), "b-2", now)]));
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = fresh.clone();
        f(&mut v);
        v
    };
    let in_statement = |st: &dyn Fn(&mut Value)| {
        let mut s = fresh["statement"].clone();
        st(&mut s);
        signed_raw(&k.risk, s)
    };
    let event = |ev: Value| in_statement(&|s| s["event"] = ev.clone());
    let w_by = |amount: Value| {
        let mut s = fresh["statement"].clone();
        s["event"] = withdrawal(amount);
        signed_raw(&k.withdrawals, s)
    };
    let nested = |n: usize, open: &str, close: &str| format!("{}{}", open.repeat(n), close.repeat(n)).into_bytes();
    use To::*;
    use Want::*;

    let mut cases = Vec::from([
        // Not JSON, or not whole.
        case("malformed JSON", Internal, post_json(b"{\"statement\": }"), Problem(400, "malformed_json")),
        case("not JSON at all", Internal, post_json(b"hello"), Problem(400, "malformed_json")),
        case("a JSON string, not a submission", Internal, post_json(b"\"x\""), Problem(400, "malformed_json")),
        case("empty body", Internal, post_json(b""), Problem(400, "malformed_json")),
        case("an empty object", Internal, post_json(b"{}"), Naming(400, "malformed_json", "statement")),
        // A batch of nothing is malformed, not too large (README, internal API).
        case("an empty batch", Internal, post_json(b"[]"), Naming(400, "malformed_json", "empty")),
        case(
            "invalid UTF-8 in a string",
            Internal,
            post_json(&{
                // 0xff is never in UTF-8.
                let at = fresh_bytes.windows(8).position(|w| w == b"\"fresh\"}").unwrap() + 3;
                [&fresh_bytes[..at], &[0xff], &fresh_bytes[at..]].concat()
            }),
            Problem(400, "malformed_json"),
        ),
        case("100,000 [", Internal, post_json(&nested(100_000, "[", "]")), Problem(400, "malformed_json")),
        case("100,000 {\"a\":", Internal, post_json(&nested(100_000, "{\"a\":", "}")), Problem(400, "malformed_json")),
        case(
            "20 levels in the event (deeper than 16)",
            Internal,
            post_json(&bytes(&event(json!({"kind": "alarm", "rule": "r", "severity": "low", "summary": "s",
                "refs": serde_json::from_slice::<Value>(&nested(20, "[", "]")).unwrap()})))),
            Problem(400, "malformed_json"),
        ),
    ]);
    for cut in [1, batch.len() / 4, batch.len() / 2, batch.len() - 2, batch.len() - 1] {
        cases.push(case(
            format!("a signed batch cut at byte {cut} of {}", batch.len()),
            Internal,
            post_json(&batch[..cut]),
            Problem(400, "malformed_json"),
        ));
    }
    cases.extend([
        // Too big: announced (and not sent), and chunked without a length.
        case(
            "5 MiB announced",
            Internal,
            format!("{}Content-Length: {}\r\n\r\n", POST_HEAD, 5 << 20).into_bytes(),
            Problem(413, "too_large"),
        ),
        case(
            "5 MiB chunked, no Content-Length",
            Internal,
            post_chunked(&vec![b' '; 5 << 20]),
            Problem(413, "too_large"),
        ),
        // As most clients send: the whole body, then the answer is read. The server reads on
        // (and drops) what is over the limit after answering, so the writes do not fail.
        Case {
            pace: Pace::BodyFirst,
            ..case(
                "5 MiB announced and sent whole",
                Internal,
                post_json(&vec![b' '; 5 << 20]),
                Problem(413, "too_large"),
            )
        },
        Case {
            pace: Pace::BodyFirst,
            ..case(
                "12 MiB chunked and sent whole",
                Internal,
                post_chunked(&vec![b' '; 12 << 20]),
                Problem(413, "too_large"),
            )
        },
        // Told to go on (its body was read), a client that sent `Expect: 100-continue` is
        // writing its body: that is read on too.
        Case {
            pace: Pace::BodyFirst,
            ..case(
                "12 MiB chunked, Expect: 100-continue, sent whole",
                Internal,
                {
                    let mut w = post_chunked(&vec![b' '; 12 << 20]);
                    let at = POST_HEAD.len();
                    w.splice(at..at, b"Expect: 100-continue\r\n".iter().copied());
                    w
                },
                Problem(413, "too_large"),
            )
        },
        // A client that waits for 100 Continue is answered 413 instead, and sends nothing.
        case(
            "5 MiB announced, Expect: 100-continue",
            Internal,
            format!("{}Expect: 100-continue\r\nContent-Length: {}\r\n\r\n", POST_HEAD, 5 << 20).into_bytes(),
            Problem(413, "too_large"),
        ),
        case(
            "1001 events in a batch",
            Internal,
            post_json(&bytes(&Value::Array(vec![fresh.clone(); 1001]))),
            Naming(413, "too_large", "1000"),
        ),
        case(
            "2,000,000 zeros in a batch: refused by their count",
            Internal,
            post_json(format!("[{}]", vec!["0"; 2_000_000].join(",")).as_bytes()),
            Naming(413, "too_large", "this one 2000000"),
        ),
        case(
            "an entry over 65,535 bytes",
            Internal,
            post_json(&bytes(&signed(
                &k.ops,
                json!({"kind": "freeze", "reason": "r", "scope": {"target": "wallets",
                "wallets": (0..600).map(|i| format!("{i:0>120}")).collect::<Vec<_>>()}}),
                "big",
                now,
            ))),
            Naming(413, "too_large", "65535"),
        ),
        // Headers.
        case(
            "a 100 KB header (and a malformed body)",
            Internal,
            wire("POST", "/v1/events", &[("Content-Type", "application/json"), ("X-Big", &"a".repeat(100_000))], b"{"),
            Problem(400, "malformed_json"),
        ),
        case(
            "a 1 MB header",
            Internal,
            wire(
                "POST",
                "/v1/events",
                &[("Content-Type", "application/json"), ("X-Big", &"a".repeat(1 << 20))],
                &fresh_bytes,
            ),
            OneOf(&[431]),
        ),
        case(
            "1000 headers",
            Internal,
            {
                let names: Vec<String> = (0..1000).map(|i| format!("X-H{i}")).collect();
                let mut h: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
                h.push(("Content-Type", "application/json"));
                wire("POST", "/v1/events", &h, &fresh_bytes)
            },
            OneOf(&[431]),
        ),
        // Content types (the body is a good, fresh submission).
        case("no content type", Internal, post(None, &fresh_bytes), Problem(415, "unsupported_media_type")),
        case("text/plain", Internal, post(Some("text/plain"), &fresh_bytes), Problem(415, "unsupported_media_type")),
        case(
            "multipart/form-data",
            Internal,
            post(Some("multipart/form-data; boundary=x"), &fresh_bytes),
            Problem(415, "unsupported_media_type"),
        ),
        case(
            "application/json; charset=latin1",
            Internal,
            post(Some("application/json; charset=latin1"), &fresh_bytes),
            Problem(415, "unsupported_media_type"),
        ),
        case(
            "application/json-patch+json",
            Internal,
            post(Some("application/json-patch+json"), &fresh_bytes),
            Problem(415, "unsupported_media_type"),
        ),
        // Numbers out of range, negative, fractional.
        case(
            "amount beyond u128",
            Internal,
            post_json(&bytes(&w_by(json!("340282366920938463463374607431768211456")))),
            Naming(422, "invalid_event", "amount"),
        ),
        case(
            "amount as a JSON number beyond u64",
            Internal,
            post_json(&replace_once(
                &bytes(&w_by(json!("1"))),
                "\"amount\":\"1\"",
                "\"amount\":340282366920938463463374607431768211456",
            )),
            Naming(400, "malformed_json", "amount"),
        ),
        case(
            "amount as a JSON integer",
            Internal,
            post_json(&bytes(&w_by(json!(5)))),
            Naming(422, "invalid_event", "amount"),
        ),
        case(
            "negative amount",
            Internal,
            post_json(&bytes(&w_by(json!("-5")))),
            Naming(422, "invalid_event", "amount"),
        ),
        case(
            "negative amount, a JSON number",
            Internal,
            post_json(&bytes(&w_by(json!(-5)))),
            Naming(422, "invalid_event", "amount"),
        ),
        case("zero amount", Internal, post_json(&bytes(&w_by(json!("0")))), Naming(422, "invalid_event", "amount")),
        case(
            "amount 1.5, a JSON number",
            Internal,
            post_json(&bytes(&w_by(json!(1.5)))),
            Naming(400, "malformed_json", "amount"),
        ),
        case(
            "amount \"1.5\"",
            Internal,
            post_json(&bytes(&w_by(json!("1.5")))),
            Naming(422, "invalid_event", "amount"),
        ),
        case(
            "amount \"1.5e3\"",
            Internal,
            post_json(&bytes(&w_by(json!("1.5e3")))),
            Naming(422, "invalid_event", "amount"),
        ),
        case(
            "amount \"1e3\"",
            Internal,
            post_json(&bytes(&w_by(json!("1e3")))),
            Naming(422, "invalid_event", "amount"),
        ),
        case(
            "created_at_ms beyond u64",
            Internal,
            post_json(&replace_once(
                &fresh_bytes,
                &format!("\"created_at_ms\":{now}"),
                "\"created_at_ms\":18446744073709551616",
            )),
            Naming(400, "malformed_json", "created_at_ms"),
        ),
        case(
            "created_at_ms negative",
            Internal,
            post_json(&bytes(&in_statement(&|s| s["created_at_ms"] = json!(-1)))),
            Naming(422, "invalid_event", "created_at_ms"),
        ),
        case(
            "created_at_ms as a string",
            Internal,
            post_json(&bytes(&in_statement(&|s| s["created_at_ms"] = json!(now.to_string())))),
            Naming(422, "invalid_event", "created_at_ms"),
        ),
        case(
            "a negative seq in refs",
            Internal,
            post_json(&bytes(&event(
                json!({"kind": "alarm", "rule": "r", "severity": "low", "summary": "s", "refs": [-1]}),
            ))),
            Naming(422, "invalid_event", "refs"),
        ),
        case(
            "refs beyond the log",
            Internal,
            post_json(&bytes(&event(
                json!({"kind": "alarm", "rule": "r", "severity": "low", "summary": "s", "refs": [u64::MAX]}),
            ))),
            Naming(422, "invalid_event", "refers to entry"),
        ),
        // Duplicate keys: serde_json keeps the last; the signature covers the last. Refused.
        case(
            "a duplicate field in the event",
            Internal,
            post_json(&replace_once(
                &fresh_bytes,
                "\"summary\":\"fresh\"",
                "\"summary\":\"decoy\",\"summary\":\"fresh\"",
            )),
            Naming(400, "malformed_json", "summary"),
        ),
        case(
            "a duplicate field in the statement",
            Internal,
            post_json(&replace_once(
                &fresh_bytes,
                "\"idempotency_key\":\"fresh\"",
                "\"idempotency_key\":\"decoy\",\"idempotency_key\":\"fresh\"",
            )),
            Naming(400, "malformed_json", "idempotency_key"),
        ),
        case(
            "a duplicate field in the submission",
            Internal,
            post_json(&replace_once(&fresh_bytes, "\"signature\":", "\"signature\":\"AAAA\",\"signature\":")),
            Naming(400, "malformed_json", "signature"),
        ),
        case(
            "a duplicate field, once spelled with an escape",
            Internal,
            post_json(&replace_once(
                &fresh_bytes,
                "\"summary\":\"fresh\"",
                "\"summ\\u0061ry\":\"decoy\",\"summary\":\"fresh\"",
            )),
            Naming(400, "malformed_json", "summary"),
        ),
        // The schema.
        case(
            "unknown kind",
            Internal,
            post_json(&bytes(&event(json!({"kind": "mint", "amount": "1"})))),
            Naming(422, "invalid_event", "kind"),
        ),
        case(
            "unknown field in the event",
            Internal,
            post_json(&bytes(&event(
                json!({"kind": "alarm", "rule": "r", "severity": "low", "summary": "s", "admin": true}),
            ))),
            Naming(422, "invalid_event", "admin"),
        ),
        case(
            "unknown field in the statement",
            Internal,
            post_json(&bytes(&in_statement(&|s| s["seq"] = json!(0)))),
            Naming(422, "invalid_event", "seq"),
        ),
        case(
            "unknown field in the submission",
            Internal,
            post_json(&bytes(&with(&|v| v["trusted"] = json!(true)))),
            Naming(400, "malformed_json", "trusted"),
        ),
        case(
            "no signature",
            Internal,
            post_json(&bytes(&with(&|v| {
                v.as_object_mut().unwrap().remove("signature");
            }))),
            Naming(400, "malformed_json", "signature"),
        ),
        case(
            "a signature of 63 bytes",
            Internal,
            post_json(&bytes(&with(&|v| v["signature"] = json!(BASE64_STANDARD.encode([7u8; 63]))))),
            Naming(422, "invalid_event", "signature"),
        ),
        // Replays and re-signing.
        case("the same signed request again", Internal, post_json(&original), Duplicate(receipts.clone())),
        case(
            "the same idempotency key, other content, validly signed",
            Internal,
            post_json(&bytes(&signed(&k.risk, alarm("changed"), "orig", now))),
            Naming(409, "idempotency_conflict", "orig"),
        ),
        // A retry signed anew is the same event: its original receipt, nothing written.
        case(
            "the same idempotency key and event, signed at another time",
            Internal,
            post_json(&bytes(&signed(&k.risk, alarm("original"), "orig", now + 1))),
            Duplicate(receipts.clone()),
        ),
        // Who signs.
        case(
            "a revoked key",
            Internal,
            post_json(&bytes(&signed(&k.retired, alarm("late"), "late", now))),
            Problem(401, "revoked_key"),
        ),
        case(
            "an unknown key",
            Internal,
            post_json(&bytes(&signed(&k.stranger, alarm("who"), "who", now))),
            Problem(401, "unknown_key"),
        ),
        case(
            "risk's statement signed by withdrawals",
            Internal,
            post_json(&bytes(&with(&|v| {
                v["signature"] = signed(&k.withdrawals, alarm("fresh"), "fresh", now)["signature"].clone()
            }))),
            Problem(401, "bad_signature"),
        ),
        case(
            "a kind the key may not append",
            Internal,
            post_json(&bytes(&signed(
                &k.risk,
                json!({"kind": "freeze", "scope": {"target": "withdrawals"}, "reason": "r"}),
                "scope",
                now,
            ))),
            Problem(403, "kind_not_allowed"),
        ),
        case(
            "a service key registering a key",
            Internal,
            post_json(&bytes(&signed(
                &k.risk,
                json!({"kind": "key_registered", "key": k.stranger.verifier().to_vkey().trim(), "kinds": ["alarm"]}),
                "reg",
                now,
            ))),
            Problem(403, "kind_not_allowed"),
        ),
        // The replay window, both ways.
        case(
            "created 1 minute before the window",
            Internal,
            post_json(&bytes(&signed(&k.risk, alarm("old"), "old", now - 360_000))),
            Naming(422, "outside_replay_window", "created_at_ms"),
        ),
        case(
            "created 1 minute after the window",
            Internal,
            post_json(&bytes(&signed(&k.risk, alarm("future"), "future", now + 360_000))),
            Naming(422, "outside_replay_window", "created_at_ms"),
        ),
    ]);
    // A batch with one bad event (the good one first): refused whole.
    for (what, bad, want) in [
        (
            "a bad signature",
            with(&|v| v["signature"] = json!(BASE64_STANDARD.encode([7u8; 64]))),
            Problem(401, "bad_signature"),
        ),
        ("a revoked key", signed(&k.retired, alarm("r"), "r", now), Problem(401, "revoked_key")),
        ("an unknown key", signed(&k.stranger, alarm("s"), "s", now), Problem(401, "unknown_key")),
        ("a kind not allowed", signed(&k.withdrawals, alarm("w"), "w", now), Problem(403, "kind_not_allowed")),
        (
            "an invalid event",
            event(json!({"kind": "alarm", "rule": "r", "severity": "extreme", "summary": "s"})),
            Naming(422, "invalid_event", "severity"),
        ),
        (
            "an event outside the window",
            signed(&k.risk, alarm("o"), "o", now - 3_600_000),
            Problem(422, "outside_replay_window"),
        ),
        (
            "the same key for other content",
            signed(&k.risk, alarm("other"), "fresh", now),
            Problem(409, "idempotency_conflict"),
        ),
        ("a reused key", signed(&k.risk, alarm("changed"), "orig", now), Problem(409, "idempotency_conflict")),
        ("not a submission", json!({"statement": 1}), Problem(400, "malformed_json")),
    ] {
        cases.push(case(format!("a batch with {what}"), Internal, post_json(&bytes(&json!([fresh, bad]))), want));
    }
    // Slow clients: headers, body, nothing at all.
    let slow_head = post_json(&fresh_bytes);
    let head_len = slow_head.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    for (name, to, bytes, head, want) in [
        ("headers one byte at a time (internal)", Internal, slow_head.clone(), 10, DroppedOrTimedOut),
        ("headers one byte at a time (public)", Public, wire("GET", "/checkpoint", &[], b""), 10, DroppedOrTimedOut),
        // The request is routed, so its handler's timeout answers.
        ("the body one byte at a time", Internal, slow_head.clone(), head_len + 5, TimedOut),
    ] {
        cases.push(Case {
            name: format!("slow client: {name}"),
            to,
            bytes,
            pace: Pace::Trickle { head, every: Duration::from_millis(300) },
            want,
        });
    }
    cases.push(Case {
        name: "slow client: connects and sends nothing".into(),
        to: Internal,
        bytes: b"G".to_vec(),
        pace: Pace::Trickle { head: 0, every: TIMEOUT * 5 },
        want: DroppedOrTimedOut,
    });
    // The public listener: no write method on any route, no openings, no admin.
    let spec = exchange(
        server.public.trim_start_matches("http://"),
        wire("GET", "/openapi.json", &[], b""),
        Pace::Whole,
        Duration::from_secs(10),
    );
    let spec: Value = serde_json::from_slice(&spec.body).unwrap();
    let mut paths: Vec<String> = spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(|p| p.split('/').map(|s| if s.starts_with('{') { "0" } else { s }).collect::<Vec<_>>().join("/"))
        .collect();
    assert!(paths.len() >= 12 && paths.iter().any(|p| p == "/v1/events"), "{paths:?}");
    paths.extend(
        [
            "/",
            "/app.js",
            "/metrics",
            "/openapi.json",
            "/tile/entries/000",
            "/admin",
            "/v1/admin",
            "/v1/keys",
            "/v1/config",
            "/nothing/at/all",
        ]
        .map(String::from),
    );
    for path in &paths {
        for m in ["POST", "PUT", "DELETE", "PATCH"] {
            cases.push(case(
                format!("public {m} {path}"),
                Public,
                wire(m, path, &[("Content-Type", "application/json")], &fresh_bytes),
                OneOf(&[404, 405]),
            ));
        }
    }
    let openings = vigil_core::request::RequestSignature::sign(&key("auditor", 77), "GET", "/v1/openings/3", now);
    cases.push(case(
        "public GET /v1/openings/3, signed by the auditor",
        Public,
        wire("GET", "/v1/openings/3", &[(vigil_core::request::HEADER, &openings)], b""),
        OneOf(&[404]),
    ));
    // Reads with numbers out of range, negative, or beyond the log.
    for (path, want) in [
        ("/v1/entries/-1", Problem(400, "bad_request")),
        ("/v1/entries/18446744073709551616", Problem(400, "bad_request")),
        ("/v1/entries/99", Problem(404, "not_found")),
        ("/v1/entries/+5", Problem(400, "bad_request")),
        // A wrong path is told apart from a missing thing (how `vigil verify` spots a bad URL).
        ("/checkpoints", Naming(404, "not_found", "no such route")),
        ("/index.html", Naming(404, "not_found", "no such route")),
        ("/v1/entries/%FF", Problem(400, "bad_request")),
        ("/v1/incidents/%C3%28", Problem(400, "bad_request")),
        ("/tile/0/%FF", Problem(400, "bad_request")),
        ("/v1/entries?after=-1", Problem(400, "bad_request")),
        ("/v1/entries?limit=18446744073709551616", Problem(400, "bad_request")),
        ("/v1/entries?kind=mint", Problem(400, "bad_request")),
        ("/v1/proofs/inclusion?seq=-1", Problem(400, "bad_request")),
        ("/v1/proofs/inclusion?seq=99", Problem(404, "not_found")),
        ("/v1/proofs/inclusion?seq=0&size=18446744073709551615", Problem(404, "not_found")),
        ("/v1/proofs/consistency?from=5&to=2", Problem(404, "not_found")),
        ("/v1/proofs/consistency?from=0&to=18446744073709551615", Problem(404, "not_found")),
        ("/tile/0/x999/999", Problem(404, "not_found")),
        ("/tile/9/000", Problem(404, "not_found")),
        ("/tile/entries/000.p/300", Problem(404, "not_found")),
    ] {
        cases.push(case(format!("public GET {path}"), Public, wire("GET", path, &[], b""), want));
    }
    // The internal listener: only its routes, only their methods.
    for (m, path, want) in [
        ("GET", "/v1/events", OneOf(&[405])),
        ("PUT", "/v1/events", OneOf(&[405])),
        ("DELETE", "/v1/events", OneOf(&[405])),
        ("POST", "/v1/openings/3", OneOf(&[405])),
        ("GET", "/v1/openings/%FF", Problem(400, "bad_request")),
        ("POST", "/admin", OneOf(&[404])),
        ("GET", "/checkpoint", OneOf(&[404])),
    ] {
        cases.push(case(
            format!("internal {m} {path}"),
            Internal,
            wire(m, path, &[("Content-Type", "application/json")], &fresh_bytes),
            want,
        ));
    }

    // Every case runs, and every failure is reported (a failure's own changes to the log do not
    // fail the cases after it).
    let (mut report, mut failed, mut before) = (Vec::new(), Vec::new(), before);
    for c in cases {
        let name = c.name.clone();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&server, c, &before))) {
            Ok(observed) => report.push(format!("{name}: {observed}")),
            Err(e) => {
                let msg =
                    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
                failed.push(format!("{name}: {}", msg.unwrap_or_default()));
                before = log_state(&server.public);
            }
        }
    }
    println!("{}", report.join("\n"));
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        report.len() + failed.len(),
        failed.join("\n")
    );

    // Nothing any case carried was written: the fresh submission is new now, at the next seq.
    let size: u64 = before.0.parse().unwrap();
    let r = send(&fresh);
    assert_eq!((r[0]["seq"].as_u64(), &r[0]["duplicate"]), (Some(size), &json!(false)));
    let log = server.stderr();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
    println!("{} cases in {:.1} s", report.len(), started.elapsed().as_secs_f64());
}

/// The internal listener binds loopback unless configured otherwise.
#[test]
fn abuse_internal_listener_is_loopback_by_default() {
    let default = vigil::serve::ServerConfig::default();
    assert_eq!(default.internal, "127.0.0.1:8081".parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vigil.toml");
    std::fs::write(&file, "[server]\npublic = \"0.0.0.0:8080\"\n").unwrap();
    let c = vigil::config::load(&file).unwrap();
    assert!(c.server.internal.ip().is_loopback(), "{}", c.server.internal);
}

/// A client that never finishes its headers holds up a graceful shutdown (SIGTERM) no longer
/// than the request timeout.
#[test]
fn abuse_a_slow_client_does_not_hold_up_a_graceful_shutdown() {
    let server =
        Server::start_with(tempfile::tempdir().unwrap(), "", &format!("request_timeout_ms = {}", TIMEOUT.as_millis()));
    let internal = server.internal.trim_start_matches("http://").to_string();
    let mut slow = TcpStream::connect(&internal).unwrap();
    slow.write_all(b"POST /v1/events HTTP/1.1\r\nHo").unwrap();
    // Connections are accepted in order: once a later one is answered, the slow one is accepted.
    let other = exchange(&internal, wire("GET", "/healthz", &[], b""), Pace::Whole, Duration::from_secs(5));
    assert_eq!(other.status, 200, "{}", other.head);
    // The slow client never finishes: the shutdown must end its connection, not wait for it.
    let stopped = std::thread::spawn(move || drop(server.stop()));
    slow.set_read_timeout(Some(TIMEOUT * 10)).unwrap();
    let mut rest = Vec::new();
    let read = slow.read_to_end(&mut rest);
    assert!(read.is_ok() && rest.is_empty(), "the connection was not closed by the shutdown: {read:?}");
    stopped.join().unwrap();
}
