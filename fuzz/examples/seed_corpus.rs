//! Writes the seed corpus, `fuzz/corpus/<target>/<name>`: a few valid inputs per target, made
//! by vigil-core's own encoders from the fixtures the targets check against
//! (`vigil_fuzz`), plus docs/FORMAT.md §8's worked example.
//!
//! ```sh
//! cd fuzz && cargo run --example seed_corpus
//! ```
//! Files already there (e.g. minimized or regression inputs) are left alone; seeds are rewritten.

use serde_json::{json, Value};
use std::path::Path;
use vigil_core::checkpoint::Checkpoint;
use vigil_core::entry::Entry;
use vigil_core::event::Event;
use vigil_core::hash::{commitment, Digest};
use vigil_core::keys::{KeyRef, SignerKey};
use vigil_core::merkle::{InclusionProof, TileNodes};
use vigil_core::request::RequestSignature;
use vigil_core::statement::{self, Statement, Submission};
use vigil_core::verifier::LogVerifier;
use vigil_core::witness::{cosign, AddCheckpoint};
use vigil_fuzz::{key, FORK, LOG_KEY, NOTE5, NOW_S, OPERATOR, RESERVES, SERVICE, TREE, WITNESSES, WITNESS_LATEST};

fn write(target: &str, name: &str, bytes: impl AsRef<[u8]>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
}

/// One valid event of every kind (private values committed).
fn events() -> Vec<Value> {
    let c = commitment(&[0x33; 32], "acct-0715").to_hex();
    let r = &RESERVES.snapshot;
    vec![
        json!({"kind": "withdrawal", "withdrawal_id": "w-7000", "stage": "executed", "asset": "BTC",
               "amount": "700000000000", "destination": "bc1qdemo", "tx_id": "demo-tx-7000btc",
               "wallet": "hot-btc-1", "wallet_tier": "hot", "account": {"commitment": c}, "incident": "inc-1"}),
        json!({"kind": "withdrawal", "withdrawal_id": "w-7001", "stage": "rejected", "asset": "ETH",
               "amount": "5", "destination": "0xabc", "wallet": "cold-eth", "wallet_tier": "cold",
               "account": {"commitment": c}, "reason": "limit\nexceeded"}),
        json!({"kind": "alarm", "rule": "velocity", "severity": "critical", "summary": "7000 BTC in one withdrawal",
               "refs": [0], "incident": "inc-1"}),
        json!({"kind": "freeze", "scope": {"target": "withdrawals"}, "reason": "hack", "incident": "inc-1"}),
        json!({"kind": "freeze", "scope": {"target": "accounts", "accounts": [{"commitment": c}]}, "reason": "r"}),
        json!({"kind": "unfreeze", "scope": {"target": "wallets", "wallets": ["hot-btc-1"]}, "reason": "fixed"}),
        json!({"kind": "credential_reset", "credentials": ["api_keys", "two_factor"], "scope": "affected_accounts",
               "affected_accounts": 12, "reason": "leak", "incident": "inc-1"}),
        json!({"kind": "maintenance", "notice": "upgrade", "starts_at_ms": 10, "ends_at_ms": 20}),
        json!({"kind": "safu_contribution", "asset": "BTC", "amount": "1000", "period_start_ms": 1,
               "period_end_ms": 2, "fee_share_bps": 1000}),
        json!({"kind": "safu_payout", "incident": "inc-1", "asset": "BTC", "amount": "700", "covers": "losses"}),
        json!({"kind": "incident_open", "incident": "inc-1", "title": "hot wallet", "summary": "s", "severity": "high"}),
        json!({"kind": "incident_update", "incident": "inc-1", "summary": "s2", "severity": "critical"}),
        json!({"kind": "incident_close", "incident": "inc-1", "summary": "done"}),
        json!({"kind": "reserve_attestation", "asset": "BTC", "wallet": "cold-btc-1", "address": "bc1qcold",
               "balance": "752", "block_height": 575000, "as_of_ms": 1}),
        serde_json::to_value(Event::ReserveSnapshot(r.clone())).unwrap(),
        json!({"kind": "key_registered", "key": SERVICE.verifier().to_vkey(), "kinds": ["withdrawal", "alarm"]}),
        json!({"kind": "key_revoked", "key": SERVICE.key_ref.to_string(), "reason": "rotated"}),
    ]
}

fn statement(key: &SignerKey, idem: &str, at_ms: u64, event: Value) -> Statement {
    Statement {
        key: key.key_ref.clone(),
        idempotency_key: idem.into(),
        created_at_ms: at_ms,
        event: Event::from_value(event).expect("valid seed event"),
    }
}

/// A small log's statements as JSON lines: genesis, the service key, then events.
fn log_lines() -> Vec<String> {
    let op = |i: u64, ev: Value| statement(&OPERATOR, &format!("op-{i}"), 1_000 + i, ev);
    let svc = |i: u64, ev: Value| statement(&SERVICE, &format!("svc-{i}"), 1_000 + i, ev);
    let evs = events();
    let all_kinds: Vec<&str> = vigil_core::event::EventKind::ALL.iter().map(|k| k.as_str()).collect();
    let sts = vec![
        op(
            0,
            json!({"kind": "key_registered", "key": OPERATOR.verifier().to_vkey(), "kinds": ["key_registered", "key_revoked"]}),
        ),
        op(1, json!({"kind": "key_registered", "key": SERVICE.verifier().to_vkey(), "kinds": all_kinds})),
        svc(2, evs[13].clone()),
        svc(3, evs[0].clone()),
        svc(4, evs[2].clone()),
        svc(5, evs[10].clone()),
        svc(6, evs[3].clone()),
        svc(7, evs[9].clone()),
        svc(8, evs[8].clone()),
        svc(9, evs[12].clone()),
        op(10, json!({"kind": "key_revoked", "key": SERVICE.key_ref.to_string(), "reason": "rotated"})),
        svc(11, evs[7].clone()),
    ];
    sts.iter().map(|s| String::from_utf8(s.to_bytes().unwrap()).unwrap()).collect()
}

fn main() {
    // entry: docs/FORMAT.md §8's worked example, and a small log's entries.
    let service = key("withdrawals", 0x11);
    let c = commitment(&[0x33; 32], "acct-0715");
    let st = statement(&service, "w-7000-executed", 1_557_248_220_000, {
        let mut e = events()[0].clone();
        e["account"] = json!({"commitment": c.to_hex()});
        e.as_object_mut().unwrap().remove("incident");
        e
    });
    let bytes = st.to_bytes().unwrap();
    let example = Entry {
        seq: 5,
        time_ms: 1_557_248_221_000,
        prev: Digest([0xab; 32]),
        signature: statement::sign(&service, &bytes),
        statement_bytes: bytes,
    };
    write("entry", "format-example", example.encode().unwrap());
    let mut v = LogVerifier::new();
    for (i, line) in log_lines().iter().enumerate().take(4) {
        let st = Statement::from_bytes(line.as_bytes()).unwrap();
        let signer = vigil_fuzz::signer_of(&st.key).unwrap();
        let e = Entry::encode_parts(
            v.size(),
            1_000 + i as u64,
            &v.last_hash(),
            &statement::sign(signer, line.as_bytes()),
            line.as_bytes(),
        )
        .unwrap();
        v.push(&e).expect("seed log verifies");
        write("entry", &format!("log-{i}"), e);
    }

    // event_json: every kind, canonical; one pretty-printed.
    for (i, e) in events().iter().enumerate() {
        let kind = e["kind"].as_str().unwrap();
        write("event_json", &format!("{i:02}-{kind}"), vigil_core::canonical::value_to_canonical(e).unwrap());
    }
    write("event_json", "pretty", serde_json::to_vec_pretty(&events()[0]).unwrap());

    // submission_json: one submission with an opening, and a batch of two.
    let mut ev = Event::from_value(json!({"kind": "withdrawal", "withdrawal_id": "w-1", "stage": "executed",
        "asset": "BTC", "amount": "7", "destination": "bc1q", "tx_id": "t-1", "wallet": "hot-1",
        "wallet_tier": "hot", "account": "acct-1"}))
    .unwrap();
    let openings = ev.commit_private(|| [9; 32]);
    let st = Statement { key: SERVICE.key_ref.clone(), idempotency_key: "w-1".into(), created_at_ms: 5, event: ev };
    let one = Submission::sign(&SERVICE, &st, openings).unwrap();
    write("submission_json", "one", serde_json::to_vec(&one).unwrap());
    let st2 = statement(&SERVICE, "a-1", 6, events()[2].clone());
    let batch = vec![one, Submission::sign(&SERVICE, &st2, vec![]).unwrap()];
    write("submission_json", "batch", serde_json::to_vec(&batch).unwrap());
    write("submission_json", "statement-bytes", st2.to_bytes().unwrap());

    // note_checkpoint: signed checkpoints, with witness cosignatures, a body, an answer.
    let cosigned = |size: u64, ws: &[&SignerKey]| {
        let mut n = TREE.signed(size);
        let note = n.clone();
        for w in ws {
            n.extend(cosign(&note, w, NOW_S + 1).unwrap());
        }
        n
    };
    write("note_checkpoint", "size-0", TREE.signed(0));
    write("note_checkpoint", "size-5-w1", cosigned(5, &[&WITNESSES[0]]));
    write("note_checkpoint", "size-600-w1-w2", cosigned(600, &[&WITNESSES[0], &WITNESSES[1]]));
    write("note_checkpoint", "body", Checkpoint::new("log.example/fuzz", 9, TREE.root(9)).body());
    let answer = cosign(&NOTE5, &WITNESSES[0], NOW_S + 2).unwrap();
    write("note_checkpoint", "answer", &answer);
    write("note_checkpoint", "note-and-answer", [&NOTE5[..], b"\n\n", &answer].concat());

    // proofs: JSON and raw inclusion and consistency proofs of the fixed tree.
    let t = &TREE;
    for (i, n) in [(0u64, 1u64), (3, 5), (255, 256), (300, 600), (599, 600)] {
        let p = t.tree.inclusion_proof(i, n, &t.tiles).unwrap();
        write("proofs", &format!("inclusion-{i}-{n}"), serde_json::to_vec(&p).unwrap());
    }
    for (a, b) in [(0u64, 5u64), (5, 9), (256, 600), (599, 600), (7, 7)] {
        let p = t.tree.consistency_proof(a, b, &t.tiles).unwrap();
        write("proofs", &format!("consistency-{a}-{b}"), serde_json::to_vec(&p).unwrap());
        let raw: Vec<u8> =
            [a.to_be_bytes(), b.to_be_bytes()].concat().into_iter().chain(p.hashes.iter().flat_map(|h| h.0)).collect();
        write("proofs", &format!("raw-consistency-{a}-{b}"), raw);
    }
    let p: InclusionProof = t.tree.inclusion_proof(17, 300, &t.tiles).unwrap();
    let raw: Vec<u8> = [17u64.to_be_bytes(), 300u64.to_be_bytes()]
        .concat()
        .into_iter()
        .chain(p.hashes.iter().flat_map(|h| h.0))
        .collect();
    write("proofs", "raw-inclusion-17-300", raw);

    // tiles: a path line, then a tree size and a tile (full, partial).
    let tile = |level: u8, index: u64| t.tiles.0.get(&(level, index)).unwrap().clone();
    let full: &TileNodes = &tile(0, 1);
    write("tiles", "full", [b"0/001\n".as_slice(), &600u64.to_be_bytes(), &full.to_bytes()].concat());
    let partial = tile(0, 2);
    write("tiles", "partial", [b"0/002.p/88\n".as_slice(), &600u64.to_be_bytes(), &partial.to_bytes()].concat());
    write("tiles", "level-1", [b"1/000.p/2\n".as_slice(), &600u64.to_be_bytes(), &tile(1, 0).to_bytes()].concat());
    write("tiles", "entries", [b"entries/x001/x234/067.p/8\n".as_slice(), &5u64.to_be_bytes()].concat());

    // reserves_proof: each account's proof.
    for (i, (_, _, p)) in RESERVES.accounts.iter().enumerate() {
        write("reserves_proof", &format!("account-{i}"), p.encode());
    }

    // witness_request: from nothing, from the latest (5) onwards, the same again, a fork's proof.
    let req = |old: u64, new: u64| AddCheckpoint {
        old_size: old,
        proof: t.tree.consistency_proof(old, new, &t.tiles).unwrap().hashes,
        checkpoint: t.signed(new),
    };
    write("witness_request", "from-0", req(0, 9).to_bytes());
    write("witness_request", "5-to-9", req(WITNESS_LATEST, 9).to_bytes());
    write("witness_request", "5-to-600", req(WITNESS_LATEST, 600).to_bytes());
    write("witness_request", "5-to-5", req(WITNESS_LATEST, WITNESS_LATEST).to_bytes());
    let fork = AddCheckpoint {
        old_size: WITNESS_LATEST,
        proof: FORK.tree.consistency_proof(WITNESS_LATEST, 9, &FORK.tiles).unwrap().hashes,
        checkpoint: t.signed(9),
    };
    write("witness_request", "fork-proof", fork.to_bytes());

    // keys: every key string, a key reference, a hash, a signed-request header.
    write("keys", "vkey", LOG_KEY.verifier().to_vkey());
    write("keys", "skey", format!("{}\n", OPERATOR.to_skey()));
    write("keys", "cosigner-vkey", vigil_core::checkpoint::CosignatureVerifier::from_signer(&WITNESSES[0]).to_vkey());
    write("keys", "keyref", KeyRef::to_string(&SERVICE.key_ref));
    write("keys", "digest", TREE.root(5).to_hex());
    write("keys", "request-header", RequestSignature::sign(&OPERATOR, "GET", "/v1/openings/1", 1_000));

    // verify_log: a log's statements as lines; the same log resumed from a saved state.
    let lines = log_lines();
    write("verify_log", "log", format!("\n\n{}\n", lines.join("\n")));
    let mut v = LogVerifier::new();
    for (i, line) in lines.iter().take(3).enumerate() {
        let st = Statement::from_bytes(line.as_bytes()).unwrap();
        let signer = vigil_fuzz::signer_of(&st.key).unwrap();
        let e = Entry::encode_parts(
            v.size(),
            st.created_at_ms,
            &v.last_hash(),
            &statement::sign(signer, line.as_bytes()),
            line.as_bytes(),
        )
        .unwrap();
        v.push(&e).unwrap_or_else(|e| panic!("seed line {i}: {e}"));
    }
    let state = serde_json::to_string(&v.save()).unwrap();
    write("verify_log", "resumed", format!("{state}\n\n{}\n", lines[3..].join("\n")));

    // balances: both formats, a quoted CSV field, an asset left out, spaces and CRLF.
    write("balances", "csv", "account,BTC,ETH,USDT\nalice,100000000,2500000000000000000,0\nbob, 7 ,0,1250\n");
    write("balances", "csv-quoted", "account,USDT,BTC\r\n\"carol, jr\",\"42\",1\r\ndave,0,0\r\n");
    write(
        "balances",
        "jsonl",
        "{\"account\":\"alice\",\"balances\":{\"BTC\":\"100000000\",\"USDT\":\"5\"}}\n{\"account\":\"bob\",\"balances\":{}}\n",
    );
    // config: every setting (the example of vigil_core::config's documentation).
    write(
        "config",
        "every-setting",
        r#"data_dir = "data"
reserves_dir = "reserves"
web_dir = "web"
log_key = "keys-example/log.key"
operator_key = "keys-example/operator.key"
auditors = ["keys-example/auditor.vkey"]
witness_quorum = 2

[[witnesses]]
url = "http://127.0.0.1:8090"
vkey = "keys-example/witness-1.vkey"

[[services]]
vkey = "keys-example/withdrawals.vkey"
kinds = ["withdrawal", "alarm"]

[server]
public = "127.0.0.1:8080"
internal = "[::1]:8081"
replay_window_ms = 300000
max_in_flight = 100000
request_timeout_ms = 30000
"#,
    );
}
