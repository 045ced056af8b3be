//! End to end: the real `vigil serve` on loopback, `vigil append` through the internal API,
//! reads through the public API, graceful shutdown.

use crate::support::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use vigil_core::checkpoint;
use vigil_core::hash::Digest;
use vigil_core::merkle::InclusionProof;

fn http(method: &str, url: &str) -> (u16, String) {
    let (status, body) = request(method, url, "application/json", b"{}".to_vec());
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Any method with a body, over real HTTP; returns the status and the body bytes.
pub(crate) fn request(method: &str, url: &str, content_type: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).allow_non_standard_methods(true).build().into();
    let req = ureq::http::Request::builder().method(method).uri(url).header("content-type", content_type);
    let req = if method == "GET" || method == "HEAD" { req.body(Vec::new()) } else { req.body(body) }.unwrap();
    let mut res = agent.run(req).unwrap();
    let status = res.status().as_u16();
    (status, res.body_mut().read_to_vec().unwrap())
}

/// A real `vigil serve` on free loopback ports, with the test keys written to its folder
/// (services: `risk` may append alarms, `withdrawals` withdrawals; `auditor` reads openings).
pub(crate) struct Server {
    child: std::process::Child,
    /// What the server has written to stderr so far (panics land here).
    stderr: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) keys: Keys,
    pub(crate) public: String,
    pub(crate) internal: String,
}

impl Server {
    pub(crate) fn start() -> Server {
        Server::start_in(tempfile::tempdir().unwrap(), "")
    }

    /// A server whose folder is `dir` (which may hold more key files), with `extra` top-level
    /// configuration (before the tables), e.g. witnesses.
    pub(crate) fn start_in(dir: tempfile::TempDir, extra: &str) -> Server {
        Server::start_with(dir, extra, "")
    }

    /// [`Server::start_in`] with `server` lines added to the `[server]` table.
    pub(crate) fn start_with(dir: tempfile::TempDir, extra: &str, server: &str) -> Server {
        let keys = Keys::new();
        let auditor = key("auditor", 77);
        for (name, k) in [
            ("log", &keys.log),
            ("operator", &keys.operator),
            ("risk", &keys.risk),
            ("withdrawals", &keys.withdrawals),
            ("auditor", &auditor),
        ] {
            std::fs::write(dir.path().join(format!("{name}.key")), k.to_skey()).unwrap();
            std::fs::write(dir.path().join(format!("{name}.vkey")), k.verifier().to_vkey()).unwrap();
        }
        let (pp, ip) = (free_port(), free_port());
        let cfg = dir.path().join("vigil.toml");
        std::fs::write(
            &cfg,
            format!(
                "data_dir = \"data\"\nlog_key = \"log.key\"\noperator_key = \"operator.key\"\nauditors = [\"auditor.vkey\"]\n{extra}\n\
                 [[services]]\nvkey = \"risk.vkey\"\nkinds = [\"alarm\"]\n[[services]]\nvkey = \"withdrawals.vkey\"\nkinds = [\"withdrawal\"]\n\
                 [server]\npublic = \"127.0.0.1:{pp}\"\ninternal = \"127.0.0.1:{ip}\"\n{server}\n"
            ),
        )
        .unwrap();
        let mut child = Command::new(vigil_bin())
            .args(["serve", "--config"])
            .arg(&cfg)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        // Keep reading what the server writes, so it never blocks on (or writes into) a full or
        // closed pipe.
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = std::io::Read::read(&mut err, &mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("the server's first line").unwrap();
        assert!(first.contains(&format!("127.0.0.1:{pp}")), "{first}");
        std::thread::spawn(move || lines.for_each(drop));
        Server {
            child,
            stderr,
            dir,
            keys,
            public: format!("http://127.0.0.1:{pp}"),
            internal: format!("http://127.0.0.1:{ip}"),
        }
    }

    /// What the server has written to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    pub(crate) fn key_file(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(format!("{name}.key"))
    }

    /// `vigil append` of JSON lines with a service key; returns the receipts.
    pub(crate) fn append(&self, service: &str, lines: &[&str]) -> Vec<serde_json::Value> {
        let out = self.run_append(service, &["--batch", "2"], lines.join("\n"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// `vigil append` with `args`, `input` on its stdin, as `service`.
    pub(crate) fn run_append(&self, service: &str, args: &[&str], input: impl AsRef<[u8]>) -> std::process::Output {
        let mut append = Command::new(vigil_bin())
            .arg("append")
            .args(args)
            .args(["--url", &self.internal, "--key"])
            .arg(self.key_file(service))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Not all of it is read when the run stops early at a fault.
        let _ = append.stdin.take().unwrap().write_all(input.as_ref());
        append.wait_with_output().unwrap()
    }

    /// The served checkpoint, verified against the pinned log key.
    pub(crate) fn checkpoint(&self) -> (String, vigil_core::checkpoint::Checkpoint) {
        let (status, note) = http("GET", &format!("{}/checkpoint", self.public));
        assert_eq!(status, 200);
        let cp = checkpoint::verify(note.as_bytes(), &self.keys.log.verifier()).unwrap().checkpoint;
        (note, cp)
    }

    /// SIGKILL: no chance to flush or say goodbye. Returns the folder (keys, config, data).
    pub(crate) fn kill(mut self) -> tempfile::TempDir {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    /// SIGTERM, then a clean exit.
    pub(crate) fn stop(mut self) -> tempfile::TempDir {
        assert!(Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap().success());
        // A server that does not stop fails the test instead of hanging the suite.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the server did not stop within 60 s of SIGTERM");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(status.success(), "{status:?}");
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- the server's log ---\n{}", self.stderr());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A POST announcing a 5 MiB body, over a raw socket: the status and body of the answer.
fn oversized(base: &str) -> (u16, String) {
    use std::io::Read;
    let addr = base.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    let len = 5 << 20;
    // Headers only: the server must answer from the announced length, without the body.
    write!(
        c,
        "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    )
    .unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = c.read(&mut chunk) {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(i) = text.find("\r\n\r\n") {
            let want = text[..i]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= i + 4 + want {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

#[test]
fn serve_append_read_and_shut_down() {
    let server = Server::start();
    // Append three alarms with `vigil append` (one without an idempotency key).
    let receipts = server.append(
        "risk",
        &[
            r#"{"idempotency_key": "a-1", "event": {"kind": "alarm", "rule": "outflow", "severity": "high", "summary": "large outflow"}}"#,
            r#"{"idempotency_key": "a-2", "event": {"kind": "alarm", "rule": "login", "severity": "medium", "summary": "new device logins", "refs": [1]}}"#,
            r#"{"kind": "alarm", "rule": "api", "severity": "low", "summary": "API key use from new IPs"}"#,
        ],
    );
    assert_eq!(receipts.len(), 3);
    let withdrawal = server.append(
        "withdrawals",
        &[r#"{"kind": "withdrawal", "withdrawal_id": "w-1", "stage": "requested", "asset": "BTC", "amount": "1500", "destination": "bc1q", "wallet": "hot-1", "wallet_tier": "hot", "account": "acct-9"}"#],
    );

    // Read back through the public API and check the receipts against the served checkpoint.
    let (_, cp) = server.checkpoint();
    assert_eq!(cp.size, 3 + 3 + 1, "genesis, two service keys, three alarms, a withdrawal");
    for r in receipts.iter().chain(&withdrawal) {
        let seq = r["seq"].as_u64().unwrap();
        let (status, body) = http("GET", &format!("{}/v1/proofs/inclusion?seq={seq}", server.public));
        assert_eq!(status, 200, "{body}");
        let p: InclusionProof = serde_json::from_str(&body).unwrap();
        p.verify(&Digest::from_hex(r["leaf_hash"].as_str().unwrap()).unwrap(), &cp.root).unwrap();
        let (status, body) = http("GET", &format!("{}/v1/entries/{seq}", server.public));
        assert_eq!(status, 200);
        assert!(body.contains("\"seq\":"), "{body}");
    }
    // The auditor reads the withdrawal's openings with `vigil openings`; the risk key may not.
    let seq = withdrawal[0]["seq"].as_u64().unwrap().to_string();
    let openings = |key: &str| {
        Command::new(vigil_bin())
            .args(["openings", "--url", &server.internal, "--key"])
            .arg(server.key_file(key))
            .arg(&seq)
            .output()
            .unwrap()
    };
    let out = openings("auditor");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["openings"][0]["value"], "acct-9", "{v}");
    let out = openings("risk");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"), "{}", String::from_utf8_lossy(&out.stderr));

    // `vigil verify --url` checks the running log as a tlog-tiles client: checkpoint and
    // entry bundles only. With another pinned key it refuses (exit 1); with no server, exit 2.
    std::fs::write(server.dir.path().join("other.vkey"), key("test.example/log", 42).verifier().to_vkey()).unwrap();
    let verify = |url: &str, vkey: &str| {
        Command::new(vigil_bin())
            .args(["verify", "--url", url, "--log-key"])
            .arg(server.dir.path().join(vkey))
            .output()
            .unwrap()
    };
    std::fs::write(server.dir.path().join("log.vkey"), server.keys.log.verifier().to_vkey()).unwrap();
    let out = verify(&server.public, "log.vkey");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Not a terminal: no progress bar, nothing on stderr.
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("verified 7 entries"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(verify(&server.public, "other.vkey").status.code(), Some(1));
    // `vigil verify --openings` as the auditor: every commitment in the log is opened.
    let state = server.dir.path().join("verify-state.json");
    let verify_openings = |key: &str, state: Option<&std::path::Path>| {
        let mut cmd = Command::new(vigil_bin());
        cmd.args(["verify", "--url", &server.public, "--openings", &server.internal, "--auditor-key"])
            .arg(server.key_file(key))
            .arg("--log-key")
            .arg(server.dir.path().join("log.vkey"));
        if let Some(s) = state {
            cmd.arg("--state").arg(s);
        }
        cmd.output().unwrap()
    };
    let with_openings = |key: &str| verify_openings(key, None);
    let out = with_openings("auditor");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("opened 1 private values of 1 entries"));
    assert_eq!(with_openings("risk").status.code(), Some(2), "a service key is not an auditor's");
    // With --state, the state moves only once the openings are checked too: a run whose
    // openings could not be checked leaves it where it was, so the next run checks them.
    let with_state = |key: &str| verify_openings(key, Some(&state));
    assert_eq!(with_state("risk").status.code(), Some(2));
    assert!(!state.exists(), "the state was saved before the openings were checked");
    let out = with_state("auditor");
    assert!(out.status.success() && state.exists(), "{}", String::from_utf8_lossy(&out.stderr));
    // `vigil audit --url` verifies the same way and finds nothing wrong here.
    let out = Command::new(vigil_bin())
        .args(["audit", "--url", &server.public, "--log-key"])
        .arg(server.dir.path().join("log.vkey"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified 7 entries"));
    // One entry's inclusion in the latest checkpoint.
    let out = Command::new(vigil_bin())
        .args(["verify", "--url", &server.public, "--seq", "6", "--log-key"])
        .arg(server.dir.path().join("log.vkey"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("entry 6 (withdrawal) is in the checkpoint of 7 entries"));
    // `--entry FILE` (the bytes an auditor holds), against the latest or a held checkpoint;
    // a changed byte (of the signature: the entry still decodes) is not in the log (exit 1);
    // a file that is not an entry is bad input (exit 2).
    let (_, body) = http("GET", &format!("{}/v1/entries/6", server.public));
    let bytes =
        hex::decode(serde_json::from_str::<serde_json::Value>(&body).unwrap()["bytes"].as_str().unwrap()).unwrap();
    let (note, _) = server.checkpoint();
    std::fs::write(server.dir.path().join("held.checkpoint"), &note).unwrap();
    let mut flipped = bytes.clone();
    flipped[60] ^= 1;
    let cut = bytes[..bytes.len() - 1].to_vec();
    // Not an entry either, whatever its header says (a number beyond the log).
    let mut far = cut.clone();
    far[1..9].copy_from_slice(&u64::MAX.to_be_bytes());
    for (name, b, held, want) in [
        ("e6", &bytes, false, 0),
        ("e6", &bytes, true, 0),
        ("flipped", &flipped, false, 1),
        ("cut", &cut, false, 2),
        ("far", &far, false, 2),
    ] {
        let f = server.dir.path().join(format!("{name}.entry"));
        std::fs::write(&f, b).unwrap();
        let mut cmd = Command::new(vigil_bin());
        cmd.args(["verify", "--url", &server.public, "--entry"])
            .arg(&f)
            .arg("--log-key")
            .arg(server.dir.path().join("log.vkey"));
        if held {
            cmd.arg("--checkpoint").arg(server.dir.path().join("held.checkpoint"));
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(want), "{name} held={held}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(verify(&format!("http://127.0.0.1:{}", free_port()), "log.vkey").status.code(), Some(2));

    // Graceful shutdown on SIGTERM; everything acknowledged is on disk.
    let log = server.keys.log.verifier();
    let dir = server.stop();
    let report = vigil::verify::verify_data_dir(&dir.path().join("data"), &log).unwrap();
    assert_eq!(report.size, 7);
}

/// Bad requests over real HTTP: each gets its documented status and code, and the log does
/// not change (the same checkpoint note is served before and after).
#[test]
fn bad_requests_get_their_status_and_change_nothing() {
    let server = Server::start();
    let accepted = server.append("risk", &[r#"{"idempotency_key": "taken", "event": {"kind": "alarm", "rule": "r", "severity": "low", "summary": "s"}}"#]);
    assert_eq!(accepted.len(), 1);
    let (before, _) = server.checkpoint();
    let alarm = |summary: &str| {
        vigil_core::event::Event::from_value(
            serde_json::json!({"kind": "alarm", "rule": "r", "severity": "low", "summary": summary}),
        )
        .unwrap()
    };
    let sub = |k: &vigil_core::keys::SignerKey, ev, idem: &str, at: u64| {
        serde_json::to_value(vigil::client::sign_event(k, ev, idem, at).unwrap()).unwrap()
    };
    let now = now_ms();
    let good = sub(&server.keys.risk, alarm("fine"), "fresh", now);
    let mut unsigned = good.clone();
    unsigned.as_object_mut().unwrap().remove("signature");
    let mut wrongly_signed = good.clone();
    wrongly_signed["signature"] = sub(&server.keys.withdrawals, alarm("fine"), "fresh", now)["signature"].clone();
    let wrong_scope = sub(&server.keys.risk, vigil_core::event::Event::from_value(serde_json::json!({"kind": "withdrawal", "withdrawal_id": "w", "stage": "requested", "asset": "BTC", "amount": "1", "destination": "d", "wallet": "h", "wallet_tier": "hot", "account": "a"})).unwrap(), "scope", now);
    let replayed = sub(&server.keys.risk, alarm("old"), "old", now - 3_600_000);
    let reused = sub(&server.keys.risk, alarm("other content"), "taken", now);
    let unknown = sub(&server.keys.stranger, alarm("who"), "who", now);
    let json = |v: serde_json::Value| v.to_string().into_bytes();
    // (case, content type, body, status, code)
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("unsigned", "application/json", json(unsigned), 400, "malformed_json"),
        ("wrongly signed", "application/json", json(wrongly_signed), 401, "bad_signature"),
        ("unknown key", "application/json", json(unknown), 401, "unknown_key"),
        ("wrong scope", "application/json", json(wrong_scope), 403, "kind_not_allowed"),
        ("replayed (outside the window)", "application/json", json(replayed), 422, "outside_replay_window"),
        ("idempotency key reused", "application/json", json(reused), 409, "idempotency_conflict"),
        ("malformed", "application/json", b"{\"statement\": ".to_vec(), 400, "malformed_json"),
        ("not JSON at all", "application/json", vec![0xff, 0xfe, 0x00], 400, "malformed_json"),
        ("wrong content type", "text/plain", json(good.clone()), 415, "unsupported_media_type"),
        // (The oversized body is announced by `oversized` below, headers only: the server
        // answers before the body comes. The abuse test sends such bodies whole.)
        (
            "a good event after a bad one",
            "application/json",
            json(serde_json::json!([good, {"statement": 1}])),
            400,
            "malformed_json",
        ),
    ];
    for (case, ct, body, status, code) in cases {
        let (got, body) = request("POST", &format!("{}/v1/events", server.internal), ct, body);
        let text = String::from_utf8_lossy(&body);
        assert_eq!(got, status, "{case}: {text}");
        if !code.is_empty() {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|_| panic!("{case}: {text}"));
            assert_eq!(v["code"], code, "{case}: {text}");
            assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{case}: {text}");
        }
        assert_eq!(server.checkpoint().0, before, "{case}: the log changed");
    }
    // Oversized: announced by Content-Length, answered before the body is read.
    let (status, body) = oversized(&server.internal);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("\"code\":\"too_large\""), "{body}");
    assert_eq!(server.checkpoint().0, before, "oversized: the log changed");
    // The public listener answers 404 or 405 to every write, on every route.
    for path in [
        "/checkpoint",
        "/tile/0/000.p/2",
        "/tile/entries/000.p/2",
        "/v1/entries/0",
        "/v1/entries",
        "/v1/safu",
        "/v1/incidents",
        "/v1/proofs/inclusion?seq=0",
        "/v1/events",
        "/v1/openings/0",
        "/healthz",
        "/nothing",
    ] {
        for m in ["POST", "PUT", "DELETE", "PATCH"] {
            let (got, _) = request(m, &format!("{}{path}", server.public), "application/json", b"{}".to_vec());
            assert!(got == 404 || got == 405, "{m} {path}: {got}");
        }
    }
    assert_eq!(server.checkpoint().0, before);
}

/// `vigil append` run again over the same file (after a crash, say) appends nothing twice:
/// every event, signed anew at another time with fresh salts, is answered with its original
/// receipt: the ledger opens the private values of both and finds them equal.
#[test]
fn vigil_append_run_again_over_the_same_file_appends_nothing_twice() {
    let server = Server::start();
    let lines = [
        r#"{"kind": "withdrawal", "withdrawal_id": "w-1", "stage": "requested", "asset": "BTC", "amount": "150000000", "destination": "bc1qtest", "wallet": "hot-btc-1", "wallet_tier": "hot", "account": "acct-42"}"#,
        r#"{"idempotency_key": "w-2", "event": {"kind": "withdrawal", "withdrawal_id": "w-2", "stage": "requested", "asset": "BTC", "amount": "1", "destination": "bc1qtest", "wallet": "hot-btc-1", "wallet_tier": "hot", "account": "acct-7"}}"#,
        r#"{"kind": "withdrawal", "withdrawal_id": "w-1", "stage": "requested", "asset": "BTC", "amount": "150000000", "destination": "bc1qtest", "wallet": "hot-btc-1", "wallet_tier": "hot", "account": "acct-42"}"#,
    ];
    let first = server.append("withdrawals", &lines);
    let size = server.checkpoint().1.size;
    std::thread::sleep(std::time::Duration::from_millis(5));
    let again = server.append("withdrawals", &lines);
    let seqs = |r: &[serde_json::Value]| r.iter().map(|r| r["seq"].as_u64().unwrap()).collect::<Vec<_>>();
    // The same line twice in one file is one event.
    assert_eq!(seqs(&first), [size - 2, size - 1, size - 2]);
    assert_eq!(seqs(&again), seqs(&first));
    assert!(again.iter().all(|r| r["duplicate"] == true), "{again:?}");
    assert_eq!(server.checkpoint().1.size, size);
    // Another event under a used idempotency key is still refused.
    let other = lines[1].replace(r#""amount": "1""#, r#""amount": "2""#);
    let out = server.run_append("withdrawals", &[], &other);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("idempotency_conflict") && err.contains(r#""w-2""#), "{err}");
    assert!(
        err.contains("line 1 (in the batch of lines 1-1)") && err.contains("nothing of lines 1-1 was written"),
        "{err}"
    );
    assert_eq!(server.checkpoint().1.size, size);
    // A line that does not read stops the run there: the error names it, what was appended
    // before it, and where sending stopped (batches of 2: lines 1-2 went, line 3 waited).
    let w = |id: &str| lines[0].replace("w-1", id);
    let input =
        [w("w-10"), w("w-11"), w("w-12"), lines[1].replace(r#""w-2", "event""#, r#""order 17", "event""#)].join("\n");
    // (A batch waits an hour for its second line: only a full batch is sent.)
    let out = server.run_append("withdrawals", &["--batch", "2", "--linger-ms", "3600000"], &input);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    for want in [
        "line 4: ",
        "idempotency_key",
        "nothing from line 3 on was sent",
        "the 2 events of the batches before were appended",
    ] {
        assert!(err.contains(want), "wanted {want:?} in {err}");
    }
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2, "their receipts");
    assert_eq!(server.checkpoint().1.size, size + 2);
    // A line that is not UTF-8, likewise.
    let input = [w("w-20").as_bytes(), b"\n\xff\n", w("w-21").as_bytes()].concat();
    let out = server.run_append("withdrawals", &["--linger-ms", "3600000"], input);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && out.stdout.is_empty(), "{err}");
    assert!(err.contains("line 2: reading input: ") && err.contains("nothing from line 1 on was sent"), "{err}");
    assert_eq!(server.checkpoint().1.size, size + 2);
}

/// `vigil append` reading a stream that comes slowly (`tail -F … | vigil append`) appends each
/// line shortly after it comes, not when a batch is full or the input ends, and signs it when
/// it sends it.
#[test]
fn vigil_append_appends_a_slow_stream_as_it_comes() {
    let server = Server::start();
    let mut append = Command::new(vigil_bin())
        .args(["append", "--url", &server.internal, "--key"])
        .arg(server.key_file("risk"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = append.stdin.take().unwrap();
    let (tx, receipts) = std::sync::mpsc::channel();
    let stdout = BufReader::new(append.stdout.take().unwrap());
    std::thread::spawn(move || stdout.lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
    let mut seqs = Vec::new();
    for i in 0..3 {
        let before = now_ms();
        writeln!(input, r#"{{"kind": "alarm", "rule": "r", "severity": "low", "summary": "line {i}"}}"#).unwrap();
        input.flush().unwrap();
        // The input stays open: the receipt comes all the same (a generous bound: the
        // append waits 200 ms for more lines, then sends).
        let receipt = receipts.recv_timeout(std::time::Duration::from_secs(30));
        let receipt: serde_json::Value =
            serde_json::from_str(&receipt.expect("no receipt while the input is open")).unwrap();
        let seq = receipt["seq"].as_u64().unwrap();
        let entry = get_json(&format!("{}/v1/entries/{seq}", server.public));
        assert_eq!(entry["statement"]["event"]["summary"], format!("line {i}"), "{entry}");
        // Signed when sent (its batch waited 200 ms for more lines), not when read.
        assert!(entry["statement"]["created_at_ms"].as_u64().unwrap() >= before + 190, "{entry}");
        seqs.push(seq);
    }
    drop(input);
    let out = append.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(seqs.windows(2).filter(|w| w[1] == w[0] + 1).count(), 2, "{seqs:?}");
}

/// Events that together pass the 4 MiB body limit go in as many requests as it takes, however
/// large `--batch` is.
#[test]
fn vigil_append_splits_a_batch_over_the_body_limit() {
    let server = Server::start();
    let size = server.checkpoint().1.size;
    let lines: Vec<String> = (0..700).map(|i| large_alarm(i).to_string()).collect();
    assert!(lines.iter().map(|l| l.len()).sum::<usize>() > vigil::http::internal::MAX_BODY);
    // All in one batch (it waits an hour for its lines), sent in two requests.
    let args = ["--batch", "1000", "--linger-ms", "3600000"];
    let out = server.run_append("risk", &args, lines.join("\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let receipts: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let seqs: Vec<u64> = receipts.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (size..size + 700).collect::<Vec<_>>());
    // Two requests, so two checkpoints among the receipts.
    let checkpoints: std::collections::BTreeSet<&str> =
        receipts.iter().map(|r| r["checkpoint"].as_str().unwrap()).collect();
    assert_eq!(checkpoints.len(), 2);
    assert_eq!(server.checkpoint().1.size, size + 700);
    // A refusal in the first request: the lines of the second were not sent.
    let mut lines: Vec<String> = lines.iter().map(|l| l.replace(r#""rule":"r""#, r#""rule":"again""#)).collect();
    lines[4] = r#"{"kind": "withdrawal", "withdrawal_id": "w-1", "stage": "requested", "asset": "BTC", "amount": "1", "destination": "bc1q", "wallet": "hot-1", "wallet_tier": "hot", "account": "acct-9"}"#.into();
    let out = server.run_append("risk", &args, lines.join("\n"));
    let err = String::from_utf8_lossy(&out.stderr);
    // Where the first request ended (these lines are not the sizes of the first run's).
    let n: usize = err
        .split("in the batch of lines 1-")
        .nth(1)
        .and_then(|r| r.split(')').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no batch of lines named: {err}"));
    assert!((5..700).contains(&n), "{err}");
    for want in [
        format!("line 5 (in the batch of lines 1-{n}): refused (4"),
        format!("nothing of lines 1-{n} was written; lines {}-700 after them were not sent", n + 1),
    ] {
        assert!(err.contains(&want), "wanted {want:?} in {err}");
    }
    assert!(!out.status.success() && out.stdout.is_empty(), "{err}");
    assert_eq!(server.checkpoint().1.size, size + 700);
}

/// `vigil audit --url` reads the entries an incident's alarms refer to a second time, for the
/// incident's figures: a server that answers that read with other bytes is caught (exit 1),
/// not believed.
#[test]
fn audit_url_proves_again_what_it_reads_again() {
    let server = Server::start();
    let w = server.append(
        "withdrawals",
        &[r#"{"kind": "withdrawal", "withdrawal_id": "w-1", "stage": "executed", "tx_id": "tx-1", "asset": "BTC", "amount": "1500", "destination": "bc1q", "wallet": "hot-1", "wallet_tier": "hot", "account": "acct-9"}"#],
    );
    let seq = w[0]["seq"].as_u64().unwrap();
    server.append(
        "risk",
        &[&format!(
            r#"{{"kind": "alarm", "rule": "outflow", "severity": "high", "summary": "large outflow", "incident": "inc-1", "refs": [{seq}]}}"#
        )],
    );
    let (url, tamper) = proxy(server.public.clone());
    // The first read of the entry bundle (the verification) as served; every later one altered.
    let reads = std::sync::atomic::AtomicUsize::new(0);
    *tamper.lock().unwrap() = Box::new(move |p, _, b| {
        if p.starts_with("/tile/entries/") && reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
            let at = b.windows(15).position(|w| w == br#""amount":"1500""#).expect("the withdrawal");
            b[at + 11] = b'9';
        }
    });
    let audit = |url: &str| {
        Command::new(vigil_bin())
            .args(["audit", "--url", url, "--log-key"])
            .arg(server.dir.path().join("log.vkey"))
            .output()
            .unwrap()
    };
    let out = audit(&server.public);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = audit(&url);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("entry {seq}, read again for the incident figures, is not the entry verified")),
        "{err}"
    );
    // Withheld the second time, answered as if the route did not exist: the log's API
    // withholding (exit 1), not the user's wrong base URL (exit 2), though the second read
    // starts afresh.
    let reads = std::sync::atomic::AtomicUsize::new(0);
    *tamper.lock().unwrap() = Box::new(move |p, status, b| {
        if p.starts_with("/tile/entries/") && reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
            *status = axum::http::StatusCode::NOT_FOUND;
            *b = br#"{"type": "about:blank", "code": "not_found", "detail": "no such route"}"#.to_vec();
        }
    });
    let out = audit(&url);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the server does not have it (404: no such route)") && !err.contains("base URL"), "{err}");
}

/// The wrong base URL (the internal API for the public one, or the other way round) is the
/// user's mistake, said so with exit 2, never reported as the log misbehaving (exit 1).
#[test]
fn a_wrong_base_url_is_a_usage_error_not_a_misbehaving_log() {
    let server = Server::start();
    server.append("withdrawals", &[r#"{"kind": "withdrawal", "withdrawal_id": "w-1", "stage": "requested", "asset": "BTC", "amount": "1", "destination": "bc1qtest", "wallet": "hot-btc-1", "wallet_tier": "hot", "account": "acct-1"}"#]);
    let vkey = server.dir.path().join("log.vkey");
    let vkey = vkey.to_str().unwrap();
    let auditor = server.key_file("auditor");
    let (internal, public) = (server.internal.as_str(), server.public.as_str());
    let secret = "00".repeat(32);
    // `vigil verify` of the public API with the openings from `url`.
    let auditor_key = auditor.to_str().unwrap();
    fn openings<'a>(public: &'a str, vkey: &'a str, auditor_key: &'a str, url: &'a str) -> Vec<&'a str> {
        vec!["verify", "--url", public, "--log-key", vkey, "--openings", url, "--auditor-key", auditor_key]
    }
    let cases: Vec<Vec<&str>> = vec![
        vec!["verify", "--url", internal, "--log-key", vkey],
        vec!["audit", "--url", internal, "--log-key", vkey],
        openings(public, vkey, auditor_key, public),
        vec!["reserves", "verify", "--url", internal, "--log-key", vkey, "--account", "a", "--secret", &secret],
    ];
    for args in cases {
        let (code, out, err) = vigil(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("base URL"), "{args:?}: {err}");
    }
    // An https:// URL is refused saying so (the client has no TLS), also a usage error.
    let https = public.replace("http://", "https://");
    let events = server.dir.path().join("one.jsonl");
    std::fs::write(&events, r#"{"kind": "alarm", "rule": "r", "severity": "low", "summary": "s"}"#).unwrap();
    let https_internal = internal.replace("http://", "https://");
    let risk = server.key_file("risk");
    for args in [
        vec!["verify", "--url", &https, "--log-key", vkey],
        vec!["append", "--url", &https_internal, "--key", risk.to_str().unwrap(), events.to_str().unwrap()],
    ] {
        let (code, out, err) = vigil(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("https:// is not supported"), "{args:?}: {err}");
    }
    // A server that serves the log's checkpoint, then does not serve the entries or proofs, is
    // a log's API withholding them (exit 1), whatever way it refuses: "no such route", a plain
    // 404, another 4xx, an answer larger than any a log serves. So it is when the user brings
    // the checkpoint (`--checkpoint`: the server's first answer is then the refusal). A server
    // that serves nothing at all is a wrong base URL (exit 2), as is a checkpoint file that is
    // not this log's.
    let cp = get_text(&format!("{public}/checkpoint"));
    let cp_file = server.dir.path().join("held.checkpoint");
    std::fs::write(&cp_file, &cp).unwrap();
    let not_log = server.dir.path().join("not-a.checkpoint");
    std::fs::write(&not_log, cp.replace("— ", "— x")).unwrap();
    let serving_checkpoint = |refusal: axum::routing::MethodRouter| {
        let cp = cp.clone();
        serve_app(
            axum::Router::new().route("/checkpoint", axum::routing::get(move || async move { cp })).fallback(refusal),
        )
    };
    let no_route = || axum::routing::get(|| async { vigil::http::Problem::not_found("no such route") });
    let with = |status: u16, body: Vec<u8>| {
        axum::routing::get(move || async move { (axum::http::StatusCode::from_u16(status).unwrap(), body) })
    };
    let withholding = serving_checkpoint(no_route());
    let nothing = serve_app(axum::Router::new().fallback(no_route()));
    let plain_404 = serve_app(axum::Router::new().fallback(with(404, vec![])));
    let cp_file = cp_file.to_str().unwrap();
    // (server, checkpoint file, exit code)
    let cases: Vec<(String, Option<&str>, u8)> = vec![
        (withholding.clone(), None, 1),
        (withholding.clone(), Some(cp_file), 1),
        (serving_checkpoint(with(404, vec![])), Some(cp_file), 1),
        (serving_checkpoint(with(410, b"gone".to_vec())), None, 1),
        (serving_checkpoint(with(410, b"gone".to_vec())), Some(cp_file), 1),
        (serving_checkpoint(with(200, vec![0; 17 << 20])), None, 1),
        // Asking to come back later, or failing itself: the run cannot say.
        (serving_checkpoint(with(429, vec![])), None, 2),
        (serving_checkpoint(with(503, vec![])), None, 2),
        (nothing.clone(), Some(cp_file), 2),
        (plain_404.clone(), Some(cp_file), 2),
        (public.to_string(), Some(not_log.to_str().unwrap()), 2),
        (public.to_string(), Some(cp_file), 0),
    ];
    for (url, checkpoint, want) in cases {
        let mut args = vec!["verify", "--url", &url, "--log-key", vkey];
        if let Some(f) = checkpoint {
            args.extend(["--seq", "0", "--checkpoint", f]);
        }
        let (code, out, err) = vigil(&args);
        assert_eq!(code, i32::from(want), "{args:?}: {out}{err}");
        assert!(want != 1 || !err.contains("base URL"), "{args:?}: {err}");
    }
    // A log without a checkpoint yet: nothing to verify (exit 2); but to a verifier that kept
    // one of it (`--state`), a log that signed a checkpoint has rolled back or withholds (exit 1).
    let state = server.dir.path().join("verify.state");
    let state = state.to_str().unwrap();
    // Nor can it pass for a wrong URL then, answering "no such route", or refuse another way.
    let empty = serve_app(
        axum::Router::new().fallback(|| async { vigil::http::Problem::not_found("the log has no checkpoint yet") }),
    );
    let gone = serve_app(axum::Router::new().fallback(with(410, vec![])));
    for (url, with_state, want) in [
        (empty.as_str(), false, 2),
        (nothing.as_str(), false, 2),
        (gone.as_str(), false, 2),
        (public, true, 0),
        (empty.as_str(), true, 1),
        (nothing.as_str(), true, 1),
        (gone.as_str(), true, 1),
    ] {
        let mut args = vec!["verify", "--url", url, "--log-key", vkey];
        if with_state {
            args.extend(["--state", state]);
        }
        let (code, out, err) = vigil(&args);
        assert_eq!(code, want, "{args:?}: {out}{err}");
    }
    // An internal API that answers an opening with something else than openings misbehaves.
    let garbage = serve_app(axum::Router::new().fallback(with(200, b"<html>".to_vec())));
    let (code, out, err) = vigil(&openings(public, vkey, auditor_key, &garbage));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("the openings answered are not JSON"), "{err}");
    // --openings checks the entries a whole run verifies: not with --seq.
    let mut args = openings(public, vkey, auditor_key, internal);
    args.extend(["--seq", "0"]);
    let (code, _, err) = vigil(&args);
    assert_eq!(code, 2, "{err}");
    // The right URLs verify.
    let (code, _, err) = vigil(&openings(public, vkey, auditor_key, internal));
    assert_eq!(code, 0, "{err}");
}

/// A stock tlog-tiles client walks the log's tiles: Cloudflare's `tlog_tiles` (a port of Go's
/// `sumdb/tlog`) and `signed_note`, with nothing of vigil's own code. The note verifies under the
/// log's vkey; `TileHashReader` authenticates every tile it reads against the checkpoint (full
/// and partial tiles, both levels), recomputes the root, proves entries from the tiles alone,
/// and proves the earlier checkpoint consistent with a later one; the entry bundles hash to the
/// authenticated leaves.
#[test]
fn a_stock_tlog_tiles_client_reads_the_log() {
    use signed_note::{Note, StandardVerifier, VerifierList};
    use tlog_tiles::{HashReader, TileHashReader, TileReader};

    /// Tiles over HTTP at the C2SP paths (Go's `tile/8/L/N` less the height).
    struct Http<'a> {
        public: &'a str,
        reads: std::cell::Cell<usize>,
    }
    impl TileReader for Http<'_> {
        fn height(&self) -> u8 {
            8
        }
        fn read_tiles(&self, tiles: &[tlog_tiles::Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
            let fetch = |t: &tlog_tiles::Tile| {
                let path = t.path().replacen("tile/8/", "tile/", 1);
                let (status, body) = request("GET", &format!("{}/{path}", self.public), "", vec![]);
                assert_eq!(status, 200, "{path}");
                self.reads.set(self.reads.get() + 1);
                body
            };
            Ok(tiles.iter().map(fetch).collect())
        }
        fn save_tiles(&self, _: &[tlog_tiles::Tile], _: &[Vec<u8>]) {}
    }
    /// The served checkpoint, as the stock client reads it: (size, root).
    fn checkpoint(server: &Server) -> (u64, tlog_tiles::Hash) {
        let (status, note) = http("GET", &format!("{}/checkpoint", server.public));
        assert_eq!(status, 200);
        let verifier = StandardVerifier::new(&server.keys.log.verifier().to_vkey()).unwrap();
        let note = Note::from_bytes(note.as_bytes()).unwrap();
        note.verify(&VerifierList::new(vec![Box::new(verifier)])).unwrap();
        let cp = tlog_tiles::Checkpoint::from_bytes(note.text()).unwrap();
        (cp.size(), *cp.hash())
    }
    /// The entries of data tile `n` (`width` of them), each checked against its authenticated
    /// leaf hash.
    fn entries(public: &str, n: u64, width: u64, leaves: &impl HashReader) -> Vec<Vec<u8>> {
        let mut tile = tlog_tiles::Tile::new(8, 0, n, width as u32, false);
        tile.set_is_data();
        let path = tile.path().replacen("tile/8/data/", "tile/entries/", 1);
        let (status, bundle) = request("GET", &format!("{public}/{path}"), "", vec![]);
        assert_eq!(status, 200, "{path}");
        let (mut rest, mut out) = (&bundle[..], Vec::new());
        for i in 0..width {
            let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
            let leaf = leaves.read_hashes(&[tlog_tiles::stored_hash_index(0, n * 256 + i)]).unwrap();
            assert_eq!(tlog_tiles::record_hash(&rest[2..2 + len]), leaf[0], "{path} entry {i}");
            out.push(rest[2..2 + len].to_vec());
            rest = &rest[2 + len..];
        }
        assert!(rest.is_empty(), "{path}: bytes after its {width} entries");
        out
    }

    let server = Server::start();
    let alarms = |from: usize, to: usize| -> Vec<String> {
        (from..to)
            .map(|i| format!(r#"{{"idempotency_key": "s-{i}", "event": {{"kind": "alarm", "rule": "r", "severity": "low", "summary": "alarm {i}"}}}}"#))
            .collect()
    };
    let first = alarms(0, 300);
    server.append("risk", &first.iter().map(String::as_str).collect::<Vec<_>>());
    let (old_size, old_root) = checkpoint(&server);
    assert_eq!(old_size, 303);
    let later = alarms(300, 600);
    server.append("risk", &later.iter().map(String::as_str).collect::<Vec<_>>());
    let (size, root) = checkpoint(&server);
    assert_eq!(size, 603);

    let tiles = Http { public: &server.public, reads: std::cell::Cell::new(0) };
    let reader = TileHashReader::new(size, root, &tiles);
    assert_eq!(tlog_tiles::tree_hash(size, &reader).unwrap(), root);
    assert!(tiles.reads.get() > 0, "the root was recomputed from served tiles");
    for n in [0, 1, 255, 256, 511, 512, 602] {
        let proof = tlog_tiles::prove_record(size, n, &reader).unwrap();
        let leaf = reader.read_hashes(&[tlog_tiles::stored_hash_index(0, n)]).unwrap()[0];
        tlog_tiles::check_record(&proof, size, root, n, leaf).unwrap_or_else(|e| panic!("entry {n}: {e:?}"));
    }
    let proof = tlog_tiles::prove_tree(size, old_size, &reader).unwrap();
    tlog_tiles::check_tree(&proof, size, root, old_size, old_root).unwrap();
    // Every entry, from its bundle: two full data tiles and a partial one of 91.
    let all: Vec<Vec<u8>> =
        (0..size.div_ceil(256)).flat_map(|n| entries(&server.public, n, (size - n * 256).min(256), &reader)).collect();
    assert_eq!(all.len() as u64, size);
    assert!(String::from_utf8_lossy(&all[602]).contains("alarm 599"), "the last entry is the last alarm");
}

/// A server that lies (one byte of one entry changed in the bundles it serves) is caught by
/// `vigil verify --url`, which names the entry.
#[test]
fn verify_url_catches_a_server_that_rewrites_an_entry() {
    let server = Server::start();
    server.append("risk", &[r#"{"kind": "alarm", "rule": "r", "severity": "low", "summary": "the original words"}"#]);
    // A proxy in front of the real public API that alters entry bundles.
    let upstream = server.public.clone();
    let proxy = serve_app(axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let url = format!("{upstream}{uri}");
        async move {
            let mut body = tokio::task::spawn_blocking(move || request("GET", &url, "", vec![]).1).await.unwrap();
            if uri.path().starts_with("/tile/entries/") {
                // Same length, so the bundle's framing stays intact: only the words change.
                if let Some(at) = body.windows(8).position(|w| w == b"original") {
                    body[at..at + 8].copy_from_slice(b"ORIGINAL");
                }
            }
            body
        }
    }));
    std::fs::write(server.dir.path().join("log.vkey"), server.keys.log.verifier().to_vkey()).unwrap();
    let out = Command::new(vigil_bin())
        .args(["verify", "--url", &proxy, "--log-key"])
        .arg(server.dir.path().join("log.vkey"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("entry 3: signature by risk"), "{err}");
    // The rewritten entry's inclusion proof fails too; an untouched one passes.
    let seq = |n: &str| {
        Command::new(vigil_bin())
            .args(["verify", "--url", &proxy, "--seq", n, "--log-key"])
            .arg(server.dir.path().join("log.vkey"))
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(seq("3"), Some(1));
    assert_eq!(seq("2"), Some(0));
}

fn alarms(from: usize, n: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| format!(r#"{{"idempotency_key": "s-{i}", "event": {{"kind": "alarm", "rule": "r", "severity": "low", "summary": "alarm {i}"}}}}"#))
        .collect()
}

/// `vigil verify --url --state`: the second run checks only what is new; a server that then
/// shows a shorter log (rollback) or another history (fork) is log misbehaviour, with both
/// signed checkpoints written as evidence.
#[test]
fn verify_with_state_is_incremental_and_catches_rollback_and_fork() {
    let a = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let vkey = dir.path().join("log.vkey");
    std::fs::write(&vkey, a.keys.log.verifier().to_vkey()).unwrap();
    let state = dir.path().join("state.json");
    let verify = |url: &str| {
        let out = Command::new(vigil_bin())
            .args(["verify", "--url", url, "--state"])
            .arg(&state)
            .arg("--log-key")
            .arg(&vkey)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let lines = alarms(0, 5);
    a.append("risk", &lines.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(verify(&a.public).0, Some(0));
    let saved = |p: &std::path::Path| -> u64 {
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(p).unwrap()).unwrap()["verifier"]["size"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(saved(&state), 3 + 5);
    // 300 more: the next run resumes at 8 and crosses a bundle boundary.
    let lines = alarms(5, 300);
    a.append("risk", &lines.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, out) = verify(&a.public);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("verified 308 entries"), "{out}");
    assert_eq!(saved(&state), 308);

    // Another log under the same key with fewer entries: a rollback.
    let b = Server::start();
    let lines = alarms(0, 2);
    b.append("risk", &lines.iter().map(String::as_str).collect::<Vec<_>>());
    let evidence = dir.path().join("state.json.evidence.txt");
    let (code, out) = verify(&b.public);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("rollback"), "{out}");
    let text = std::fs::read_to_string(&evidence).unwrap();
    assert_eq!(text.matches("— test.example/log").count(), 4, "both signed checkpoints: {text}");
    assert_eq!(saved(&state), 308, "a failed run leaves the state as it was");

    // ... and one with more entries but another history: a fork. Its evidence goes beside the
    // first, which is kept as it was.
    let lines = alarms(100, 400);
    b.append("risk", &lines.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, out) = verify(&b.public);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("is not a valid extension of the 308 entries"), "{out}");
    let second = dir.path().join("state.json.evidence-2.txt");
    assert!(out.contains(&second.display().to_string()), "{out}");
    assert!(std::fs::read_to_string(&second).unwrap().contains("is not a valid extension of the 308 entries"));
    assert_eq!(std::fs::read_to_string(&evidence).unwrap(), text, "the first evidence is kept as it was");
    assert_eq!(saved(&state), 308);
}

/// The demo as its user meets it: every URL it prints answers, every command it prints runs
/// as printed (a balance verified, the log verified with its witnesses, an append); the story
/// came through the internal API (its requests are in `/metrics`); and ordinary traffic keeps
/// arriving: new withdrawals, each requested then executed, appended after the story.
#[test]
fn the_demo_serves_what_it_prints_and_keeps_growing() {
    let demo = RunningDemo::start_with(500);
    let printed = demo.printed.join("\n");
    let size = note_size(get_text(&format!("{}/checkpoint", demo.public)));
    // The story's requests to `POST /v1/events`: thousands, not the live traffic of a second.
    let metrics = get_text(&format!("{}/metrics", demo.public));
    let posted: u64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                r#"vigil_http_requests_total{listener="internal",route="/v1/events",method="POST",status="200"} "#,
            )
        })
        .unwrap_or_else(|| panic!("no appends through the internal API in\n{metrics}"))
        .parse()
        .unwrap();
    assert!(posted >= 100, "{posted} requests");

    let events = demo.dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        r#"{"kind": "alarm", "rule": "r", "severity": "low", "summary": "from the printed command"}"#,
    )
    .unwrap();
    let (mut urls, mut commands) = (0, 0);
    // What follows "Open:" (the story's own line names the internal URL, which takes only POST).
    for line in demo.printed.iter().skip_while(|l| l.trim() != "Open:") {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.iter().position(|w| *w == "vigil") {
            Some(at) => {
                let args: Vec<&str> = words[at + 1..]
                    .iter()
                    .map(|w| if *w == "events.jsonl" { events.to_str().unwrap() } else { w })
                    .collect();
                let (code, out, err) = vigil(&args);
                assert_eq!(code, 0, "{line}\n{out}{err}");
                commands += 1;
            }
            None => {
                for url in words.iter().filter(|w| w.starts_with("http://")) {
                    let (status, body) = request("GET", url, "", vec![]);
                    assert_eq!(status, 200, "{line}: {}", String::from_utf8_lossy(&body));
                    urls += 1;
                }
            }
        }
    }
    // checkpoint, incidents, the breach, SAFU, reserves, entries, two witnesses; balance,
    // verify, append.
    assert_eq!((urls, commands), (8, 3), "{printed}");

    // Ordinary traffic: a withdrawal requested and executed, every half second.
    let note = wait_checkpoint_size(&demo.public, size + 5);
    let kinds: Vec<(String, String)> = (size..note_size(&note))
        .map(|seq| {
            let e = get_json(&format!("{}/v1/entries/{seq}", demo.public));
            let event = &e["statement"]["event"];
            (event["kind"].as_str().unwrap().to_string(), event["stage"].as_str().unwrap_or("").to_string())
        })
        .collect();
    let live: Vec<&(String, String)> = kinds.iter().filter(|(kind, _)| kind == "withdrawal").collect();
    assert!(live.len() >= 4, "{kinds:?}");
    assert!(
        live.chunks(2).all(|p| p.len() < 2 || (p[0].1.as_str(), p[1].1.as_str()) == ("requested", "executed")),
        "{kinds:?}"
    );
}

/// Proof of reserves end to end with the real binary: the demo serving its log; a user checks
/// their balance with `vigil reserves verify` (and is refused with a wrong secret, a tampered
/// proof, an unpinned log key); an operator signs attestations with `vigil sign` and publishes a
/// new snapshot with `vigil reserves build`, whose users then verify; a bad balances file is
/// refused naming its line, and the log does not change.
#[test]
fn reserves_build_and_verify_against_a_running_server() {
    let demo = RunningDemo::start();
    let (dir, keys, data) = (&demo.dir, RunningDemo::keys(), demo.data());
    let (public, internal) = (demo.public.clone(), demo.internal.clone());
    let vkey = keys.join("vigil.example_audit-log.vkey");
    let vkey = vkey.to_str().unwrap();
    let reserves = vigil::demo::reserves_dir_of(&data);
    let (account, secret) = record_of(&reserves.join("por-2019-05-08.records.csv"), 3);
    let verify_as = |account: &str, extra: &[&str]| {
        let mut a = vec!["reserves", "verify", "--url", &public, "--log-key", vkey, "--account", account];
        a.extend_from_slice(extra);
        vigil(&a)
    };
    let verify = |extra: &[&str]| verify_as(&account, extra);

    let (code, out, err) = verify(&["--secret", &secret]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("is in snapshot por-2019-05-08") && out.contains("BTC"), "{out}");
    assert!(out.contains(&format!("of account {account:?}")), "{out}");
    // Another user's account id with this record: its leaf names this account, not that one,
    // so no one can be shown another's leaf as theirs (docs/FORMAT.md §11.2).
    let (other, _) = record_of(&reserves.join("por-2019-05-08.records.csv"), 4);
    let (code, _, err) = verify_as(&other, &["--secret", &secret]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("NOT VERIFIED") && err.contains(&format!("with account {other:?}")), "{err}");
    let (code, out, _) = verify(&["--secret", &secret, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((code, v["verified"].as_bool(), v["balances"].as_array().map(|b| b.len())), (0, Some(true), Some(3)));

    // The proof, as a file; one flipped bit in a sibling's hash and it no longer verifies.
    let mut id = [0u8; 32];
    hex::decode_to_slice(&secret, &mut id).unwrap();
    let rid = hex::encode(vigil_core::reserves::record_id(&id));
    let (status, served) = request("GET", &format!("{public}/v1/reserves/por-2019-05-08/proof/{rid}"), "", vec![]);
    assert_eq!(status, 200);
    let good = dir.path().join("proof.bin");
    std::fs::write(&good, &served).unwrap();
    assert_eq!(verify(&["--secret", &secret, "--proof", good.to_str().unwrap()]).0, 0);
    let mut flipped = served.clone();
    let n = flipped.len();
    flipped[n - 40] ^= 1;
    std::fs::write(&good, &flipped).unwrap();
    let (code, _, err) = verify(&["--secret", &secret, "--proof", good.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("NOT VERIFIED"), "{err}");

    let wrong = secret.replace(&secret[..1], if secret.starts_with('0') { "1" } else { "0" });
    // A proof file with a secret that is not its record's: the user's mistake (exit 2).
    let (code, _, err) = verify(&["--secret", &wrong, "--proof", good.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the secret does not belong to this proof"), "{err}");
    let (code, out, err) = verify(&["--secret", &wrong, "--json"]);
    assert_eq!(code, 2, "no such record is the user's error, not the log's: {err}");
    assert!(err.contains("has no record") && err.contains("does not show your record"), "{err}");
    // --json answers in JSON whatever the outcome.
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["verified"], false, "{out}");
    // A file that is not a proof, or not of the snapshot named: the user's mistake too.
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, b"not a proof").unwrap();
    let good_again = dir.path().join("proof-again.bin");
    std::fs::write(&good_again, &served).unwrap();
    for (file, extra) in [(&garbage, None), (&good_again, Some("another-snapshot"))] {
        let mut args = vec!["--secret", &secret, "--proof", file.to_str().unwrap()];
        if let Some(s) = extra {
            args.extend(["--snapshot", s]);
        }
        let (code, _, err) = verify(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
    let other_key = keys.join("operator.vkey");
    #[rustfmt::skip]
    let (code, _, err) = vigil(&["reserves", "verify", "--url", &public, "--log-key", other_key.to_str().unwrap(),
        "--account", &account, "--secret", &secret]);
    assert_eq!(code, 1, "an unpinned key: {err}");
    // What the user gives wrongly is exit 2, and with --json a JSON answer too.
    for (account, secret) in [(account.as_str(), "xyz"), ("", secret.as_str())] {
        let (code, out, err) = verify_as(account, &["--secret", secret, "--json"]);
        assert_eq!(code, 2, "{account:?} {secret}: {err}");
        let answer: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
        assert_eq!(answer["verified"], false, "{out}");
        assert!(err.contains("--secret must be") || err.contains("--account must"), "{err}");
    }

    // A new snapshot through the CLI: attestations signed by custody, published by treasury.
    let att = dir.path().join("att.jsonl");
    std::fs::write(
        &att,
        "{\"kind\":\"reserve_attestation\",\"asset\":\"BTC\",\"wallet\":\"cold-btc-9\",\"address\":\"bc1qnine\",\"balance\":\"900\",\"block_height\":900000,\"as_of_ms\":1}\n",
    )
    .unwrap();
    let (code, signed, err) =
        vigil(&["sign", "--key", keys.join("custody.key").to_str().unwrap(), att.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let signed_file = dir.path().join("signed.jsonl");
    std::fs::write(&signed_file, signed).unwrap();
    let size = || served_size(&public);
    let build = |balances: &str, snapshot: &str, records: &std::path::Path, key: &str| {
        let b = dir.path().join(format!("{snapshot}.csv"));
        std::fs::write(&b, balances).unwrap();
        vigil(&[
            "reserves",
            "build",
            "--balances",
            b.to_str().unwrap(),
            "--reserves",
            signed_file.to_str().unwrap(),
            "--snapshot",
            snapshot,
            "--url",
            &internal,
            "--key",
            keys.join(key).to_str().unwrap(),
            "--reserves-dir",
            reserves.to_str().unwrap(),
            "--records",
            records.to_str().unwrap(),
        ])
    };
    let before = size();
    let bad = dir.path().join("bad.records.csv");
    let (code, _, err) = build("account,BTC\na,5\nb,-1\n", "por-bad", &bad, "treasury.key");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 3: negative balance -1 for BTC"), "{err}");
    assert!(!bad.exists() && !vigil::reserves::tree_dir(&reserves, "por-bad").exists());
    assert_eq!(size(), before, "a refused build logs nothing");
    // An asset the snapshot's entry would refuse (not upper case) is said before the
    // attestations are logged or the tree written.
    let balances = dir.path().join("por-lower.csv");
    std::fs::write(&balances, "account,BTC,usdt\na,5,1\n").unwrap();
    #[rustfmt::skip]
    let (code, _, err) = vigil(&["reserves", "build", "--balances", balances.to_str().unwrap(),
        "--reserves", signed_file.to_str().unwrap(), "--snapshot", "por-lower", "--assets", "BTC,usdt",
        "--url", &internal, "--key", keys.join("treasury.key").to_str().unwrap(),
        "--reserves-dir", reserves.to_str().unwrap(), "--records", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the snapshot entry would be refused") && err.contains("usdt"), "{err}");
    assert!(!bad.exists() && !vigil::reserves::tree_dir(&reserves, "por-lower").exists());
    assert_eq!(size(), before, "nothing logged");

    let records = dir.path().join("new.records.csv");
    // Published with a key the ledger refuses `reserve_snapshot`: the refusal is definite, so
    // the tree and the records go and the same command with the right key runs again.
    let (code, _, err) = build("account,BTC\na,500\nb,300\nc,0\n", "por-new", &records, "risk.key");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the reserve snapshot was refused and not logged") && err.contains("403"), "{err}");
    assert!(!records.exists() && !vigil::reserves::tree_dir(&reserves, "por-new").exists(), "{err}");
    let (code, out, err) = build("account,BTC\na,500\nb,300\nc,0\n", "por-new", &records, "treasury.key");
    assert_eq!(code, 0, "{err}");
    let p: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(p["assets"][0]["ratio"], "1.1250", "900 attested over 800 owed: {out}");
    // The public API states the snapshot once the demo's witnesses have cosigned it.
    wait_checkpoint_size(&public, before + 2);
    for n in 1..=3 {
        let (account, secret) = record_of(&records, n);
        let (code, out, err) = verify_as(&account, &["--secret", &secret, "--snapshot", "por-new"]);
        assert_eq!(code, 0, "{out}{err}");
    }
    assert_eq!(size(), before + 2, "one attestation and the snapshot");
}

fn served_size(public: &str) -> u64 {
    note_size(&http("GET", &format!("{public}/checkpoint")).1)
}

/// An answer that is not a problem (a proxy's page, an empty body) reaches the auditor with its
/// status and text, not as "not JSON".
#[test]
fn an_openings_answer_that_is_not_json_keeps_its_status_and_text() {
    use std::io::{Read, Write};
    for (status, body, want) in [
        ("502 Bad Gateway", "<html>bad gateway</html>", "<html>bad gateway</html>"),
        ("408 Request Timeout", "", "(no body)"),
    ] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(answer.as_bytes()).unwrap();
        });
        let e = vigil::client::fetch_openings(&url, &key("auditor", 77), 3, T0).unwrap_err();
        server.join().unwrap();
        assert_eq!((e.status, e.detail.as_str()), (status[..3].parse().unwrap(), want));
    }
}
