//! docs/FORMAT.md as a contract: `tests/independent/` is a verifier written in Python from
//! FORMAT.md (and the README's routes) alone, by someone who never read vigil's code. It must
//! verify what the real binary writes and serves — the export bundle, the public server read as
//! a tlog-tiles client (witness cosignatures, tiles, proofs), a user's proof of reserves — and
//! refuse a bundle with one byte changed. If this fails, either the code left FORMAT.md or the
//! document is wrong: fix the document (and the format version) with the code.

use crate::support::{vigil, RunningDemo};
use std::path::Path;
use std::process::Command;

/// Runs `python3 tests/independent/verify.py ARGS`; returns (success, stdout + stderr).
fn independent(args: &[&str]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/independent/verify.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 (with the blake3 module: ./scripts/test installs it)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn a_verifier_written_from_format_md_alone_verifies_what_vigil_writes_and_serves() {
    let demo = RunningDemo::start();
    let keys = RunningDemo::keys();
    let key = |name: &str| keys.join(name).to_str().unwrap().to_string();
    let log_key = key("vigil.example_audit-log.vkey");
    let bundle = demo.dir.path().join("log.bundle");
    let data = demo.data();
    let (code, _, err) = vigil(&["export", "--data-dir", data.to_str().unwrap(), "--out", bundle.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let bundle = bundle.to_str().unwrap().to_string();
    let (w1, w2) = (key("witness-1.example.vkey"), key("witness-2.example.vkey"));
    let (account, secret) = demo.record(3);
    let runs: Vec<Vec<&str>> = vec![
        vec!["kat"],
        vec!["bundle", &bundle, "--log-key", &log_key],
        vec!["negative", &bundle, "--log-key", &log_key],
        vec!["live", &demo.public, "--log-key", &log_key, "--witness", &w1, "--witness", &w2],
        vec![
            "reserves",
            &demo.public,
            "--log-key",
            &log_key,
            "--witness",
            &w1,
            "--witness",
            &w2,
            "--snapshot",
            "por-2019-05-08",
            "--account",
            &account,
            "--secret",
            &secret,
        ],
    ];
    // Pure-Python Ed25519 is slow (~12 s per pass over the demo log's signatures): in parallel.
    let results: Vec<(String, bool, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = runs.iter().map(|args| s.spawn(move || independent(args))).collect();
        runs.iter()
            .zip(handles)
            .map(|(args, h)| {
                let (ok, text) = h.join().unwrap();
                (args[0].to_string(), ok, text)
            })
            .collect()
    });
    for (cmd, ok, text) in &results {
        assert!(*ok && text.contains(&format!("== {cmd} PASS")), "the independent verifier's {cmd}:\n{text}");
    }
    // The negative run refused every one of its altered bundles.
    let negative = &results[2].2;
    assert!(negative.matches("rejected:").count() >= 8 && !negative.contains("ACCEPTED"), "{negative}");
    // And a wrong log key is refused.
    let (ok, text) = independent(&["bundle", &bundle, "--log-key", &key("witness-1.example.vkey")]);
    assert!(!ok && text.contains("REJECTED"), "{text}");
}
