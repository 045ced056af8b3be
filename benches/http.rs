//! The servers over HTTP on loopback, each measured beside a baseline in the same run:
//!
//! 1. signed appends through `POST /v1/events` from concurrent clients (events/s, p50/p99
//!    latency from request to receipts) beside this machine's own Ed25519 batch-verification
//!    rate (batches of 64 on every core); then the same appends paced at half the target load,
//!    for the latency there;
//! 2. public reads (an inclusion proof, a full tile) under concurrent load with `wrk`, beside
//!    nginx serving a static file of the same bytes. Skipped (and said so) without `wrk` and
//!    `nginx` on the PATH: `apt-get install -y wrk nginx-light`.
//!
//! See BENCHMARKS.md for the command and the figures.

mod common;

use common::{arg, now_ms, own_thread_cpu_ns, percentile, process_cpu_secs, thread_cpu, thread_written, withdrawal};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil::client::sign_event;
use vigil::config::{Config, ServiceConfig};
use vigil::http::internal::Appended;
use vigil_core::event::EventKind;
use vigil_core::keys::SignerKey;
use vigil_core::statement::Submission;

/// The cores the verification baseline runs on.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Ed25519 batch verification under ZIP-215 (the rule the server applies) on every core:
/// signatures per second.
fn verification_rate(msgs: &[(Vec<u8>, [u8; 64], vigil_core::keys::VerifierKey)]) -> f64 {
    let threads = threads();
    let t = Instant::now();
    std::thread::scope(|s| {
        for part in msgs.chunks(msgs.len().div_ceil(threads)) {
            s.spawn(move || {
                for batch in part.chunks(64) {
                    let items = batch.iter().map(|(m, s, k)| (k, m.as_slice(), s));
                    assert!(vigil_core::statement::verify_batch(items, rand::thread_rng()));
                }
            });
        }
    });
    msgs.len() as f64 / t.elapsed().as_secs_f64()
}

struct Run {
    events_per_s: f64,
    /// CPU time of the whole process (server and clients) per event.
    cpu_us: f64,
    /// Of which the client threads' (building requests, reading receipts).
    client_cpu_us: f64,
    /// The server's CPU per event (µs) by thread name, the busiest first.
    server_threads: Vec<(String, f64)>,
    /// Bytes the server wrote (to files and sockets) per event, by thread name.
    written: Vec<(String, f64)>,
    p50: Duration,
    p99: Duration,
    /// Requests answered in more than 10 ms, and all requests.
    over_10ms: usize,
    requests: usize,
}

/// A request body ready to send (built before the clock starts, as signing is) and how many
/// events it holds.
struct Body {
    bytes: Vec<u8>,
    events: usize,
}

fn bodies(batches: Vec<Vec<Submission>>) -> Vec<Body> {
    batches.iter().map(|b| Body { bytes: serde_json::to_vec(b).unwrap(), events: b.len() }).collect()
}

/// One client's latencies, CPU seconds, and answers (with the events each request held).
type ClientRun = (Vec<Duration>, f64, Vec<(usize, Vec<u8>)>);

/// Posts `bodies` from `clients` threads; with `pace`, each client waits for its next slot
/// (open loop at that many requests per second in all). The clients are a load generator, as
/// `wrk` is: in the timed loop each sends its ready body and reads the answer whole (latency
/// ends with the last byte of the receipts); the answers are parsed and checked after the
/// clock stops (every event a new receipt, in order), so the clients' share of the two cores
/// is the HTTP exchange alone.
fn post_all(url: &str, bodies: Vec<Body>, clients: usize, pace: Option<f64>) -> Run {
    let events: usize = bodies.iter().map(|b| b.events).sum();
    // Popped from the end: reversed, so bodies go out in order (pacing slots ascend).
    let queue = Arc::new(std::sync::Mutex::new(bodies.into_iter().enumerate().rev().collect::<Vec<_>>()));
    let url = format!("{}/v1/events", url.trim_end_matches('/'));
    let cpu0 = process_cpu_secs();
    let threads0 = thread_cpu();
    let written0 = thread_written();
    let t0 = Instant::now();
    let results: Vec<ClientRun> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let (queue, url) = (queue.clone(), &url);
                s.spawn(move || {
                    let cpu0 = own_thread_cpu_ns();
                    let agent = vigil::client::agent(Duration::from_secs(60));
                    let (mut lat, mut answers) = (Vec::new(), Vec::new());
                    loop {
                        let Some((i, b)) = queue.lock().unwrap().pop() else { break };
                        // Paced, a request's latency runs from its slot, not from when its
                        // client got round to sending it: a slow answer that holds up the
                        // client's next requests counts against them too (no coordinated
                        // omission, as `wrk2` measures).
                        let t = match pace {
                            Some(rate) => {
                                let slot = t0 + Duration::from_secs_f64(i as f64 / rate);
                                if let Some(wait) = slot.checked_duration_since(Instant::now()) {
                                    std::thread::sleep(wait);
                                }
                                slot
                            }
                            None => Instant::now(),
                        };
                        let mut res =
                            agent.post(url).header("content-type", "application/json").send(&b.bytes[..]).unwrap();
                        let status = res.status().as_u16();
                        let answer = res.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap();
                        lat.push(t.elapsed());
                        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
                        answers.push((b.events, answer));
                    }
                    (lat, (own_thread_cpu_ns() - cpu0) as f64 / 1e9, answers)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let secs = t0.elapsed().as_secs_f64();
    let cpu_us = (process_cpu_secs() - cpu0) * 1e6 / events as f64;
    let client_cpu_us = results.iter().map(|r| r.1).sum::<f64>() * 1e6 / events as f64;
    // The client threads have ended, so the live threads are the server's and this one.
    // Each server thread's figure over the run, per event, the largest first.
    let per_event = |before: BTreeMap<String, u64>, after: BTreeMap<String, u64>, unit: f64, least: f64| {
        let mut v: Vec<(String, f64)> = after
            .into_iter()
            .map(|(name, n)| {
                let per = n.saturating_sub(before.get(&name).copied().unwrap_or(0)) as f64 / unit / events as f64;
                (name, per)
            })
            .filter(|(_, per)| *per >= least)
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    };
    let server_threads = per_event(threads0, thread_cpu(), 1e3, 0.05);
    let written = per_event(written0, thread_written(), 1.0, 1.0);
    let mut l = Vec::new();
    for (lat, _, answers) in results {
        l.extend(lat);
        for (n, answer) in answers {
            let a: Appended = serde_json::from_slice(&answer).expect("receipts");
            assert_eq!(a.receipts.len(), n, "one receipt per event");
            assert!(a.receipts.iter().all(|r| !r.duplicate), "every event is new");
            assert!(a.receipts.windows(2).all(|w| w[1].seq == w[0].seq + 1), "a batch is consecutive");
        }
    }
    l.sort();
    Run {
        events_per_s: events as f64 / secs,
        cpu_us,
        client_cpu_us,
        server_threads,
        written,
        p50: percentile(&l, 0.5),
        p99: percentile(&l, 0.99),
        over_10ms: l.iter().filter(|d| **d > Duration::from_millis(10)).count(),
        requests: l.len(),
    }
}

fn signed_batches(key: &SignerKey, from: usize, n: usize, batch: usize) -> Vec<Vec<Submission>> {
    let now = now_ms();
    (from..from + n)
        .collect::<Vec<_>>()
        .chunks(batch)
        .map(|c| {
            c.iter().map(|&i| sign_event(key, withdrawal("w", i as u64), &format!("h-{i}"), now).unwrap()).collect()
        })
        .collect()
}

fn start_server(dir: &Path, log: &SignerKey, operator: &SignerKey, svc: &SignerKey) -> (SocketAddr, SocketAddr) {
    for (name, k) in [("log", log), ("operator", operator), ("svc", svc)] {
        std::fs::write(dir.join(format!("{name}.key")), k.to_skey()).unwrap();
        std::fs::write(dir.join(format!("{name}.vkey")), k.verifier().to_vkey()).unwrap();
    }
    let mut cfg = Config {
        data_dir: dir.join("data"),
        log_key: dir.join("log.key"),
        operator_key: dir.join("operator.key"),
        services: vec![ServiceConfig { vkey: dir.join("svc.vkey"), kinds: vec![EventKind::Withdrawal] }],
        ..Config::default()
    };
    cfg.server.public = ([127, 0, 0, 1], 0).into();
    cfg.server.internal = ([127, 0, 0, 1], 0).into();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        rt.block_on(vigil::serve::serve(cfg, |p, i| tx.send((p, i)).unwrap())).unwrap();
    });
    rx.recv().unwrap()
}

/// `wrk` for `secs` seconds: requests per second.
fn wrk(url: &str, secs: u64) -> Option<f64> {
    let out = Command::new("wrk").args(["-t2", "-c32", &format!("-d{secs}s"), "--latency", url]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let non2xx = text.lines().find(|l| l.contains("Non-2xx"));
    assert!(non2xx.is_none(), "{url}: {text}");
    text.lines().find_map(|l| l.strip_prefix("Requests/sec:")).and_then(|v| v.trim().parse().ok())
}

fn fetch(url: &str) -> Vec<u8> {
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    agent.get(url).call().unwrap().body_mut().read_to_vec().unwrap()
}

fn main() {
    let events = arg("VIGIL_BENCH_EVENTS", 100_000usize);
    let rounds = arg("VIGIL_BENCH_ROUNDS", 5usize).max(1);
    let batch = arg("VIGIL_BENCH_BATCH", 64usize);
    let clients = arg("VIGIL_BENCH_CLIENTS", 32usize);
    let read_secs = arg("VIGIL_BENCH_READ_SECS", 5usize) as u64;
    // Enough paced requests (~1,900 of 64) that their p99 is not a handful of the worst.
    let paced_events = arg("VIGIL_BENCH_PACED", 120_000usize);
    println!("appends: {rounds} rounds of {events} events, batches of {batch}, {clients} clients");

    let log = SignerKey::from_seed("bench.example/log", [1; 32]).unwrap();
    let operator = SignerKey::from_seed("operator", [2; 32]).unwrap();
    let svc = SignerKey::from_seed("withdrawals", [3; 32]).unwrap();

    // The baseline: this machine's Ed25519 batch verification of the same statements.
    let sample = signed_batches(&svc, 10_000_000, 20_000, 64);
    let msgs: Vec<_> = sample
        .iter()
        .flatten()
        .map(|s| {
            let p = s.clone().parse().unwrap();
            (vigil_core::statement::signing_message(&p.bytes), p.signature, svc.verifier())
        })
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let (public, internal) = start_server(dir.path(), &log, &operator, &svc);
    let url = format!("http://{internal}");
    // Warm up (connections, first tiles), then the measured rounds; signing is not timed. Each
    // round measures the baseline right before its appends: the machine's speed drifts (CPU
    // steal), and a ratio of two phases seconds apart drifts less than one of phases minutes
    // apart. The median round is the figure.
    post_all(&url, bodies(signed_batches(&svc, 0, 2_000, batch)), clients, None);
    let mut ratios = Vec::new();
    let mut verify_rates = Vec::new();
    for round in 0..rounds {
        let batches = bodies(signed_batches(&svc, 100_000 + round * events, events, batch));
        let verify = verification_rate(&msgs);
        let full = post_all(&url, batches, clients, None);
        let ratio = full.events_per_s / verify;
        println!(
            "round {}: verification {verify:>7.0}/s ({:.1} µs CPU each) | appends {:>6.0} events/s, p50 {:>6.2?}, p99 {:>6.2?} per request | ratio {ratio:.2} | CPU per event: server {:.1} µs, clients {:.1} µs",
            round + 1,
            threads() as f64 * 1e6 / verify,
            full.events_per_s,
            full.p50,
            full.p99,
            full.cpu_us - full.client_cpu_us,
            full.client_cpu_us,
        );
        let show = |v: &[(String, f64)], digits: usize| {
            v.iter().map(|(n, x)| format!("{n} {x:.digits$}")).collect::<Vec<_>>().join(", ")
        };
        println!("  server CPU per event by thread (µs): {}", show(&full.server_threads, 1));
        println!("  bytes written per event by thread (WAL, flushes, answers): {}", show(&full.written, 0));
        ratios.push(ratio);
        verify_rates.push(verify);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let verify = median(&mut verify_rates);
    println!(
        "appends over HTTP, as fast as they go: median ratio to verification {:.2} (target 0.6)",
        median(&mut ratios)
    );
    if std::env::var_os("VIGIL_BENCH_METRICS").is_some() {
        let m = String::from_utf8(fetch(&format!("http://{public}/metrics"))).unwrap();
        for l in m.lines().filter(|l| l.starts_with("vigil_") && (l.contains("_sum") || l.contains("_count"))) {
            println!("  {l}");
        }
    }
    let half = 0.3 * verify;
    let paced = post_all(
        &url,
        bodies(signed_batches(&svc, 100_000 + rounds * events, paced_events, batch)),
        clients,
        Some(half / batch as f64),
    );
    println!(
        "appends paced at half the target ({:.0}/s, of the median verification rate): {:>6.0} events/s, p50 {:>6.2?}, p99 {:>6.2?} per request  (target p99 ≤ 10 ms); {} of {} requests over 10 ms",
        half, paced.events_per_s, paced.p50, paced.p99, paced.over_10ms, paced.requests
    );

    // Public reads beside nginx serving the same bytes.
    let (Ok(_), Ok(_)) = (Command::new("wrk").arg("--version").output(), Command::new("nginx").arg("-v").output())
    else {
        println!("public reads: skipped (needs wrk and nginx: apt-get install -y wrk nginx-light)");
        return;
    };
    let proof_url = format!("http://{public}/v1/proofs/inclusion?seq=12345");
    let tile_url = format!("http://{public}/tile/0/010");
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("proof.json"), fetch(&proof_url)).unwrap();
    std::fs::write(www.join("tile"), fetch(&tile_url)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes 2; daemon off; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
             server {{ listen 127.0.0.1:{port}; root {www}; }} }}\n",
            d = dir.path().display(),
            www = www.display()
        ),
    )
    .unwrap();
    let mut nginx = Command::new("nginx")
        .args(["-c"])
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    for (name, vigil_url, file) in [("inclusion proof", proof_url, "proof.json"), ("full tile", tile_url, "tile")] {
        let size = std::fs::metadata(www.join(file)).unwrap().len();
        let v = wrk(&vigil_url, read_secs).unwrap();
        let n = wrk(&format!("http://127.0.0.1:{port}/{file}"), read_secs).unwrap();
        println!(
            "public reads, {name} ({size} bytes): vigil {v:>9.0} req/s, nginx {n:>9.0} req/s, ratio {:.2} (target 0.5)",
            v / n
        );
    }
    // SIGTERM lets the master stop its workers (SIGKILL would orphan them).
    let _ = Command::new("kill").args(["-TERM", &nginx.id().to_string()]).status();
    let _ = nginx.wait();
}
