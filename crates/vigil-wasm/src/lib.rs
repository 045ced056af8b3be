//! vigil's verifier for the browser: `vigil_core` compiled to `wasm32-unknown-unknown` behind a
//! plain `extern "C"` interface, so the page runs the very code `vigil verify` runs.
//!
//! The interface is one call, JSON in and JSON out through linear memory:
//! 1. `vigil_alloc(len)` returns a buffer; the caller writes a UTF-8 JSON request into it;
//! 2. `vigil_call(ptr, len)` consumes the request (frees its buffer) and returns
//!    `(out_ptr << 32) | out_len` of a JSON answer it allocated;
//! 3. the caller reads the answer and frees it with `vigil_free(out_ptr, out_len)`.
//!
//! A request is `{"op": "...", ...}`; the answer is `{"ok": ...}` or `{"error": "..."}`. Every
//! input is untrusted (it comes from the server); nothing here panics on it. The operations are
//! [`call`]'s match arms.

use base64::prelude::*;
use serde_json::{json, Value};
use vigil_core::checkpoint::CosignatureVerifier;
use vigil_core::entry::Entry;
use vigil_core::event::Event;
use vigil_core::facts;
use vigil_core::hash::Digest;
use vigil_core::keys::VerifierKey;
use vigil_core::merkle::{leaf_hash, ConsistencyProof, InclusionProof};
use vigil_core::reserves::{record_id, Proof};
use vigil_core::witness::{verify_witnessed, Policy};

fn field<'a>(req: &'a Value, name: &str) -> Result<&'a str, String> {
    req.get(name).and_then(Value::as_str).ok_or_else(|| format!("missing string field {name:?}"))
}

fn hex32(s: &str, what: &str) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.trim(), &mut out).map_err(|_| format!("{what} must be 64 hex digits"))?;
    Ok(out)
}

fn digest(s: &str) -> Result<Digest, String> {
    // Roots travel as hex (ours) or base64 (checkpoint bodies).
    if s.len() == 64 {
        return hex32(s, "a hash").map(Digest);
    }
    let b = BASE64_STANDARD.decode(s).map_err(|_| "a hash must be 64 hex digits or base64".to_string())?;
    Ok(Digest(b.try_into().map_err(|_| "a hash must be 32 bytes".to_string())?))
}

/// Decodes entry bytes (hex) into what the page shows.
fn entry_json(bytes: &[u8]) -> Result<(Value, Entry, vigil_core::statement::Statement), String> {
    let (e, st) = Entry::decode(bytes).map_err(|e| e.to_string())?;
    let v = json!({
        "seq": e.seq, "time_ms": e.time_ms, "kind": st.event.kind().as_str(), "key": st.key.to_string(),
        "event": serde_json::to_value(&st.event).map_err(|e| e.to_string())?,
        "leaf_hash": leaf_hash(bytes).to_hex(),
    });
    Ok((v, e, st))
}

fn entries_of(req: &Value) -> Result<Vec<Vec<u8>>, String> {
    req.get("entries")
        .and_then(Value::as_array)
        .ok_or("missing array field \"entries\"")?
        .iter()
        .map(|h| hex::decode(h.as_str().unwrap_or_default()).map_err(|_| "entries must be hex strings".to_string()))
        .collect()
}

/// Runs one request. The operations:
/// - `checkpoint {note, vkey, witnesses?, quorum?}`: verifies a signed checkpoint note against
///   the pinned verifier key and, with `witnesses` (cosigner vkeys), that at least `quorum`
///   (default: all) of them cosigned it; answers origin, size, root (hex), timestamp, and the
///   witnesses that cosigned (`cosigned`: name and timestamp each);
/// - `inclusion {entry, proof, root}`: entry bytes (hex) included at `proof.index` in the tree
///   of `proof.tree_size` with `root`; answers the entry decoded;
/// - `consistency {proof, old_root, new_root}`: the newer tree extends the older;
/// - `record_id {secret}`: the record id of a record secret;
/// - `reserves {proof, secret, entry}`: a liabilities proof (base64) checked with the user's
///   secret against a `reserve_snapshot` entry (hex); answers the balances and totals;
/// - `attested {snapshot, entries}`: a snapshot entry's reserves are exactly what the
///   attestation entries (hex; the caller proved them included) add up to;
/// - `incident_facts {incident, entries}` and `safu_history {entries}`: the derived facts of
///   `vigil_core::facts` over entries (hex) the caller verified;
/// - `log {entries, root, seed}`: the whole log, every entry (hex) from 0, verified as `vigil verify`
///   does (chain, canonical statements, the key registry, every signature) and its Merkle root
///   equal to `root` (signatures in batches, their coefficients drawn from `seed`, 32 random
///   bytes in hex); answers each entry's `seq`, `kind`, `incident` and (alarms) `refs`, what
///   the page needs to tell whether the server's listings left anything out.
pub fn call(req: &Value) -> Result<Value, String> {
    match req.get("op").and_then(Value::as_str).unwrap_or_default() {
        "checkpoint" => {
            let key = VerifierKey::parse(field(req, "vkey")?).map_err(|e| e.to_string())?;
            let witnesses = match req.get("witnesses") {
                None | Some(Value::Null) => vec![],
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        CosignatureVerifier::parse(v.as_str().ok_or("witnesses must be strings")?)
                            .map_err(|e| e.to_string())
                    })
                    .collect::<Result<Vec<_>, String>>()?,
                Some(_) => return Err("witnesses must be an array of cosigner keys".into()),
            };
            let quorum = match req.get("quorum") {
                None | Some(Value::Null) => witnesses.len(),
                Some(q) => {
                    let q = q.as_u64().ok_or("quorum must be a non-negative integer")?;
                    usize::try_from(q).map_err(|_| "quorum is too large".to_string())?
                }
            };
            let policy = Policy::new(witnesses, quorum).map_err(|e| e.to_string())?;
            let w = verify_witnessed(field(req, "note")?.as_bytes(), &key, &policy).map_err(|e| e.to_string())?;
            let s = w.signed;
            Ok(json!({"origin": s.checkpoint.origin, "size": s.checkpoint.size,
                "root": s.checkpoint.root.to_hex(), "timestamp": s.timestamp, "cosigned": w.cosigned}))
        }
        "inclusion" => {
            let bytes = hex::decode(field(req, "entry")?).map_err(|_| "entry must be hex".to_string())?;
            let proof: InclusionProof =
                serde_json::from_value(req.get("proof").cloned().unwrap_or_default()).map_err(|e| e.to_string())?;
            let root = digest(field(req, "root")?)?;
            let size = req.get("size").and_then(Value::as_u64).ok_or("missing tree size field \"size\"")?;
            let (v, e, _) = entry_json(&bytes)?;
            proof.verify_in(&leaf_hash(&bytes), e.seq, size, &root).map_err(|e| e.to_string())?;
            Ok(v)
        }
        "consistency" => {
            let proof: ConsistencyProof =
                serde_json::from_value(req.get("proof").cloned().unwrap_or_default()).map_err(|e| e.to_string())?;
            proof
                .verify(&digest(field(req, "old_root")?)?, &digest(field(req, "new_root")?)?)
                .map_err(|e| e.to_string())?;
            Ok(json!(true))
        }
        "record_id" => Ok(json!(hex::encode(record_id(&hex32(field(req, "secret")?, "the secret")?)))),
        "reserves" => {
            let secret = hex32(field(req, "secret")?, "the secret")?;
            let account = field(req, "account")?;
            if account.is_empty() {
                return Err("the account id is empty: give it exactly as the exchange shows it".into());
            }
            let proof_bytes =
                BASE64_STANDARD.decode(field(req, "proof")?).map_err(|_| "proof must be base64".to_string())?;
            let proof = Proof::decode(&proof_bytes).map_err(|e| e.to_string())?;
            let bytes = hex::decode(field(req, "entry")?).map_err(|_| "entry must be hex".to_string())?;
            let (_, _, st) = entry_json(&bytes)?;
            let Event::ReserveSnapshot(snap) = st.event else { return Err("not a reserve_snapshot entry".into()) };
            let balances = proof.verify(&secret, account, &snap).map_err(|e| e.to_string())?;
            Ok(json!({"snapshot": snap.snapshot, "record_id": hex::encode(proof.record_id),
                "balances": balances.iter().zip(&snap.assets).map(|((a, b), t)| json!({
                    "asset": a, "balance": b.to_string(), "liabilities": t.liabilities, "reserves": t.reserves, "ratio": t.ratio,
                })).collect::<Vec<_>>()}))
        }
        "attested" => {
            let bytes = hex::decode(field(req, "snapshot")?).map_err(|_| "snapshot must be hex".to_string())?;
            let (_, at, st) = entry_json(&bytes)?;
            let Event::ReserveSnapshot(snap) = st.event else { return Err("not a reserve_snapshot entry".into()) };
            let raw = entries_of(req)?;
            let decoded =
                raw.iter().map(|b| Entry::decode(b).map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?;
            let given: Vec<(u64, &Event)> = decoded.iter().map(|(e, st)| (e.seq, &st.event)).collect();
            vigil_core::reserves::check_attestations(at.seq, &snap, &given)?;
            Ok(json!(true))
        }
        "log" => {
            use rand_chacha::rand_core::SeedableRng;
            let root = digest(field(req, "root")?)?;
            // The batch's random coefficients must be unpredictable to whoever wrote the log:
            // the page draws the seed with Web Crypto (crypto.getRandomValues).
            let mut rng = rand_chacha::ChaCha20Rng::from_seed(hex32(field(req, "seed")?, "seed")?);
            let raw = entries_of(req)?;
            let mut v = vigil_core::verifier::LogVerifier::new();
            let mut out = Vec::with_capacity(raw.len());
            let mut pending = Vec::with_capacity(64);
            // Signatures in batches of 64 under the ZIP-215 rule of the single check; a failing
            // batch is checked one by one to name its first bad signature, as `vigil verify` does.
            let mut flush = |pending: &mut Vec<vigil_core::verifier::PendingSignature>| -> Result<(), String> {
                vigil_core::verifier::check_batch(pending, &mut rng).map_err(|e| e.to_string())?;
                pending.clear();
                Ok(())
            };
            for b in &raw {
                let (e, st, sig) = match v.push_deferred(b) {
                    Ok(x) => x,
                    Err(e) => {
                        // The signatures before it come first, as with one check per entry.
                        flush(&mut pending)?;
                        return Err(e.to_string());
                    }
                };
                pending.push(sig);
                if pending.len() == 64 {
                    flush(&mut pending)?;
                }
                let mut item = json!({
                    "seq": e.seq, "kind": st.event.kind().as_str(), "incident": st.event.incident(),
                    "refs": vigil_core::facts::brings_in(&st.event),
                });
                // For the rules between snapshots, over every snapshot the log holds.
                if let Event::ReserveSnapshot(r) = &st.event {
                    item["snapshot"] = json!(r.snapshot);
                    item["attestations"] = json!(r.attestations);
                }
                out.push(item);
            }
            flush(&mut pending)?;
            if v.root() != root {
                return Err(format!(
                    "the {} entries have root {}, not the checkpoint's {}",
                    v.size(),
                    v.root().to_hex(),
                    root.to_hex()
                ));
            }
            Ok(json!({"size": v.size(), "entries": out}))
        }
        op @ ("incident_facts" | "safu_history") => {
            let raw = entries_of(req)?;
            let decoded =
                raw.iter().map(|b| Entry::decode(b).map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?;
            let items: Vec<facts::Item<'_>> = decoded
                .iter()
                .map(|(e, st)| facts::Item { seq: e.seq, time_ms: e.time_ms, event: &st.event })
                .collect();
            if op == "safu_history" {
                serde_json::to_value(facts::safu_history(&items).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
            } else {
                let f = facts::incident_facts(field(req, "incident")?, &items).map_err(|e| e.to_string())?;
                serde_json::to_value(f).map_err(|e| e.to_string())
            }
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

/// [`call`] on JSON text.
pub fn call_text(req: &[u8]) -> String {
    let answer = match serde_json::from_slice::<Value>(req) {
        Ok(v) => match call(&v) {
            Ok(ok) => json!({ "ok": ok }),
            Err(e) => json!({ "error": e }),
        },
        Err(e) => json!({ "error": format!("bad request: {e}") }),
    };
    answer.to_string()
}

/// Allocates `len` bytes for the caller (a dangling pointer when `len` is 0).
#[no_mangle]
pub extern "C" fn vigil_alloc(len: usize) -> *mut u8 {
    // A boxed slice has exactly `len` bytes, which is what `vigil_free` and `vigil_call` rebuild.
    Box::into_raw(vec![0u8; len].into_boxed_slice()) as *mut u8
}

/// Frees a buffer from [`vigil_alloc`] or an answer of [`vigil_call`].
///
/// # Safety
/// `ptr` and `len` must be exactly what `vigil_alloc(len)` returned, or an answer's pointer and
/// length; each buffer is freed once.
#[no_mangle]
pub unsafe extern "C" fn vigil_free(ptr: *mut u8, len: usize) {
    if len == 0 {
        // An empty answer is a boxed empty slice: nothing was allocated.
        return;
    }
    // SAFETY: the caller passes back a boxed slice of exactly `len` bytes from this module.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
}

/// Runs the JSON request in `ptr[..len]` (a buffer from [`vigil_alloc`], consumed) and returns
/// `(answer_ptr << 32) | answer_len`.
///
/// # Safety
/// `ptr[..len]` must be a buffer from `vigil_alloc(len)` holding the request.
#[no_mangle]
pub unsafe extern "C" fn vigil_call(ptr: *mut u8, len: usize) -> u64 {
    // SAFETY: the caller wrote the request into a boxed slice of exactly `len` bytes from
    // vigil_alloc, and hands it over.
    let req: Box<[u8]> =
        if len == 0 { Box::default() } else { unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) } };
    // A boxed slice: its capacity is its length, which is what `vigil_free` is given back.
    let out = call_text(&req).into_bytes().into_boxed_slice();
    let n = out.len() as u64;
    let p = Box::into_raw(out) as *mut u8 as u64;
    (p << 32) | n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_requests_are_errors_not_panics() {
        for req in [
            "",
            "[]",
            "{}",
            "{\"op\":\"checkpoint\"}",
            "{\"op\":\"inclusion\",\"entry\":\"zz\",\"root\":\"00\"}",
            "{\"op\":\"reserves\",\"secret\":\"00\",\"proof\":\"!\",\"entry\":\"\"}",
            "{\"op\":\"nope\"}",
            "{\"op\":\"safu_history\",\"entries\":[\"00\"]}",
            "{\"op\":\"log\",\"root\":\"00\",\"entries\":[\"00\"]}",
            "{\"op\":\"log\",\"root\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"seed\":\"00\",\"entries\":[]}",
            // The empty log's root is not all zeros.
            "{\"op\":\"log\",\"root\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"seed\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"entries\":[]}",
        ] {
            let v: Value = serde_json::from_str(&call_text(req.as_bytes())).unwrap();
            assert!(v["error"].is_string(), "{req}: {v}");
        }
    }

    #[test]
    fn the_checkpoint_op_applies_a_witness_policy() {
        use vigil_core::checkpoint::{sign, Checkpoint};
        use vigil_core::keys::SignerKey;
        let log = SignerKey::from_seed("log.example", [1; 32]).unwrap();
        let w = SignerKey::from_seed("w.example", [2; 32]).unwrap();
        let note = sign(&Checkpoint::new("log.example", 1, Digest([3; 32])), &log, 5).unwrap();
        let mut cosigned = note.clone();
        cosigned.extend(vigil_core::witness::cosign(&note, &w, 6).unwrap());
        let wv = CosignatureVerifier::from_signer(&w).to_vkey();
        let ask = |n: &[u8], witnesses: Value| {
            call(&json!({"op": "checkpoint", "note": String::from_utf8_lossy(n), "vkey": log.verifier().to_vkey(),
                "witnesses": witnesses}))
        };
        let ok = ask(&cosigned, json!([wv])).unwrap();
        assert_eq!(ok["cosigned"], json!([{"witness": "w.example", "timestamp": 6}]));
        assert!(ask(&note, json!([wv])).unwrap_err().contains("not witnessed"));
        assert!(ask(&note, Value::Null).is_ok(), "no policy: the log's signature alone");
        assert!(ask(&note, json!(["not a key"])).is_err());
        // A quorum that is not a count is refused, not read as "all of them".
        for quorum in [json!("1"), json!(-1), json!(1.5)] {
            let r = call(&json!({"op": "checkpoint", "note": String::from_utf8_lossy(&cosigned),
                "vkey": log.verifier().to_vkey(), "witnesses": [wv], "quorum": quorum}));
            assert!(r.unwrap_err().contains("quorum"), "{quorum}");
        }
    }
}
