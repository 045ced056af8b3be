//! The web page in headless Chromium, in real time: from page load to the demo incident's
//! timeline all verified, and one inclusion proof and one reserves proof checked by the page's
//! WebAssembly verifier (the page measures and logs them); beside them, in the same run, the
//! same two checks by the native core. Needs Chromium and `web/vigil.wasm` (`./scripts/test`
//! installs and builds both). See BENCHMARKS.md.

mod common;

use common::free_port;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let (pp, ip) = (free_port(), free_port());
    let mut demo = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["demo", "--every-ms", "3600000", "--data-dir"])
        .arg(dir.path().join("d"))
        .arg("--keys")
        .arg(repo.join("keys-example"))
        .args(["--public", &format!("127.0.0.1:{pp}"), "--internal", &format!("127.0.0.1:{ip}")])
        .args(["--witnesses", "127.0.0.1:0,127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    while !lines.next().expect("demo output").unwrap().contains("Ordinary traffic") {}
    let base = format!("http://127.0.0.1:{pp}");
    let (account, _, secret_hex) =
        vigil::demo::sample_record(&vigil::demo::reserves_dir_of(&dir.path().join("d"))).expect("the demo's records");

    let runs: usize = std::env::var("VIGIL_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    println!("page: {base} (demo log), {runs} loads in fresh profiles");
    for run in 0..runs {
        let profile = tempfile::tempdir().unwrap();
        let mut chromium = Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            .args(["--enable-logging=stderr", "--v=0"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("{base}/#account={account}&secret={secret_hex}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium");
        let err = BufReader::new(chromium.stderr.take().unwrap());
        let mut timings = None;
        for line in err.lines() {
            let line = line.unwrap();
            if let Some(at) = line.find("vigil-timings ") {
                let json = &line[at + 14..];
                let json = &json[..json.rfind('}').map_or(json.len(), |e| e + 1)];
                timings = Some(serde_json::from_str::<serde_json::Value>(json).unwrap());
                break;
            }
        }
        let _ = chromium.kill();
        let _ = chromium.wait();
        let t = timings.expect("the page logged its timings");
        println!(
            "run {run}: load to incident timeline verified {:.0} ms; in the browser: inclusion proof {:.3} ms, reserves proof {:.3} ms",
            t["incident_ms"].as_f64().unwrap_or(f64::NAN),
            t["inclusion_ms"].as_f64().unwrap_or(f64::NAN),
            t["reserves_ms"].as_f64().unwrap_or(f64::NAN),
        );
    }

    // The same checks by the native core, on the same data.
    let get = |path: &str| ureq::get(&format!("{base}/{path}")).call().unwrap().body_mut().read_to_vec().unwrap();
    let view: serde_json::Value =
        serde_json::from_slice(&get(&format!("v1/incidents/{}", vigil::demo::INCIDENT))).unwrap();
    let t0 = &view["timeline"][0];
    let bytes = hex::decode(t0["bytes"].as_str().unwrap()).unwrap();
    let proof: vigil_core::merkle::InclusionProof = serde_json::from_value(t0["inclusion_proof"].clone()).unwrap();
    let log_key = vigil::config::read_verifier(&repo.join("keys-example/vigil.example_audit-log.vkey")).unwrap();
    let cp =
        vigil_core::checkpoint::verify(view["checkpoint"].as_str().unwrap().as_bytes(), &log_key).unwrap().checkpoint;
    let n = 2000;
    let t = Instant::now();
    for _ in 0..n {
        let _ = vigil_core::entry::Entry::decode(&bytes).unwrap();
        proof.verify(&vigil_core::merkle::leaf_hash(&bytes), &cp.root).unwrap();
    }
    let native_inclusion = t.elapsed().as_secs_f64() * 1e3 / n as f64;
    let mut secret = [0u8; 32];
    hex::decode_to_slice(&secret_hex, &mut secret).unwrap();
    let rid = hex::encode(vigil_core::reserves::record_id(&secret));
    let pbytes = get(&format!("v1/reserves/por-2019-05-08/proof/{rid}"));
    let snap: serde_json::Value = serde_json::from_slice(&get("v1/reserves/por-2019-05-08")).unwrap();
    let (_, st) =
        vigil_core::entry::Entry::decode(&hex::decode(snap["entry"]["bytes"].as_str().unwrap()).unwrap()).unwrap();
    let vigil_core::event::Event::ReserveSnapshot(s) = st.event else { panic!("not a snapshot") };
    let t = Instant::now();
    for _ in 0..n {
        vigil_core::reserves::Proof::decode(&pbytes).unwrap().verify(&secret, &account, &s).unwrap();
    }
    let native_reserves = t.elapsed().as_secs_f64() * 1e3 / n as f64;
    println!(
        "native core, same data: inclusion proof {native_inclusion:.3} ms, reserves proof {native_reserves:.3} ms"
    );
    let _ = demo.kill();
    let _ = demo.wait();
}
