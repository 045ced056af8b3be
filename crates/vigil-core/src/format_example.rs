//! The worked example of docs/FORMAT.md §8, computed by the code. If this test fails, the
//! format changed: update FORMAT.md, bump FORMAT_VERSION, and say so.

use crate::checkpoint::{self, Checkpoint};
use crate::entry::Entry;
use crate::event::Event;
use crate::hash::{chain_hash, commitment, Digest};
use crate::keys::SignerKey;
use crate::merkle::{leaf_hash, node_hash};
use crate::statement::{sign, signing_message, Statement};

pub struct Example {
    pub service_vkey: String,
    pub log_vkey: String,
    pub commitment: String,
    pub statement: String,
    pub signature: String,
    pub entry: String,
    pub chain_hash: String,
    pub leaf_hash: String,
    pub root2: String,
    pub checkpoint: String,
}

pub fn example() -> Example {
    let service = SignerKey::from_seed("withdrawals", [0x11; 32]).unwrap();
    let log = SignerKey::from_seed("vigil.example/audit-log", [0x22; 32]).unwrap();
    let salt = [0x33; 32];
    let c = commitment(&salt, "acct-0715");
    let event = Event::from_value(serde_json::json!({
        "kind": "withdrawal", "withdrawal_id": "w-7000", "stage": "executed", "asset": "BTC",
        "amount": "700000000000", "destination": "bc1qdemo", "tx_id": "demo-tx-7000btc",
        "wallet": "hot-btc-1", "wallet_tier": "hot", "account": {"commitment": c.to_hex()},
    }))
    .unwrap();
    let st = Statement {
        key: service.key_ref.clone(),
        idempotency_key: "w-7000-executed".into(),
        created_at_ms: 1_557_248_220_000,
        event,
    };
    let bytes = st.to_bytes().unwrap();
    let sig = sign(&service, &bytes);
    let entry = Entry {
        seq: 5,
        time_ms: 1_557_248_221_000,
        prev: Digest([0xab; 32]),
        signature: sig,
        statement_bytes: bytes.clone(),
    }
    .encode()
    .unwrap();
    let leaf = leaf_hash(&entry);
    // A two-entry tree: this entry, then one of the single byte 0x00.
    let root2 = node_hash(&leaf, &leaf_hash(&[0]));
    let cp = checkpoint::sign(&Checkpoint::new("vigil.example/audit-log", 1, leaf), &log, 1_557_248_222).unwrap();
    assert!(service.verifier().verify(&signing_message(&bytes), &sig));
    Example {
        service_vkey: service.verifier().to_vkey(),
        log_vkey: log.verifier().to_vkey(),
        commitment: c.to_hex(),
        statement: String::from_utf8(bytes).unwrap(),
        signature: hex::encode(sig),
        entry: hex::encode(&entry),
        chain_hash: chain_hash(&entry).to_hex(),
        leaf_hash: leaf.to_hex(),
        root2: root2.to_hex(),
        checkpoint: String::from_utf8(cp).unwrap(),
    }
}

/// The worked example of docs/FORMAT.md §11.5: a two-account liabilities tree.
pub fn reserves_example() -> Vec<(&'static str, String)> {
    use crate::reserves::{padding_key, prove, record_id, record_secret, Hashers};
    let s = [0x44; 32];
    let hs = Hashers::default();
    let (alice, bob) = (record_secret(&s, "alice"), record_secret(&s, "bob"));
    let (la, lb) = (hs.leaf(&alice, &[500, 0], "alice"), hs.leaf(&bob, &[250, 7], "bob"));
    let pad = hs.padding(&padding_key(&s), 3);
    let lv = crate::reserves::levels(vec![
        (la, vec![500, 0]),
        (lb, vec![250, 7]),
        (hs.padding(&padding_key(&s), 2), vec![0, 0]),
        (pad, vec![0, 0]),
    ])
    .unwrap();
    let root = &lv[2][0];
    let proof = prove(&lv, "por-example", record_id(&bob), 1);
    vec![
        ("record secret of alice", hex::encode(alice)),
        ("record id of alice", hex::encode(record_id(&alice))),
        ("record secret of bob", hex::encode(bob)),
        ("leaf of alice", la.to_hex()),
        ("leaf of bob", lb.to_hex()),
        ("padding key", hex::encode(padding_key(&s))),
        ("padding leaf 3", pad.to_hex()),
        ("node of slots 0-1", lv[1][0].0.to_hex()),
        ("root", root.0.to_hex()),
        ("proof of bob", hex::encode(proof.encode())),
    ]
}

/// docs/FORMAT.md §6.1's example: a witness's cosignature on §8's checkpoint.
pub fn witness_example() -> Vec<(&'static str, String)> {
    let w = crate::keys::SignerKey::from_seed("witness.example/w1", [0x77; 32]).unwrap();
    let cp = example().checkpoint;
    let line = crate::witness::cosign(cp.as_bytes(), &w, 1_557_248_300).unwrap();
    vec![
        ("witness cosigner key", crate::checkpoint::CosignatureVerifier::from_signer(&w).to_vkey()),
        ("cosignature line", String::from_utf8(line).unwrap().trim_end().to_string()),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn format_md_shows_the_witness_example() {
        for (what, value) in super::witness_example() {
            assert!(FORMAT_MD.contains(&value), "FORMAT.md §6.1 lacks the {what}: {value}");
        }
    }

    #[test]
    fn format_md_shows_the_reserves_example() {
        for (what, value) in super::reserves_example() {
            assert!(FORMAT_MD.contains(&value), "FORMAT.md §11.5 lacks the {what}: {value}");
        }
    }

    const FORMAT_MD: &str = include_str!("../../../docs/FORMAT.md");

    /// Every value of the worked example appears verbatim in docs/FORMAT.md.
    #[test]
    fn format_md_shows_what_the_code_computes() {
        let e = super::example();
        for (what, value) in [
            ("service verifier key", e.service_vkey.as_str()),
            ("log verifier key", &e.log_vkey),
            ("commitment", &e.commitment),
            ("statement", &e.statement),
            ("signature", &e.signature),
            ("chain hash", &e.chain_hash),
            ("leaf hash", &e.leaf_hash),
            ("two-leaf root", &e.root2),
            ("checkpoint", &e.checkpoint),
            ("entry header", &e.entry[..2]),
        ] {
            assert!(FORMAT_MD.contains(value), "FORMAT.md lacks the {what}: {value}");
        }
        assert!(FORMAT_MD.contains(&format!("one line, {} bytes", e.statement.len())));
        // The header rows of §8, concatenated, are the entry's first 113 bytes.
        let header: String = [
            &format!("{:02x}", crate::FORMAT_VERSION),
            "0000000000000005",
            "0000016a933a1f48",
            &"ab".repeat(32),
            &e.signature,
        ]
        .concat();
        assert_eq!(&e.entry[..header.len()], header);
        assert_eq!(&e.entry[header.len()..], hex::encode(e.statement.as_bytes()));
    }
}
