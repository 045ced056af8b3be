//! End to end: the real `vigil serve` on loopback, `vigil append` through the internal API,
//! reads through the public API, graceful shutdown.

use crate::support::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use vigil_core::checkpoint;
use vigil_core::hash::Digest;
use vigil_core::merkle::InclusionProof;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http(method: &str, url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut res = match method {
        "GET" => agent.get(url).call().unwrap(),
        _ => agent.post(url).header("content-type", "application/json").send(&b"{}"[..]).unwrap(),
    };
    let status = res.status().as_u16();
    (status, res.body_mut().read_to_string().unwrap())
}

#[test]
fn serve_append_read_and_shut_down() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    for (name, k) in [("log", &keys.log), ("operator", &keys.operator), ("risk", &keys.risk)] {
        std::fs::write(dir.path().join(format!("{name}.key")), k.to_skey()).unwrap();
    }
    std::fs::write(dir.path().join("risk.vkey"), keys.risk.verifier().to_vkey()).unwrap();
    let (pp, ip) = (free_port(), free_port());
    let cfg = dir.path().join("vigil.toml");
    std::fs::write(
        &cfg,
        format!("data_dir = \"data\"\nlog_key = \"log.key\"\noperator_key = \"operator.key\"\n[[services]]\nvkey = \"risk.vkey\"\nkinds = [\"alarm\"]\n[server]\npublic = \"127.0.0.1:{pp}\"\ninternal = \"127.0.0.1:{ip}\"\n"),
    )
    .unwrap();
    let mut server = Command::new(vigil_bin())
        .args(["serve", "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains(&format!("127.0.0.1:{pp}")), "{first}");
    let public = format!("http://127.0.0.1:{pp}");

    // Append three alarms with `vigil append` (one without an idempotency key).
    let events = [
        r#"{"idempotency_key": "a-1", "event": {"kind": "alarm", "rule": "outflow", "severity": "high", "summary": "large outflow"}}"#,
        r#"{"idempotency_key": "a-2", "event": {"kind": "alarm", "rule": "login", "severity": "medium", "summary": "new device logins", "refs": [1]}}"#,
        r#"{"kind": "alarm", "rule": "api", "severity": "low", "summary": "API key use from new IPs"}"#,
    ];
    let mut append = Command::new(vigil_bin())
        .args(["append", "--batch", "2", "--url", &format!("http://127.0.0.1:{ip}"), "--key"])
        .arg(dir.path().join("risk.key"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    append.stdin.take().unwrap().write_all(events.join("\n").as_bytes()).unwrap();
    let out = append.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let receipts: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(receipts.len(), 3);

    // Read back through the public API and check the receipts against the served checkpoint.
    let (status, note) = http("GET", &format!("{public}/checkpoint"));
    assert_eq!(status, 200);
    let cp = checkpoint::verify(note.as_bytes(), &keys.log.verifier()).unwrap().checkpoint;
    assert_eq!(cp.size, 2 + 3, "genesis, the risk key, three alarms");
    for r in &receipts {
        let seq = r["seq"].as_u64().unwrap();
        let (status, body) = http("GET", &format!("{public}/v1/proofs/inclusion?seq={seq}"));
        assert_eq!(status, 200, "{body}");
        let p: InclusionProof = serde_json::from_str(&body).unwrap();
        p.verify(&Digest::from_hex(r["leaf_hash"].as_str().unwrap()).unwrap(), &cp.root).unwrap();
        let (status, body) = http("GET", &format!("{public}/v1/entries/{seq}"));
        assert_eq!(status, 200);
        assert!(body.contains("\"kind\":\"alarm\""), "{body}");
    }
    // The public listener has no write route; the internal one refuses a bad request.
    assert_eq!(http("POST", &format!("{public}/checkpoint")).0, 405);
    assert_eq!(http("POST", &format!("{public}/v1/events")).0, 404);
    assert_eq!(http("POST", &format!("http://127.0.0.1:{ip}/v1/events")).0, 400);

    // Graceful shutdown on SIGTERM; everything acknowledged is on disk.
    assert!(Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap().success());
    let status = server.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let report = vigil::verify::verify_data_dir(&dir.path().join("data"), &keys.log.verifier()).unwrap();
    assert_eq!(report.size, 5);
}
