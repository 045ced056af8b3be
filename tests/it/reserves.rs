//! Proof of reserves: balances input, the tree built onto RocksDB, proofs served and verified,
//! the snapshot history in the log.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;
use vigil::reserves::{build, tree_dir, Tree};
use vigil_core::event::{AssetReserves, ReserveSnapshot};
use vigil_core::reserves::{record_id, Proof};

const SECRET: [u8; 32] = [9; 32];

fn assets(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The records file: account → secret.
fn records(path: &Path) -> Vec<(String, [u8; 32])> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("account,record_id,record_secret"));
    lines
        .map(|l| {
            // The account may be a quoted field with commas: the last two fields are hex.
            let f: Vec<&str> = l.rsplitn(3, ',').collect();
            let mut s = [0u8; 32];
            hex::decode_to_slice(f[0], &mut s).unwrap();
            assert_eq!(f[1], hex::encode(record_id(&s)), "record id derived from the secret");
            (f[2].to_string(), s)
        })
        .collect()
}

fn snapshot_of(meta: &vigil::reserves::TreeMeta) -> ReserveSnapshot {
    ReserveSnapshot {
        snapshot: meta.snapshot.clone(),
        cut_off_ms: 1,
        liabilities_root: meta.root.clone(),
        padded_size: meta.padded_size(),
        assets: meta
            .assets
            .iter()
            .zip(&meta.liabilities)
            .map(|(a, l)| AssetReserves {
                asset: a.clone(),
                liabilities: *l,
                reserves: *l,
                ratio: vigil_core::event::ratio(l.0, l.0),
            })
            .collect(),
        attestations: vec![0],
    }
}

/// Every account of trees of many shapes (one tile, exactly one tile, two and three tile
/// levels) gets a proof from the stored tree that verifies with its own secret and shows
/// exactly its input balances; the totals are the input's sums.
#[test]
fn every_account_proves_its_balances_in_trees_of_every_shape() {
    for n in [1u64, 2, 3, 16, 17, 300, 4097] {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("b.csv");
        let mut text = String::from("account,BTC,ETH\n");
        let mut want = std::collections::HashMap::new();
        let mut totals = [0u128; 2];
        for i in 0..n {
            let (btc, eth) = (i as u128 * 1_000 + 7, (i as u128 % 5) * 10u128.pow(20));
            text.push_str(&format!("acct-{i},{btc},{eth}\n"));
            want.insert(format!("acct-{i}"), vec![btc, eth]);
            totals[0] += btc;
            totals[1] += eth;
        }
        std::fs::write(&csv, text).unwrap();
        let out = dir.path().join("records.csv");
        let tdir = dir.path().join("tree");
        let built = build("s-1", &assets(&["BTC", "ETH"]), &SECRET, &csv, &out, &tdir, false).unwrap();
        assert_eq!(built.sums, totals.to_vec(), "n={n}");
        assert_eq!(built.meta.padded_size(), n.max(2).next_power_of_two(), "n={n}");
        let tree = Tree::open(&tdir).unwrap();
        let snap = snapshot_of(&tree.meta);
        let recs = records(&out);
        assert_eq!(recs.len() as u64, n);
        let mut slots = std::collections::HashSet::new();
        for (account, secret) in recs {
            let proof = tree.proof(&record_id(&secret)).unwrap().expect("a proof for every record");
            assert!(slots.insert(proof.index), "n={n}: two accounts in one slot");
            let proof = Proof::decode(&proof.encode()).unwrap();
            let got = proof.verify(&secret, &account, &snap).unwrap_or_else(|e| panic!("n={n} {account}: {e}"));
            assert_eq!(got.iter().map(|(_, b)| *b).collect::<Vec<_>>(), want[&account], "n={n} {account}");
        }
        assert!(tree.proof(&[0; 16]).unwrap().is_none());
    }
}

/// A tree built by an earlier vigil, whose leaves do not name their accounts (proof version
/// 1, a meta without `proof_version`), is not served: its proofs would not verify.
#[test]
fn a_tree_of_another_proof_version_is_not_opened() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("b.csv");
    std::fs::write(
        &csv,
        "account,BTC
a,5
b,7
",
    )
    .unwrap();
    let tdir = dir.path().join("tree");
    build("s-1", &assets(&["BTC"]), &SECRET, &csv, &dir.path().join("r.csv"), &tdir, false).unwrap();
    assert_eq!(Tree::open(&tdir).unwrap().meta.proof_version, vigil_core::reserves::PROOF_MAGIC[3]);
    {
        let db = rocksdb::DB::open_default(&tdir).unwrap();
        let mut meta: serde_json::Value = serde_json::from_slice(&db.get(b"meta").unwrap().unwrap()).unwrap();
        meta.as_object_mut().unwrap().remove("proof_version");
        db.put(b"meta", serde_json::to_vec(&meta).unwrap()).unwrap();
    }
    let e = Tree::open(&tdir).err().expect("a tree of version 1 is refused").to_string();
    assert!(e.contains("proofs of version 1") && e.contains("build a new snapshot"), "{e}");
}

/// The same balances as JSON lines give the same tree as CSV (same secret, same slots).
#[test]
fn json_lines_and_csv_build_the_same_tree() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b.csv"), "account,BTC,USDT\na,5,0\n\"b,c\",0,17\nd,1,2\n").unwrap();
    std::fs::write(
        dir.path().join("b.jsonl"),
        "{\"account\":\"a\",\"balances\":{\"BTC\":\"5\"}}\n{\"account\":\"b,c\",\"balances\":{\"USDT\":\"17\"}}\n\n{\"account\":\"d\",\"balances\":{\"BTC\":\"1\",\"USDT\":\"2\"}}\n",
    )
    .unwrap();
    let roots: Vec<String> = ["b.csv", "b.jsonl"]
        .iter()
        .map(|f| {
            let p = dir.path();
            let b = build(
                "s",
                &assets(&["BTC", "USDT"]),
                &SECRET,
                &p.join(f),
                &p.join(format!("{f}.rec")),
                &p.join(format!("{f}.tree")),
                false,
            )
            .unwrap();
            assert_eq!(b.sums, vec![6, 19]);
            b.meta.root
        })
        .collect();
    assert_eq!(roots[0], roots[1]);
    let recs = records(&dir.path().join("b.csv.rec"));
    assert_eq!(recs[1].0, "\"b,c\"", "an account with a comma is quoted in the records file");
}

/// A bad balances file is refused with an error naming its line, and leaves nothing behind:
/// no tree, no records file.
#[test]
fn bad_balances_are_refused_naming_the_line_and_leave_nothing() {
    let cases: &[(&str, &str, &str)] = &[
        ("b.csv", "account,BTC\na,1\nb,-5\n", "line 3: negative balance -5 for BTC"),
        ("b.csv", "account,BTC\na,1.5\n", "line 2: balance \"1.5\" for BTC is not a whole number"),
        ("b.csv", "account,DOGE\na,1\n", "line 1: unknown asset \"DOGE\""),
        ("b.csv", "account,BTC\na,1\nb,2\na,3\n", "line 4: the account of line 2 appears again"),
        ("b.csv", "acct,BTC\na,1\n", "line 1: the header must start with \"account\""),
        ("b.csv", "account,BTC,BTC\na,1,1\n", "line 1: asset BTC has two columns"),
        ("b.csv", "account,BTC\na,1\nb\n", "line 3"),
        ("b.csv", "account,BTC\na,012\n", "leading zero"),
        ("b.csv", "account,BTC\na,1000000000000000000000000000000000000000\n", "line 2: BTC"),
        ("b.csv", "account,BTC\n", "lists no accounts"),
        (
            "b.csv",
            "account,BTC\na,60000000000000000000000000000000000000\nb,1\nc,40000000000000000000000000000000000000\n",
            "line 4: the BTC total of the balances up to here has more than 38 digits",
        ),
        ("b.csv", "account,BTC\na,1\r,\n", "line 2: a carriage return inside the line"),
        ("b.csv", "account,BTC\n\"a\",1\rb,2\n", "line 2: a carriage return inside the line"),
        ("b.jsonl", "{\"account\":\"a\",\"balances\":{\"BTC\":5}}\n", "line 1: the BTC balance must be a string"),
        ("b.jsonl", "{\"account\":\"a\",\"balances\":{\"ETH\":\"5\"}}\n", "line 1: unknown asset \"ETH\""),
        (
            "b.jsonl",
            "{\"account\":\"a\",\"balances\":{}}\n{\"account\":\"\",\"balances\":{}}\n",
            "line 2: the account id",
        ),
        ("b.jsonl", "{\"account\":\"a\",\"balances\":{}}\n{\"account\":\"a\"\n", "line 2:"),
        ("b.jsonl", "{\"account\":\"a\",\"balances\":{},\"x\":1}\n", "line 1: unknown field"),
    ];
    for (file, content, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join(file);
        std::fs::write(&input, content).unwrap();
        let (out, tdir) = (dir.path().join("records.csv"), dir.path().join("tree"));
        let e = build("s", &assets(&["BTC"]), &SECRET, &input, &out, &tdir, false).expect_err(content);
        assert!(format!("{e:#}").contains(want), "{content:?}: {e:#}");
        let left: Vec<PathBuf> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(left, vec![input.clone()], "{content:?} left files behind");
    }
    // A snapshot id its entry could not carry is refused before anything is read or written.
    for id in ["", "por 2019", &"p".repeat(129)] {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("b.csv");
        std::fs::write(&input, "account,BTC\na,1\n").unwrap();
        let (out, tdir) = (dir.path().join("records.csv"), dir.path().join("tree"));
        let e = build(id, &assets(&["BTC"]), &SECRET, &input, &out, &tdir, false).expect_err(id);
        assert!(e.to_string().starts_with(&format!("snapshot id {id:?}: ")), "{id:?}: {e:#}");
        let left: Vec<PathBuf> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(left, vec![input], "{id:?} left files behind");
    }
    // An existing records file is never overwritten.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b.csv"), "account,BTC\na,1\n").unwrap();
    std::fs::write(dir.path().join("r.csv"), "keep").unwrap();
    let e = build(
        "s",
        &assets(&["BTC"]),
        &SECRET,
        &dir.path().join("b.csv"),
        &dir.path().join("r.csv"),
        &dir.path().join("t"),
        false,
    )
    .unwrap_err();
    assert!(e.to_string().contains("never overwritten"), "{e}");
    assert_eq!(std::fs::read_to_string(dir.path().join("r.csv")).unwrap(), "keep");
}

#[test]
fn snapshot_ids_cannot_escape_the_reserves_dir() {
    let root = Path::new("/r");
    for (id, want) in
        [("por-2019", "/r/por-2019"), ("..", "/r/.2e.2e"), ("a/b", "/r/a.2fb"), ("a_b", "/r/a_b"), ("a.b", "/r/a.2eb")]
    {
        assert_eq!(tree_dir(root, id), Path::new(want));
    }
}

struct Got {
    status: StatusCode,
    body: Vec<u8>,
}

async fn get(app: &axum::Router, uri: &str) -> Got {
    let res = app.clone().oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    Got { status, body: res.into_body().collect().await.unwrap().to_bytes().to_vec() }
}

/// The demo log's snapshots, through the public API: the history with ratios, each snapshot
/// with its entry proven in the checkpoint, and users' proofs fetched by record id that verify
/// with their secrets against the logged entry; the SAFU payout's effect shows in the ratio.
#[tokio::test]
async fn the_api_serves_the_history_and_proofs_that_verify_against_the_logged_entry() {
    let (engine, dir) = std::thread::spawn(|| {
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-example");
        (Arc::new(vigil::demo::write_demo_log(&keys_dir, &dir.path().join("d")).unwrap()), dir)
    })
    .join()
    .unwrap();
    let reserves = vigil::demo::reserves_dir_of(&dir.path().join("d"));
    // One router for every request, as a server has: the snapshots' index is kept in it.
    let app = vigil::http::public::router(engine.clone(), Some(reserves.clone()));
    let h: serde_json::Value = serde_json::from_slice(&get(&app, "/v1/reserves").await.body).unwrap();
    let snaps = h["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 2);
    let btc_ratio = |s: &serde_json::Value| s["assets"][0]["ratio"].as_str().unwrap().to_string();
    assert_eq!(
        (snaps[0]["assets"][0]["asset"].as_str(), snaps[1]["snapshot"].as_str()),
        (Some("BTC"), Some("por-2019-05-08"))
    );
    assert!(btc_ratio(&snaps[0]) > btc_ratio(&snaps[1]), "the breach shrank the cushion: {snaps:?}");
    assert!(btc_ratio(&snaps[1]).as_str() >= "1.0000", "users were made whole");

    let keys_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("keys-example");
    let log_key = vigil::config::read_verifier(&keys_dir.join("vigil.example_audit-log.vkey")).unwrap();
    let cp = vigil_core::checkpoint::verify(&engine.head().checkpoint, &log_key).unwrap().checkpoint;
    let mut wallets = Vec::new();
    for s in snaps {
        let id = s["snapshot"].as_str().unwrap();
        let g = get(&app, &format!("/v1/reserves/{id}")).await;
        assert_eq!(g.status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
        let bytes = hex::decode(v["entry"]["bytes"].as_str().unwrap()).unwrap();
        let proof: vigil_core::merkle::InclusionProof = serde_json::from_value(v["inclusion_proof"].clone()).unwrap();
        assert_eq!(v["checkpoint_size"].as_u64(), Some(cp.size));
        proof.verify(&vigil_core::merkle::leaf_hash(&bytes), &cp.root).unwrap();
        assert_eq!(v["attestation_entries"].as_array().unwrap().len(), 4);
        let held: std::collections::HashMap<String, u128> = v["attestation_entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let e = &a["statement"]["event"];
                (e["wallet"].as_str().unwrap().to_string(), e["balance"].as_str().unwrap().parse().unwrap())
            })
            .collect();
        wallets.push(held);
        let (_, st) = vigil_core::entry::Entry::decode(&bytes).unwrap();
        let vigil_core::event::Event::ReserveSnapshot(snap) = st.event else { panic!("not a snapshot") };

        for (account, secret) in records(&reserves.join(format!("{id}.records.csv"))).into_iter().step_by(997) {
            let g = get(&app, &format!("/v1/reserves/{id}/proof/{}", hex::encode(record_id(&secret)))).await;
            assert_eq!(g.status, StatusCode::OK, "{account}");
            assert!(g.body.len() <= 2048, "proof of {} bytes", g.body.len());
            Proof::decode(&g.body).unwrap().verify(&secret, &account, &snap).unwrap();
        }
    }
    // The 7,000 BTC left the hot wallet; the cold one holds what it held.
    let btc = |w: &str, i: usize| wallets[i][w] / 100_000_000;
    assert_eq!((btc("hot-btc-1", 0) - btc("hot-btc-1", 1), btc("cold-btc-1", 0)), (7_000, btc("cold-btc-1", 1)));
    for (uri, status) in [
        ("/v1/reserves/none", StatusCode::NOT_FOUND),
        ("/v1/reserves/none/proof/00000000000000000000000000000000", StatusCode::NOT_FOUND),
        ("/v1/reserves/por-2019-05-08/proof/00000000000000000000000000000000", StatusCode::NOT_FOUND),
        ("/v1/reserves/por-2019-05-08/proof/xyz", StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(get(&app, uri).await.status, status, "{uri}");
    }

    // A tree of the same snapshot id but not the logged one (built again, with another
    // secret) put in the first one's place: no proof from it, not even of a record it holds.
    // A new server (the first one keeps the right tree open).
    let id = "por-2019-05-08";
    let (account, right_secret) = records(&reserves.join(format!("{id}.records.csv"))).remove(0);
    let (dir, tree) = (tempfile::tempdir().unwrap(), tree_dir(&reserves, id));
    let balances = dir.path().join("b.csv");
    std::fs::write(&balances, format!("account,BTC,ETH,USDT\n{account},1,2,3\n")).unwrap();
    let aside = dir.path().join("right-tree");
    std::fs::rename(&tree, &aside).unwrap();
    let records_of_other = dir.path().join("r.csv");
    build(id, &assets(&["BTC", "ETH", "USDT"]), &[1; 32], &balances, &records_of_other, &tree, false).unwrap();
    let (_, wrong_secret) = records(&records_of_other).remove(0);
    let app = vigil::http::public::router(engine.clone(), Some(reserves.clone()));
    let proof_of = |secret: [u8; 32]| format!("/v1/reserves/{id}/proof/{}", hex::encode(record_id(&secret)));
    for secret in [wrong_secret, right_secret] {
        let g = get(&app, &proof_of(secret)).await;
        assert_eq!(g.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", String::from_utf8_lossy(&g.body));
    }
    // The right tree put back is served at once: the wrong one was not kept open.
    std::fs::remove_dir_all(&tree).unwrap();
    std::fs::rename(&aside, &tree).unwrap();
    assert_eq!(get(&app, &proof_of(right_secret)).await.status, StatusCode::OK);
}
