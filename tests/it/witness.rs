//! Witnesses on loopback: the real `vigil witness` (C2SP tlog-witness) and the real `vigil
//! serve` collecting cosignatures; forks, rollbacks and bad requests refused with the spec's
//! statuses and evidence kept; a dead witness never stops appends.

use crate::serve::{request, Server};
use crate::support::*;
use base64::prelude::{Engine as _, BASE64_STANDARD};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use vigil_core::checkpoint::{self, Checkpoint, CosignatureVerifier};
use vigil_core::hash::Digest;
use vigil_core::keys::SignerKey;
use vigil_core::merkle::{leaf_hash, MemoryTiles, TileTree};
use vigil_core::witness::{accept_cosignatures, verify_witnessed, AddCheckpoint, Policy};

/// A real `vigil witness` process (killed on drop).
struct WitnessProc {
    child: std::process::Child,
    url: String,
}

impl WitnessProc {
    /// Starts a witness with key file `key`, witnessing the log whose vkey file is `log_vkey`,
    /// its store in `data` (created, `--init`, when there is none yet), on `port`.
    fn start(key: &Path, log_vkey: &Path, data: &Path, port: u16) -> WitnessProc {
        Self::start_with(key, log_vkey, data, port, &[])
    }

    /// [`WitnessProc::start`], with more arguments.
    fn start_with(key: &Path, log_vkey: &Path, data: &Path, port: u16, more: &[&str]) -> WitnessProc {
        let mut child = Command::new(vigil_bin())
            .args(if data.exists() { &["witness"][..] } else { &["witness", "--init"][..] })
            .args(more)
            .arg("--key")
            .arg(key)
            .arg("--log-key")
            .arg(log_vkey)
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("the witness prints where it listens").unwrap();
        assert!(first.contains(&format!("127.0.0.1:{port}/add-checkpoint")), "{first}");
        std::thread::spawn(move || lines.for_each(drop));
        WitnessProc { child, url: format!("http://127.0.0.1:{port}") }
    }

    fn post(&self, body: &[u8]) -> (u16, String, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut res = agent.post(&format!("{}/add-checkpoint", self.url)).send(body).unwrap();
        let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        (res.status().as_u16(), ct, res.body_mut().read_to_string().unwrap())
    }

    fn get(&self, path: &str) -> serde_json::Value {
        let (status, body) = request("GET", &format!("{}{path}", self.url), "text/plain", vec![]);
        assert_eq!(status, 200, "{path}");
        serde_json::from_slice(&body).unwrap()
    }

    /// Every record of a paged read (`path` has a `?`), `limit` a page, following `next_after`;
    /// and how many records each page had.
    fn walk(&self, path: &str, limit: usize) -> (Vec<serde_json::Value>, Vec<usize>) {
        let (mut records, mut pages, mut after) = (Vec::new(), Vec::new(), String::new());
        loop {
            let page = self.get(&format!("{path}&limit={limit}{after}"));
            let got = page["records"].as_array().unwrap();
            pages.push(got.len());
            assert!(pages.len() < 100, "{path}: the pages do not end: {pages:?}");
            records.extend(got.iter().cloned());
            match page["next_after"].as_str() {
                Some(next) => after = format!("&after={next}"),
                None => return (records, pages),
            }
        }
    }
}

impl Drop for WitnessProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a witness key pair into `dir`: `<stem>.key` and the cosigner `<stem>.vkey`.
fn witness_key(dir: &Path, stem: &str, seed: u8) -> (SignerKey, PathBuf, PathBuf) {
    let k = key(&format!("{stem}.example"), seed);
    let (kp, vp) = (dir.join(format!("{stem}.key")), dir.join(format!("{stem}.vkey")));
    std::fs::write(&kp, k.to_skey()).unwrap();
    std::fs::write(&vp, CosignatureVerifier::from_signer(&k).to_vkey()).unwrap();
    (k, kp, vp)
}

/// A branch of a log with `n` leaves: its tree and tiles (for proofs) and checkpoint.
fn branch(n: u64, salt: u8) -> (TileTree, MemoryTiles, Checkpoint) {
    let mut tree = TileTree::new();
    let mut tiles = MemoryTiles::default();
    let leaves: Vec<Digest> = (0..n).map(|i| leaf_hash(&[salt, i as u8, (i >> 8) as u8])).collect();
    tiles.store(tree.append(&leaves));
    let root = tree.root(n, &tiles).unwrap();
    (tree, tiles, Checkpoint::new("test.example/log", n, root))
}

fn body(old: u64, proof: Vec<Digest>, cp: &Checkpoint, log: &SignerKey) -> Vec<u8> {
    AddCheckpoint { old_size: old, proof, checkpoint: checkpoint::sign(cp, log, 1_700_000_000).unwrap() }.to_bytes()
}

/// Every refusal C2SP tlog-witness defines, against the real `vigil witness`: each gets its
/// status; forks, inconsistent proofs and rollbacks are kept as evidence; the state survives
/// a restart; concurrent requests from one state: exactly one wins.
#[test]
fn a_witness_follows_one_history_and_keeps_evidence_of_forks_and_rollbacks() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    let log_vkey = dir.path().join("log.vkey");
    std::fs::write(&log_vkey, keys.log.verifier().to_vkey()).unwrap();
    let (wk, wkey, _) = witness_key(dir.path(), "w1", 91);
    let data = dir.path().join("w1-data");
    let port = free_port();
    let w = WitnessProc::start(&wkey, &log_vkey, &data, port);
    let cosigner = CosignatureVerifier::from_signer(&wk);

    let (a9, m9, cp9) = branch(9, 0);
    let (_, _, cp5) = branch(5, 0);
    let (_, _, fork5) = branch(5, 1);
    let (_, _, fork9) = branch(9, 1);
    let proof_5_9 = a9.consistency_proof(5, 9, &m9).unwrap().hashes;
    let log = &keys.log;

    // First contact: old 0. The answer is a cosignature line the log can verify.
    let first = body(0, vec![], &cp5, log);
    let (status, ct, line) = w.post(&first);
    assert_eq!(status, 200, "{line}");
    assert!(ct.starts_with("text/plain"), "{ct}");
    let note = AddCheckpoint::parse(&first).unwrap().checkpoint;
    let mut cosigned = note.clone();
    cosigned.extend(accept_cosignatures(&note, line.as_bytes(), &cosigner).unwrap());
    let policy = Policy::new(vec![cosigner.clone()], 1).unwrap();
    let witnessed = verify_witnessed(&cosigned, &log.verifier(), &policy).unwrap();
    assert_eq!(witnessed.cosigned[0].witness, "w1.example");

    let stranger = key("test.example/log", 99); // the origin's name, another key
    let mut too_many = b"old 5\n".to_vec();
    for _ in 0..64 {
        too_many.extend_from_slice(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
    }
    too_many.extend_from_slice(b"\n");
    too_many.extend_from_slice(&checkpoint::sign(&cp9, log, 1).unwrap());
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("stale old size", body(0, vec![], &cp9, log), 409, "5\n"),
        // With `old` wrong too: still kept as the fork it proves.
        ("a fork at the same size", body(0, vec![], &fork5, log), 409, "5\n"),
        // With a proof: the roots are compared first.
        ("a fork at the same size, with a proof", body(5, vec![Digest([1; 32])], &fork5, log), 409, "5\n"),
        ("a fork at a larger size", body(5, proof_5_9.clone(), &fork9, log), 422, "does not verify"),
        ("old above the checkpoint", body(9, vec![], &cp5, log), 400, "larger than the checkpoint"),
        ("signed by another key", body(5, proof_5_9.clone(), &cp9, &stranger), 403, "not signed"),
        (
            "an unknown origin",
            body(0, vec![], &Checkpoint::new("other.example/log", 1, Digest([1; 32])), &key("other.example/log", 5)),
            404,
            "unknown log origin",
        ),
        ("malformed", b"old five\n\nx".to_vec(), 400, "decimal"),
        ("more than 63 proof lines", too_many, 400, "63"),
        ("too large", vec![b'a'; 70 * 1024], 413, ""),
    ];
    for (what, req, want, says) in cases {
        let (status, ct, text) = w.post(&req);
        assert_eq!(status, want, "{what}: {text}");
        assert!(text.contains(says), "{what}: {text:?}");
        if status == 409 {
            assert_eq!(ct, "text/x.tlog.size", "{what}");
        }
    }
    // The real extension is cosigned. The request's note also carries lines anyone could add:
    // another key's, and a forged one under this witness's own name and id, ahead of where its
    // real line goes. The note the witness keeps has the log's lines and its own only, so it
    // still verifies.
    let mut note9 = checkpoint::sign(&cp9, log, 1_700_000_000).unwrap();
    let forged = [cosigner.id().to_be_bytes().as_slice(), &[0u8; 72]].concat();
    for line in [
        format!("— someone.example {}\n", BASE64_STANDARD.encode([7u8; 68])),
        format!("— w1.example {}\n", BASE64_STANDARD.encode(&forged)),
    ] {
        note9.extend_from_slice(line.as_bytes());
    }
    let (status, _, text) = w.post(&AddCheckpoint { old_size: 5, proof: proof_5_9, checkpoint: note9 }.to_bytes());
    assert_eq!(status, 200, "{text}");
    let kept = w.get("/v1/cosigned?origin=test.example/log")["records"][1]["checkpoint"].as_str().unwrap().to_string();
    assert!(!kept.contains("someone.example"), "{kept}");
    assert_eq!(verify_witnessed(kept.as_bytes(), &log.verifier(), &policy).unwrap().signed.checkpoint, cp9);
    // The same checkpoint again: cosigned again.
    let (status, _, line) = w.post(&body(9, vec![], &cp9, log));
    assert_eq!(status, 200, "{line}");
    let note = checkpoint::sign(&cp9, log, 1_700_000_000).unwrap();
    accept_cosignatures(&note, line.as_bytes(), &cosigner).unwrap();
    // The same size and root with an extension line is another message: cosigned, and kept.
    let extended = Checkpoint { extensions: vec!["test-extension 1".into()], ..cp9.clone() };
    let (status, _, line) = w.post(&body(9, vec![], &extended, log));
    assert_eq!(status, 200, "{line}");
    accept_cosignatures(&checkpoint::sign(&extended, log, 1_700_000_000).unwrap(), line.as_bytes(), &cosigner).unwrap();
    // A rolled-back log: a smaller checkpoint after the witness saw 9.
    let (status, _, text) = w.post(&body(5, vec![], &cp5, log));
    assert_eq!(status, 409, "{text}");
    assert_eq!(text, "9\n");

    // Evidence: each refused log-signed checkpoint that contradicts the history, with the
    // checkpoint the witness had cosigned; both verify with the log's key.
    let evidence = w.get("/v1/evidence")["records"].clone();
    let reasons: Vec<&str> = evidence.as_array().unwrap().iter().map(|e| e["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["fork", "inconsistent", "rollback"], "{evidence:#}");
    assert_eq!(w.walk("/v1/evidence?", 2), (evidence.as_array().unwrap().clone(), vec![2, 1]));
    for e in evidence.as_array().unwrap() {
        let req = AddCheckpoint::parse(e["request"].as_str().unwrap().as_bytes()).unwrap();
        checkpoint::verify(&req.checkpoint, &log.verifier()).unwrap();
        verify_witnessed(e["cosigned"].as_str().unwrap().as_bytes(), &log.verifier(), &policy).unwrap();
    }
    // Every cosigned checkpoint is kept.
    let history = w.get("/v1/cosigned?origin=test.example/log");
    let sizes: Vec<u64> = history["records"].as_array().unwrap().iter().map(|c| c["size"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [5, 9, 9]);
    let last = history["records"][2]["checkpoint"].as_str().unwrap();
    assert_eq!(verify_witnessed(last.as_bytes(), &log.verifier(), &policy).unwrap().signed.checkpoint, extended);
    assert_eq!(history["next_after"], serde_json::Value::Null);
    // Paged: one a page, each page after the last record of the one before.
    let (records, pages) = w.walk("/v1/cosigned?origin=test.example/log", 1);
    assert_eq!((&records[..], pages), (history["records"].as_array().unwrap().as_slice(), vec![1, 1, 1]));
    // A bad query is a 400 that says what is wrong.
    for (query, says) in [
        ("/v1/cosigned", "origin"),
        ("/v1/cosigned?origin=test.example/log&limit=0", "limit must be 1 to 1000"),
        ("/v1/cosigned?origin=test.example/log&limit=1001", "limit must be 1 to 1000"),
        ("/v1/cosigned?origin=test.example/log&after=5", "two numbers as A.B"),
        ("/v1/cosigned?origin=test.example/log&after=5.-1", "two numbers as A.B"),
        ("/v1/evidence?limit=many", "limit: invalid digit"),
    ] {
        let (status, body) = request("GET", &format!("{}{query}", w.url), "text/plain", vec![]);
        let body = String::from_utf8_lossy(&body);
        assert!(status == 400 && body.contains(says), "{query}: {status} {body}");
    }
    // An origin this witness does not witness (a known one with a byte more, too) is a 404.
    for origin in ["other.example/log", "test.example/log%00", "test.example/lo"] {
        let (status, body) = request("GET", &format!("{}/v1/cosigned?origin={origin}", w.url), "text/plain", vec![]);
        assert_eq!((status, String::from_utf8_lossy(&body).as_ref()), (404, "unknown origin\n"), "{origin}");
    }
    // Where a monitor that has read everything goes on from later: each record's cursor.
    let last_cosigned = history["records"][2]["cursor"].as_str().unwrap().to_string();
    let last_evidence = evidence[2]["cursor"].as_str().unwrap().to_string();

    // The state is durable: after a restart the witness still knows size 9.
    drop(w);
    let w = WitnessProc::start(&wkey, &log_vkey, &data, port);
    let (status, _, text) = w.post(&body(0, vec![], &cp9, log));
    assert_eq!((status, text.as_str()), (409, "9\n"));

    // Check-and-update is atomic: from size 9, eight extensions at once; exactly one wins.
    let (big, mbig, _) = branch(40, 0);
    let w = std::sync::Arc::new(w);
    let handles: Vec<_> = (0..8u64)
        .map(|i| {
            let size = 10 + i * 3;
            let root = big.root(size, &mbig).unwrap();
            let req = body(
                9,
                big.consistency_proof(9, size, &mbig).unwrap().hashes,
                &Checkpoint::new("test.example/log", size, root),
                log,
            );
            let w = w.clone();
            std::thread::spawn(move || w.post(&req).0)
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 409).count(), 7, "{statuses:?}");
    // Read on from the cursors kept before the restart: only what is new. The winner's
    // checkpoint; and each loser smaller than it is a rollback, kept as evidence after the
    // others although the witness restarted since (its evidence keys only grow).
    let new = w.get(&format!("/v1/cosigned?origin=test.example/log&after={last_cosigned}"))["records"].clone();
    let won: Vec<u64> = new.as_array().unwrap().iter().map(|c| c["size"].as_u64().unwrap()).collect();
    assert!(won.len() == 1 && (10..=31).contains(&won[0]), "{new:#}");
    let new = w.get(&format!("/v1/evidence?after={last_evidence}"))["records"].clone();
    let reasons: Vec<&str> = new.as_array().unwrap().iter().map(|e| e["reason"].as_str().unwrap()).collect();
    let smaller = (0..8u64).map(|i| 10 + i * 3).filter(|&s| s < won[0]).count();
    assert_eq!(reasons, vec!["rollback"; smaller], "{new:#}");
    // Replayed after the witness moved on, a rollback kept before adds no record: at most one
    // per checkpoint the log signed, however often anyone replays them.
    assert_eq!(w.post(&body(5, vec![], &cp5, log)).0, 409);
    // A new one, padded with lines of keys the witness does not know, is kept as read:
    // without them.
    let (_, _, cp7) = branch(7, 0);
    let mut padded = checkpoint::sign(&cp7, log, 1).unwrap();
    for i in 0..50 {
        padded.extend_from_slice(format!("— pad{i}.example {}\n", BASE64_STANDARD.encode([7u8; 68])).as_bytes());
    }
    let (status, _, text) = w.post(&AddCheckpoint { old_size: 0, proof: vec![], checkpoint: padded }.to_bytes());
    assert_eq!(status, 409, "{text}");
    let new = w.get(&format!("/v1/evidence?after={last_evidence}"))["records"].clone();
    let new = new.as_array().unwrap();
    assert_eq!(new.len(), smaller + 1, "{new:#?}");
    let kept = new[smaller]["request"].as_str().unwrap();
    assert!(!kept.contains("pad0.example"), "{kept}");
    let read = AddCheckpoint::parse(kept.as_bytes()).unwrap();
    assert_eq!(checkpoint::verify(&read.checkpoint, &log.verifier()).unwrap().checkpoint, cp7);

    // A store is made only when asked, and answers to one key: a witness that lost its store
    // must not start over (it could cosign a fork), and --init over a store is refused.
    drop(w);
    let (_, other_key, _) = witness_key(dir.path(), "w2", 92);
    let lost = dir.path().join("lost-data");
    let (log_vkey, wkey, other_key) = (log_vkey.to_str().unwrap(), wkey.to_str().unwrap(), other_key.to_str().unwrap());
    let (data, lost_s) = (data.to_str().unwrap(), lost.to_str().unwrap());
    // An address already taken: a witness that opened its store after all fails to listen and
    // exits, rather than serving (and the test waiting on it).
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = held.local_addr().unwrap().to_string();
    for (key, store, init, says) in [
        (wkey, lost_s, false, "no witness store at"),
        (wkey, data, true, "already holds a witness store"),
        (other_key, data, false, "belongs to the witness key"),
    ] {
        let mut args = vec!["witness", "--key", key, "--log-key", log_vkey, "--data-dir", store, "--listen", &taken];
        if init {
            args.push("--init");
        }
        let (code, _, err) = vigil(&args);
        assert!(code != 0 && err.contains(says), "{args:?}: {code} {err}");
    }
    assert!(!lost.exists(), "a missing store was created");
}

/// Evidence keys only grow: with the clock stepped back, and after a reopen within the same
/// millisecond, a record written later is read after those before it and overwrites none, so a
/// monitor paging on from a cursor misses nothing. In process, with a clock the test sets (a
/// system clock stepping back cannot be made for real here).
#[test]
fn evidence_stays_in_order_when_the_clock_steps_back() {
    use std::sync::atomic::Ordering;
    use vigil::witness::{Cursor, Witness};
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    let log = &keys.log;
    let clock = std::sync::Arc::new(FixedClock::at(2_000_000_000_000));
    let open = |init, log: &SignerKey| {
        Witness::open(dir.path(), key("w.example", 92), vec![log.verifier()], clock.clone(), init).unwrap()
    };
    let mut w = open(true, log);
    w.add_checkpoint(&body(0, vec![], &branch(9, 0).2, log)).unwrap();
    // Each a rollback (smaller than the 9 cosigned), each kept: another pair of checkpoints.
    let rollback = |w: &Witness, n: u64| w.add_checkpoint(&body(0, vec![], &branch(n, 0).2, log)).unwrap_err();
    rollback(&w, 1);
    clock.0.fetch_sub(60_000, Ordering::SeqCst);
    rollback(&w, 2);
    drop(w);
    w = open(false, log);
    rollback(&w, 3);
    rollback(&w, 4);
    let sizes = |after: Option<Cursor>| -> Vec<u64> {
        let page = w.evidence(after, 1000).unwrap();
        let refused = |e: &vigil::witness::Evidence| AddCheckpoint::parse(e.request.as_bytes()).unwrap();
        page.records
            .iter()
            .map(|p| checkpoint::verify(&refused(&p.record).checkpoint, &log.verifier()).unwrap().checkpoint.size)
            .collect()
    };
    assert_eq!(sizes(None), [1, 2, 3, 4]);
    // The clock is a minute behind the cosignature of 9: the one of 12 is not dated earlier.
    let (a12, m12, cp12) = branch(12, 0);
    let line = w.add_checkpoint(&body(9, a12.consistency_proof(9, 12, &m12).unwrap().hashes, &cp12, log)).unwrap();
    let stamp = |line: &[u8]| {
        let sig =
            BASE64_STANDARD.decode(std::str::from_utf8(line).unwrap().trim().rsplit(' ').next().unwrap()).unwrap();
        vigil_core::checkpoint::cosignature_timestamp(&sig[4..]).unwrap()
    };
    assert_eq!(stamp(&line), 2_000_000_000, "the cosignature of 9 was at 2,000,000,000 s");
    // Sent again within the minute: the same cosignature, dated as the one kept (a later date
    // handed out but not kept could be undercut after a clock step).
    // And nothing is written for it: a synced write anyone could repeat at will (the store's
    // write-ahead log does not grow).
    clock.0.fetch_add(119_000, Ordering::SeqCst);
    // (The store is the folder itself: RocksDB's `*.log` files are its write-ahead log.)
    let wal = || -> u64 {
        std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
            .map(|e| e.metadata().unwrap().len())
            .sum()
    };
    let before = wal();
    assert!(before > 0, "the witness's store keeps a write-ahead log under its folder");
    assert_eq!(w.add_checkpoint(&body(12, vec![], &cp12, log)).unwrap(), line);
    assert_eq!(wal(), before, "a repeat wrote to the store");
    // A minute or more after its cosignature: cosigned anew, dated now, and kept as the latest
    // (once: a repeat right after gets that one), but no second record of 12 in the history.
    let records = || w.cosigned(&log.key_ref.name, None, 1000).unwrap().unwrap().records.len();
    let recorded = records();
    clock.0.fetch_add(2_000, Ordering::SeqCst);
    let anew = w.add_checkpoint(&body(12, vec![], &cp12, log)).unwrap();
    assert_eq!(stamp(&anew), 2_000_000_061, "dated now");
    assert!(wal() > before, "a cosignature handed out is kept");
    assert_eq!(w.add_checkpoint(&body(12, vec![], &cp12, log)).unwrap(), anew);
    assert_eq!(records(), recorded, "a refresh is not another record");
    let cursors: Vec<Cursor> =
        w.evidence(None, 1000).unwrap().records.iter().map(|p| p.cursor.parse().unwrap()).collect();
    for (i, c) in cursors.iter().enumerate() {
        assert_eq!(sizes(Some(*c)), (i as u64 + 2..=4).collect::<Vec<_>>(), "after {c:?}");
    }
    // The log's key replaced (same origin), the clock ten minutes back: 13, signed by the new
    // key, is still not dated before the last cosignature of 12 (kept under the old key).
    drop(w);
    let new_log = key(&log.key_ref.name, 77);
    let w = open(false, &new_log);
    clock.0.fetch_sub(600_000, Ordering::SeqCst);
    let (a13, m13, cp13) = branch(13, 0);
    let proof = a13.consistency_proof(12, 13, &m13).unwrap().hashes;
    assert_eq!(stamp(&w.add_checkpoint(&body(12, proof, &cp13, &new_log)).unwrap()), 2_000_000_061);
}

fn served(server: &Server) -> Vec<u8> {
    let (status, note) = request("GET", &format!("{}/checkpoint", server.public), "text/plain", vec![]);
    assert_eq!(status, 200);
    note
}

/// Waits until the served checkpoint, verified with `policy`, has at least `size` entries.
fn wait_witnessed(server: &Server, policy: &Policy, size: u64) -> vigil_core::witness::Witnessed {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let note = served(server);
        match verify_witnessed(&note, &server.keys.log.verifier(), policy) {
            Ok(w) if w.signed.checkpoint.size >= size => return w,
            other => {
                assert!(std::time::Instant::now() < deadline, "no witnessed checkpoint of {size} entries: {other:?}")
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Two real witnesses of the test log on loopback, `w1.example` and `w2.example` (key files
/// `w1.*`, `w2.*` and stores `w1-data`, `w2-data` in the log's folder), started with `args`.
struct Pair {
    w1: WitnessProc,
    w2: WitnessProc,
    /// Both must cosign.
    both: Policy,
    /// The log's settings for them, after the `settings` given.
    config: String,
    /// Their cosigner key files.
    vkeys: [std::path::PathBuf; 2],
    /// What starts `w2` again: its key file, the log's vkey file, its port.
    key2: std::path::PathBuf,
    log_vkey: std::path::PathBuf,
    p2: u16,
}

impl Pair {
    fn start(dir: &Path, args: &[&str], settings: &str) -> Pair {
        let log_vkey = dir.join("log.vkey");
        std::fs::write(&log_vkey, Keys::new().log.verifier().to_vkey()).unwrap();
        let (k1, key1, vkey1) = witness_key(dir, "w1", 91);
        let (k2, key2, vkey2) = witness_key(dir, "w2", 92);
        let (p1, p2) = (free_port(), free_port());
        let w1 = WitnessProc::start_with(&key1, &log_vkey, &dir.join("w1-data"), p1, args);
        let w2 = WitnessProc::start_with(&key2, &log_vkey, &dir.join("w2-data"), p2, args);
        let config = format!(
            "{settings}[[witnesses]]\nurl = \"http://127.0.0.1:{p1}\"\nvkey = \"w1.vkey\"\n\
             [[witnesses]]\nurl = \"http://127.0.0.1:{p2}\"\nvkey = \"w2.vkey\"\n"
        );
        let both =
            Policy::new(vec![CosignatureVerifier::from_signer(&k1), CosignatureVerifier::from_signer(&k2)], 2).unwrap();
        Pair { w1, w2, both, config, vkeys: [vkey1, vkey2], key2, log_vkey, p2 }
    }
}

/// The log with two witnesses on loopback: it serves checkpoints cosigned by both, which
/// `vigil verify` accepts under the policy and refuses under a stricter one; with a witness
/// down, appends go on and the served checkpoint stays the last one both cosigned; once the
/// witness is back, both cosign the grown log.
#[test]
fn the_log_collects_cosignatures_and_a_dead_witness_never_stops_appends() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), &[], "witness_quorum = 2\n");
    let (w1, w2, both, extra) = (pair.w1, pair.w2, pair.both, pair.config);
    let [vkey1, vkey2] = pair.vkeys;
    let (_, _, vkey3) = witness_key(dir.path(), "w3", 93);
    let server = Server::start_in(dir, &extra);

    let receipts = server.append("risk", &alarm_lines(0, 4));
    let size = receipts.last().unwrap()["seq"].as_u64().unwrap() + 1;
    let w = wait_witnessed(&server, &both, size);
    assert_eq!(w.cosigned.iter().map(|c| c.witness.as_str()).collect::<Vec<_>>(), ["w1.example", "w2.example"]);

    // `vigil verify` with the policy; a stricter one (a third witness required) is refused.
    let log_arg = server.dir.path().join("log.vkey");
    let verify = |extra: &[&Path], quorum: Option<&str>| {
        let mut cmd = Command::new(vigil_bin());
        cmd.args(["verify", "--url", &server.public, "--log-key"]).arg(&log_arg);
        for w in extra {
            cmd.arg("--witness").arg(w);
        }
        if let Some(q) = quorum {
            cmd.args(["--quorum", q]);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, out) = verify(&[&vkey1, &vkey2], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("cosigned by 2 of the required 2"), "{out}");
    let (code, out) = verify(&[&vkey1, &vkey2, &vkey3], Some("3"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not witnessed: 2 of the 3") && out.contains("w3.example"), "{out}");
    let (code, out) = verify(&[&vkey1, &vkey3], Some("2"));
    assert_eq!(code, 1, "{out}");

    // A witness dies: appends are acknowledged as before, but the served checkpoint stays the
    // last one both cosigned.
    let before = served(&server);
    drop(w2);
    let more = server.append("risk", &alarm_lines(4, 6));
    let grown = more.last().unwrap()["seq"].as_u64().unwrap() + 1;
    assert!(grown > size);
    // Witness 1 cosigns the grown log: a round ran since the appends, without reaching quorum.
    wait_until("witness 1 cosigns the grown log", || w1.get("/v1/logs")[0]["size"].as_u64().unwrap() >= grown);
    let still = verify_witnessed(&served(&server), &server.keys.log.verifier(), &both).unwrap();
    assert!(still.signed.checkpoint.size < grown, "a checkpoint without w2's cosignature was served as witnessed");
    assert_eq!(served(&server), before);
    // The log restarts while w2 is still down: it serves the witnessed checkpoint it kept, not
    // its unwitnessed head (which every client with a policy would refuse).
    let server = Server::start_in(server.stop(), &extra);
    assert_eq!(String::from_utf8_lossy(&served(&server)), String::from_utf8_lossy(&before), "after a restart");
    // Proofs asked without a size are to the served checkpoint, not to the log's head past it.
    let cp = still.signed.checkpoint;
    for (path, want) in [
        (
            format!("/v1/proofs/inclusion?seq={}", cp.size - 1),
            serde_json::json!({"tree_size": cp.size, "index": cp.size - 1}),
        ),
        ("/v1/proofs/consistency?from=1".into(), serde_json::json!({"old_size": 1, "new_size": cp.size})),
    ] {
        let (status, body) = request("GET", &format!("{}{path}", server.public), "", vec![]);
        assert_eq!(status, 200, "{path}");
        let got: serde_json::Value = serde_json::from_slice(&body).unwrap();
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&got[k], v, "{path}: {got}");
        }
    }

    // The witness comes back (its store kept its state): both cosign the grown log.
    let _w2 = WitnessProc::start(&pair.key2, &pair.log_vkey, &server.dir.path().join("w2-data"), pair.p2);
    let w = wait_witnessed(&server, &both, grown);
    assert_eq!(w.cosigned.len(), 2);

    // A fork: a second log under the same key, with entries of its own, sends its checkpoints
    // to the same witnesses. They refuse it and keep the evidence; it is never served witnessed.
    let fork_dir = tempfile::tempdir().unwrap();
    for f in ["w1.vkey", "w2.vkey"] {
        std::fs::copy(server.dir.path().join(f), fork_dir.path().join(f)).unwrap();
    }
    let fork = Server::start_in(fork_dir, &extra);
    let fork_size = fork.append("risk", &alarm_lines(100, 40)).last().unwrap()["seq"].as_u64().unwrap() + 1;
    assert!(fork_size > grown, "the fork is longer, so the witnesses get a consistency proof");
    let inconsistent = |e: &serde_json::Value| e["reason"] == "inconsistent";
    wait_until("witness 1 keeps the fork's request", || {
        w1.get("/v1/evidence")["records"].as_array().unwrap().iter().any(inconsistent)
    });
    match verify_witnessed(&served(&fork), &fork.keys.log.verifier(), &both) {
        Err(checkpoint::CheckpointError::NotWitnessed { have: 0, .. }) => {}
        other => panic!("the fork was witnessed: {other:?}"),
    }
    let evidence = w1.get("/v1/evidence")["records"].clone();
    let e = evidence.as_array().unwrap().iter().find(|e| inconsistent(e)).unwrap();
    assert_eq!(e["status"], 422, "{e:#}");
    // The evidence is two log-signed checkpoints that are not one history: the refused one and
    // the one the witness had cosigned.
    let refused = AddCheckpoint::parse(e["request"].as_str().unwrap().as_bytes()).unwrap();
    let theirs = checkpoint::verify(&refused.checkpoint, &server.keys.log.verifier()).unwrap().checkpoint;
    let ours =
        verify_witnessed(e["cosigned"].as_str().unwrap().as_bytes(), &server.keys.log.verifier(), &Policy::none())
            .unwrap()
            .signed
            .checkpoint;
    assert!(theirs.size > ours.size && ours.size >= grown, "{theirs:?} {ours:?}");
    // The real log is still witnessed as before.
    verify_witnessed(&served(&server), &server.keys.log.verifier(), &both).unwrap();
}

/// A log that does not grow sends its checkpoint to the witnesses again every
/// `witness_refresh_ms`, and they cosign it anew once their `--cosign-again-after-s` has
/// passed: the served checkpoint keeps its size and root, with newer cosignatures (their
/// timestamps are what tell a reader the view is current); a restart serves the fresher one
/// it kept.
#[test]
fn a_quiet_log_is_cosigned_again() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), &["--cosign-again-after-s", "1"], "witness_refresh_ms = 1000\n");
    let (both, extra) = (&pair.both, &pair.config);
    let server = Server::start_in(dir, extra);
    let receipts = server.append("risk", &alarm_lines(0, 2));
    let size = receipts.last().unwrap()["seq"].as_u64().unwrap() + 1;
    let first = wait_witnessed(&server, both, size);
    let oldest = |w: &vigil_core::witness::Witnessed| w.cosigned.iter().map(|c| c.timestamp).min().unwrap();
    // Timestamps are whole seconds: both newer within a few refreshes.
    let mut fresh = first.clone();
    wait_until("both witnesses cosign the unchanged checkpoint anew", || {
        fresh = verify_witnessed(&served(&server), &server.keys.log.verifier(), both).unwrap();
        oldest(&fresh) > oldest(&first) + 1
    });
    assert_eq!(fresh.cosigned.len(), 2);
    assert_eq!((fresh.signed.checkpoint.size, fresh.signed.checkpoint.root), (size, first.signed.checkpoint.root));
    // Kept as it was served: a restart serves it (or a fresher one), never the first.
    let server = Server::start_in(server.stop(), extra);
    let kept = verify_witnessed(&served(&server), &server.keys.log.verifier(), both).unwrap();
    assert!(oldest(&kept) >= oldest(&fresh), "{kept:?}");
}

fn alarm_lines(from: usize, n: usize) -> Vec<&'static str> {
    (from..from + n)
        .map(|i| {
            &*Box::leak(
                format!("{{\"kind\":\"alarm\",\"rule\":\"r{i}\",\"severity\":\"low\",\"summary\":\"witnessed {i}\"}}")
                    .into_boxed_str(),
            )
        })
        .collect()
}

/// Each bad witness setting is refused naming the setting at fault.
#[test]
fn bad_witness_settings_name_the_setting() {
    use vigil::config::ConfigFiles;
    let dir = tempfile::tempdir().unwrap();
    let (_, _, v1) = witness_key(dir.path(), "w1", 91);
    let (_, _, v2) = witness_key(dir.path(), "w2", 92);
    // The same key as w1, under another name (one with "quorum" in it: the list is at fault,
    // whatever the names say).
    let twin = dir.path().join("twin.vkey");
    std::fs::write(&twin, CosignatureVerifier::from_signer(&key("quorum.example", 91)).to_vkey()).unwrap();
    let w = |url: &str, vkey: &Path| format!("[[witnesses]]\nurl = {url:?}\nvkey = {:?}\n", vkey.display().to_string());
    // The log's own key, in its cosigner form.
    let log = Keys::new().log;
    let log_key = dir.path().join("log.key").display().to_string();
    std::fs::write(&log_key, log.to_skey()).unwrap();
    let log_as_witness = dir.path().join("log-as-witness.vkey");
    std::fs::write(&log_as_witness, CosignatureVerifier::from_signer(&log).to_vkey()).unwrap();
    let ok = "http://127.0.0.1:9";
    // (configuration, what the error must say)
    let cases = [
        (format!("witness_quorum = 3\n{}{}", w(ok, &v1), w(ok, &v2)), "line 1: setting witness_quorum: a quorum of 3"),
        (format!("witness_quorum = 0\n{}", w(ok, &v1)), "line 1: setting witness_quorum: "),
        (format!("{}{}", w(ok, &v1), w(ok, &twin)), "setting witnesses: "),
        (w("127.0.0.1:9", &v1), "line 2: setting witnesses[0].url: \"127.0.0.1:9\" is not an http:// URL"),
        (w("https://w.example", &v1), "line 2: setting witnesses[0].url: \"https://w.example\" is not an http:// URL"),
        (
            format!("log_key = {log_key:?}\n{}{}", w(ok, &v1), w(ok, &log_as_witness)),
            "line 7: setting witnesses[1].vkey: the log's own key",
        ),
        (format!("{}{}", w(ok, &v1), w("ftp://w.example", &v2)), "line 5: setting witnesses[1].url"),
        (w(ok, &dir.path().join("none.vkey")), "line 3: setting witnesses[0].vkey"),
    ];
    for (text, want) in cases {
        let cfg = vigil_core::config::Config::parse(&text).unwrap();
        let e = format!("{:#}", cfg.witnessing().err().unwrap_or_else(|| panic!("accepted: {text}")));
        assert!(e.starts_with(want), "{text}\nwanted {want:?}, got: {e}");
    }
    let fine = vigil_core::config::Config::parse(&format!("{}{}", w(ok, &v1), w(ok, &v2))).unwrap();
    assert_eq!(fine.witnessing().unwrap().unwrap().policy().quorum(), 2);
}
