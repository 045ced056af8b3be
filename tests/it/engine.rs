//! The append engine: receipts, all-or-nothing batches, idempotency, concurrency.

use crate::support::*;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use vigil::client::signed;
use vigil::engine::{AppendError, RejectCode, VerifiedSubmission};
use vigil::verify::verify_data_dir;
use vigil_core::checkpoint;
use vigil_core::event::Event;
use vigil_core::hash::{chain_hash, Digest};
use vigil_core::merkle::leaf_hash;
use vigil_core::statement::ParsedSubmission;

#[test]
fn receipts_prove_inclusion_in_a_signed_checkpoint() {
    let l = Ledger::new();
    let subs = (0..3).map(|i| l.sub(&l.keys.withdrawals, withdrawal(&format!("w-{i}")), &format!("r-{i}"))).collect();
    let receipts = l.engine.append_blocking(subs).unwrap();
    assert_eq!(receipts.len(), 3);
    for r in &receipts {
        let cp = checkpoint::verify(r.checkpoint.as_bytes(), &l.keys.log.verifier()).unwrap();
        assert_eq!(cp.checkpoint.size, receipts[2].seq + 1, "one checkpoint for the whole batch");
        assert!(cp.timestamp.is_some(), "the log's cosignature states a time");
        let bytes = l.engine.store().entry(r.seq).unwrap().unwrap();
        assert_eq!(r.entry_hash, chain_hash(&bytes).to_hex());
        assert_eq!(r.leaf_hash, leaf_hash(&bytes).to_hex());
        r.inclusion_proof.verify(&leaf_hash(&bytes), &cp.checkpoint.root).unwrap();
        assert!(!r.duplicate);
    }
    assert_eq!(
        receipts.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![receipts[0].seq, receipts[0].seq + 1, receipts[0].seq + 2]
    );
}

fn tamper_signature(mut s: ParsedSubmission) -> ParsedSubmission {
    s.signature[10] ^= 1;
    s
}

/// The verifier threads check the batches of concurrent requests in one Ed25519 batch; each
/// batch must still get exactly the answer it gets checked alone, whatever it meets there.
#[test]
fn batches_checked_together_are_answered_as_if_alone() {
    let l = Ledger::new();
    let good = |n: &str| vec![l.sub(&l.keys.withdrawals, withdrawal(&format!("w-{n}")), n)];
    let bad_signature_second = |n: &str| {
        vec![
            l.sub(&l.keys.withdrawals, withdrawal(&format!("w-{n}-1")), &format!("{n}-1")),
            tamper_signature(l.sub(&l.keys.withdrawals, withdrawal(&format!("w-{n}-2")), &format!("{n}-2"))),
        ]
    };
    let mut no_opening = good("no-opening");
    no_opening[0].openings.clear();
    let unknown_key = vec![l.sub(&l.keys.stranger, withdrawal("w-stranger"), "stranger")];
    // Each case with the batches' outcomes alone (true: accepted).
    let cases = vec![
        ("all good", vec![good("a"), good("b"), good("c")], vec![true, true, true]),
        (
            "one bad signature among good batches",
            vec![good("d"), bad_signature_second("e"), good("f")],
            vec![true, false, true],
        ),
        (
            "two batches with bad signatures",
            vec![tamper_signature_all(good("g")), bad_signature_second("h")],
            vec![false, false],
        ),
        ("a bad signature alone", vec![bad_signature_second("i")], vec![false]),
        ("openings refused before the signatures", vec![no_opening, good("j")], vec![false, true]),
        ("a key the registry does not know: left to the sequencer", vec![unknown_key, good("k")], vec![true, true]),
    ];
    for (name, batches, accepted) in cases {
        let alone: Vec<_> = batches.iter().map(|b| l.engine.verify(b.clone())).collect();
        assert_eq!(alone.iter().map(Result::is_ok).collect::<Vec<_>>(), accepted, "{name}");
        let together = l.engine.verify_together(batches);
        assert_eq!(together.len(), alone.len(), "{name}");
        for (i, (t, a)) in together.into_iter().zip(&alone).enumerate() {
            assert_same_answer(t, a, &format!("{name}: batch {i}"));
        }
    }
    // What the verifier threads pass on is appended as `Engine::verify`'s output is.
    let size = l.engine.head().state.size;
    let verified = l.engine.verify_together(vec![good("l"), good("m")]);
    for v in verified {
        l.engine.append_verified_blocking(v.unwrap()).unwrap();
    }
    assert_eq!(l.engine.head().state.size, size + 2);
}

/// The same through the verifier threads, from concurrent callers: batches of every size
/// around the coalescing cap (128 signatures), some with a bad signature, each answered as
/// `Engine::verify` answers it alone, whichever batches it was checked with.
#[test]
fn concurrent_callers_of_the_verifier_threads_get_their_own_answers() {
    let l = Ledger::new();
    let batches: Vec<Vec<ParsedSubmission>> = [1usize, 3, 64, 64, 100, 127, 128, 129, 2, 64, 5, 64]
        .iter()
        .enumerate()
        .map(|(b, &n)| {
            let mut subs: Vec<_> = (0..n)
                .map(|i| l.sub(&l.keys.withdrawals, withdrawal(&format!("w-{b}-{i}")), &format!("c-{b}-{i}")))
                .collect();
            if b % 3 == 1 {
                let last = subs.pop().unwrap();
                subs.push(tamper_signature(last));
            }
            subs
        })
        .collect();
    let alone: Vec<_> = batches.iter().map(|b| l.engine.verify(b.clone())).collect();
    for (i, a) in alone.iter().enumerate() {
        assert_eq!(a.is_ok(), i % 3 != 1, "batch {i}: {a:?}");
    }
    for round in 0..3 {
        // The callers set out together, so that batches meet in the verifier threads' queue.
        let start = std::sync::Barrier::new(batches.len());
        let answers: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = batches
                .iter()
                .map(|b| {
                    let (engine, b, start) = (&l.engine, b.clone(), &start);
                    s.spawn(move || {
                        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                        start.wait();
                        rt.block_on(engine.verify_coalesced(b))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, (t, a)) in answers.into_iter().zip(&alone).enumerate() {
            assert_same_answer(t, a, &format!("round {round}, batch {i}"));
        }
    }
}

/// Two answers to one batch alike: the same verified submissions, or the same refusal.
fn assert_same_answer(
    t: Result<Vec<VerifiedSubmission>, AppendError>,
    a: &Result<Vec<VerifiedSubmission>, AppendError>,
    ctx: &str,
) {
    match (t, a) {
        (Ok(t), Ok(a)) => assert_eq!(format!("{t:?}"), format!("{a:?}"), "{ctx}"),
        (t, a) => assert_eq!(t.map(|_| ()), a.clone().map(|_| ()), "{ctx}"),
    }
}

fn tamper_signature_all(subs: Vec<ParsedSubmission>) -> Vec<ParsedSubmission> {
    subs.into_iter().map(tamper_signature).collect()
}

#[test]
fn rejected_batches_write_nothing() {
    let l = Ledger::new();
    let good = || l.sub(&l.keys.withdrawals, withdrawal("w-good"), "good");
    let mut no_opening = l.sub(&l.keys.withdrawals, withdrawal("w-x"), "no-opening");
    no_opening.openings.clear();
    let mut wrong_opening = l.sub(&l.keys.withdrawals, withdrawal("w-y"), "wrong-opening");
    wrong_opening.openings[0].value = "acct-999".into();
    let huge = json!({"kind": "freeze", "scope": {"target": "wallets", "wallets": (0..600).map(|i| format!("{i:0>120}")).collect::<Vec<_>>()}, "reason": "r"});
    l.engine.append_blocking(vec![l.sub(&l.keys.withdrawals, withdrawal("w-first"), "taken")]).unwrap();
    let size = l.engine.head().state.size;

    let cases: Vec<(&str, ParsedSubmission, RejectCode)> = vec![
        ("never registered", l.sub(&l.keys.stranger, withdrawal("w-1"), "a"), RejectCode::UnknownKey),
        ("revoked", l.sub(&l.keys.retired, alarm(vec![]), "b"), RejectCode::RevokedKey),
        ("kind not allowed", l.sub(&l.keys.risk, withdrawal("w-2"), "c"), RejectCode::KindNotAllowed),
        (
            "bad signature",
            tamper_signature(l.sub(&l.keys.withdrawals, withdrawal("w-3"), "d")),
            RejectCode::BadSignature,
        ),
        ("alarm refers forward", l.sub(&l.keys.risk, alarm(vec![size + 5]), "e"), RejectCode::InvalidEvent),
        ("too large", l.sub(&l.keys.ops, huge, "f"), RejectCode::TooLarge),
        (
            "idempotency key reused",
            l.sub(&l.keys.withdrawals, withdrawal("w-other"), "taken"),
            RejectCode::IdempotencyConflict,
        ),
        ("opening missing", no_opening, RejectCode::BadOpenings),
        ("opening wrong", wrong_opening, RejectCode::BadOpenings),
    ];
    for (name, bad, code) in cases {
        let before = l.engine.head();
        let err = l.engine.append_blocking(vec![good(), bad]).unwrap_err();
        match &err {
            AppendError::Rejected { index, code: got, reason } => {
                assert_eq!((*index, *got), (1, code), "{name}: {reason}");
                assert!(!reason.is_empty());
            }
            other => panic!("{name}: unexpected {other:?}"),
        }
        let after = l.engine.head();
        assert_eq!(after.state, before.state, "{name}: the log changed");
        assert_eq!(after.checkpoint, before.checkpoint, "{name}: a new checkpoint was signed");
        assert_eq!(
            l.engine.store().idempotency("withdrawals", "good").unwrap(),
            None,
            "{name}: the good event's key was consumed"
        );
    }
    // The good event alone is accepted afterwards: nothing of it was left behind.
    assert!(!l.engine.append_blocking(vec![good()]).unwrap()[0].duplicate);
}

#[test]
fn retry_with_same_idempotency_key_returns_the_original() {
    let l = Ledger::new();
    let s = l.sub(&l.keys.withdrawals, withdrawal("w-1"), "retry-me");
    let first = l.engine.append_blocking(vec![s.clone()]).unwrap();
    l.engine.append_blocking(vec![l.sub(&l.keys.withdrawals, withdrawal("w-2"), "other")]).unwrap();
    // A retry resends the very same submission (same salts, same signature).
    let again = l.engine.append_blocking(vec![s.clone()]).unwrap();
    assert_eq!(again[0].seq, first[0].seq);
    assert_eq!(again[0].entry_hash, first[0].entry_hash);
    assert!(again[0].duplicate);
    // The proof in the duplicate's receipt leads to the current checkpoint.
    let cp = checkpoint::verify(again[0].checkpoint.as_bytes(), &l.keys.log.verifier()).unwrap();
    assert_eq!(cp.checkpoint.size, first[0].seq + 2);
    again[0].inclusion_proof.verify(&Digest::from_hex(&again[0].leaf_hash).unwrap(), &cp.checkpoint.root).unwrap();
    // The same event signed anew (a retry after a crash: a new `created_at_ms`, fresh salts) is
    // the same event: the ledger opens both and compares.
    let resign = |k: &vigil_core::keys::SignerKey, account: &str| {
        let mut w = withdrawal("w-1");
        w["account"] = account.into();
        signed(k, Event::from_value(w).unwrap(), "retry-me", T0 + 60_000).unwrap()
    };
    let resigned = resign(&l.keys.withdrawals, "acct-42");
    assert_ne!(resigned.bytes, s.bytes);
    let again = l.engine.append_blocking(vec![resigned]).unwrap();
    assert_eq!((again[0].seq, &again[0].entry_hash, again[0].duplicate), (first[0].seq, &first[0].entry_hash, true));
    // Another account (a private value differs, its commitment alone could not tell): a conflict.
    let other = l.engine.append_blocking(vec![resign(&l.keys.withdrawals, "acct-43")]);
    assert!(matches!(other, Err(AppendError::Rejected { code: RejectCode::IdempotencyConflict, .. })), "{other:?}");
    // A key of the same name the log never registered learns nothing: refused as unknown.
    let impostor = key("withdrawals", 99);
    let refused = l.engine.append_blocking(vec![resign(&impostor, "acct-42")]);
    assert!(matches!(refused, Err(AppendError::Rejected { code: RejectCode::UnknownKey, .. })), "{refused:?}");
    // Twice in one batch: one entry.
    let s3 = l.sub(&l.keys.withdrawals, withdrawal("w-3"), "twice");
    let r = l.engine.append_blocking(vec![s3.clone(), s3]).unwrap();
    assert_eq!(r[0].seq, r[1].seq);
    assert_eq!(l.engine.head().state.size, first[0].seq + 3);
    // After a reopen (the in-memory idempotency filter is rebuilt from the store) a retry is
    // still answered with the original, and a reused key with other content still refused.
    let l = l.reopen();
    let again = l.engine.append_blocking(vec![s]).unwrap();
    assert_eq!((again[0].seq, again[0].duplicate), (first[0].seq, true));
    let reused = l.engine.append_blocking(vec![l.sub(&l.keys.withdrawals, withdrawal("w-9"), "retry-me")]);
    assert!(matches!(reused, Err(AppendError::Rejected { code: RejectCode::IdempotencyConflict, .. })), "{reused:?}");
    assert_eq!(l.engine.head().state.size, first[0].seq + 3);
    // A batch refused after its first events were staged leaves no key of theirs in the
    // in-memory filter (a client retrying it would fill the filter); accepted, they are in it.
    let filter = || l.engine.metrics().idempotency_filter_keys.get();
    let before = filter();
    let fresh = || (0..3).map(|i| l.sub(&l.keys.withdrawals, withdrawal(&format!("f-{i}")), &format!("f{i}")));
    for _ in 0..3 {
        let conflict = l.sub(&l.keys.withdrawals, withdrawal("w-9"), "retry-me");
        let refused = l.engine.append_blocking(fresh().chain([conflict]).collect());
        assert!(matches!(refused, Err(AppendError::Rejected { index: 3, .. })), "{refused:?}");
    }
    assert_eq!(filter(), before);
    l.engine.append_blocking(fresh().collect()).unwrap();
    assert_eq!(filter(), before + 3);
}

#[test]
fn concurrent_appenders_every_entry_present_once_in_one_order() {
    let l = Arc::new(Ledger::new());
    let start = l.engine.head().state.size;
    let threads = 8;
    let batches = 25;
    let per = 4;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let l = l.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for b in 0..batches {
                    let subs = (0..per)
                        .map(|i| {
                            l.sub(&l.keys.withdrawals, withdrawal(&format!("w-{t}-{b}-{i}")), &format!("c-{t}-{b}-{i}"))
                        })
                        .collect();
                    got.extend(l.engine.append_blocking(subs).unwrap());
                }
                got
            })
        })
        .collect();
    let mut receipts: Vec<_> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    receipts.sort_by_key(|r| r.seq);
    let total = (threads * batches * per) as u64;
    assert_eq!(receipts.len() as u64, total);
    // Exactly the sequence numbers start..start+total, each once.
    for (i, r) in receipts.iter().enumerate() {
        assert_eq!(r.seq, start + i as u64);
        let bytes = l.engine.store().entry(r.seq).unwrap().unwrap();
        assert_eq!(chain_hash(&bytes).to_hex(), r.entry_hash);
    }
    assert_eq!(l.engine.head().state.size, start + total);
    let report = verify_data_dir(&l.data_dir(), &l.keys.log.verifier());
    // Read-only open works while the engine has the store open.
    assert_eq!(report.unwrap().size, start + total);
}

#[test]
fn sequencer_time_never_goes_backwards() {
    let l = Ledger::new();
    l.clock.0.store(T0 + 10_000, Ordering::SeqCst);
    let a = l.engine.append_blocking(vec![l.sub(&l.keys.withdrawals, withdrawal("w-a"), "a")]).unwrap();
    l.clock.0.store(T0 + 5_000, Ordering::SeqCst);
    let b = l.engine.append_blocking(vec![l.sub(&l.keys.withdrawals, withdrawal("w-b"), "b")]).unwrap();
    let time = |seq| {
        let bytes = l.engine.store().entry(seq).unwrap().unwrap();
        vigil_core::entry::Entry::decode_header(&bytes).unwrap().time_ms
    };
    assert_eq!(time(a[0].seq), T0 + 10_000);
    assert_eq!(time(b[0].seq), T0 + 10_000, "a clock step back must not move entry time back");
}

#[test]
fn key_changes_take_effect_at_their_position() {
    let l = Ledger::new();
    let risk = l.keys.risk.key_ref.to_string();
    // In one batch: an alarm, the revocation of the risk key, another alarm by it.
    let a1 = l.sub(&l.keys.risk, alarm(vec![]), "k1");
    let rev = l.sub(&l.keys.operator, json!({"kind": "key_revoked", "key": risk, "reason": "compromised"}), "k2");
    let a2 = l.sub(&l.keys.risk, alarm(vec![]), "k3");
    let err = l.engine.append_blocking(vec![a1.clone(), rev.clone(), a2]).unwrap_err();
    assert!(matches!(err, AppendError::Rejected { index: 2, code: RejectCode::RevokedKey, .. }), "{err:?}");
    l.engine.append_blocking(vec![a1, rev]).unwrap();
    // The revoked key signing a logged event anew (another time; for an event with private
    // values, a guess of them) is refused as revoked, not told whether it matches the entry.
    let anew = sub_at(&l.keys.risk, alarm(vec![]), "k1", T0 + 1_000);
    let refused = l.engine.append_blocking(vec![anew]);
    assert!(matches!(refused, Err(AppendError::Rejected { code: RejectCode::RevokedKey, .. })), "{refused:?}");
    // Re-registering with new kinds (by the operator) restores it.
    let reg = l.sub(
        &l.keys.operator,
        json!({"kind": "key_registered", "key": l.keys.risk.verifier().to_vkey(), "kinds": ["alarm", "freeze"]}),
        "k4",
    );
    l.engine.append_blocking(vec![reg]).unwrap();
    l.engine
        .append_blocking(vec![l.sub(
            &l.keys.risk,
            json!({"kind": "freeze", "scope": {"target": "trading"}, "reason": "r"}),
            "k5",
        )])
        .unwrap();
    // A service key cannot register keys.
    let sneaky = l.sub(
        &l.keys.withdrawals,
        json!({"kind": "key_registered", "key": l.keys.stranger.verifier().to_vkey(), "kinds": ["withdrawal"]}),
        "k6",
    );
    assert!(matches!(
        l.engine.append_blocking(vec![sneaky]),
        Err(AppendError::Rejected { code: RejectCode::KindNotAllowed, .. })
    ));
    // A key registered in the batch of its first event was unknown when the batch's signatures
    // were checked: its signature is checked at its position, a bad one refused as such.
    let newcomer = key("newcomer", 42);
    let register = json!({"kind": "key_registered", "key": newcomer.verifier().to_vkey(), "kinds": ["alarm"]});
    let mut forged = l.sub(&newcomer, alarm(vec![]), "n2");
    forged.signature[5] ^= 1;
    let refused = l.engine.append_blocking(vec![l.sub(&l.keys.operator, register.clone(), "n1"), forged]);
    assert!(
        matches!(refused, Err(AppendError::Rejected { index: 1, code: RejectCode::BadSignature, .. })),
        "{refused:?}"
    );
    // So is a retry of its event in the same batch, signed anew (another time): the original's
    // receipt for a good signature, not a conflict; a bad one refused as such.
    let resigned = sub_at(&newcomer, alarm(vec![]), "n2", T0 + 1_000);
    let mut forged = resigned.clone();
    forged.signature[5] ^= 1;
    let batch = |retry: &ParsedSubmission| {
        let subs = vec![l.sub(&l.keys.operator, register.clone(), "n1"), l.sub(&newcomer, alarm(vec![]), "n2")];
        // Verified together, before the registration is in any head: the new key is unknown.
        let verified = l.engine.verify(subs.into_iter().chain([retry.clone()]).collect()).unwrap();
        l.engine.append_verified_blocking(verified)
    };
    let refused = batch(&forged);
    assert!(
        matches!(refused, Err(AppendError::Rejected { index: 2, code: RejectCode::BadSignature, .. })),
        "{refused:?}"
    );
    let r = batch(&resigned).unwrap();
    assert_eq!((r.len(), r[2].seq, r[2].duplicate), (3, r[1].seq, true));
    // All of it verifies, and survives a reopen (the registry is rebuilt from the log).
    verify_data_dir(&l.data_dir(), &l.keys.log.verifier()).unwrap();
    let l = l.reopen();
    assert!(matches!(
        l.engine.append_blocking(vec![l.sub(&l.keys.retired, alarm(vec![]), "k7")]),
        Err(AppendError::Rejected { code: RejectCode::RevokedKey, .. })
    ));
    l.engine.append_blocking(vec![l.sub(&l.keys.risk, alarm(vec![]), "k8")]).unwrap();
}

#[test]
fn a_new_log_accepts_only_a_genesis_entry_first() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    let clock = Arc::new(FixedClock(T0.into()));
    let e = vigil::engine::Engine::open(dir.path(), engine_config(&keys, clock)).unwrap();
    let s = vigil::client::signed(
        &keys.withdrawals,
        vigil_core::event::Event::from_value(withdrawal("w")).unwrap(),
        "x",
        T0,
    )
    .unwrap();
    assert!(matches!(e.append_blocking(vec![s]), Err(AppendError::Rejected { code: RejectCode::Genesis, .. })));
    assert_eq!(e.head().state.size, 0);
}

/// A signature whose R has a small-order component (R' = rB + T) is the case where the
/// cofactorless single check and cofactorless batch verification disagree (the batch accepts
/// it about half the time). Under ZIP-215 (docs/FORMAT.md §3.2) both the single check and the
/// batch are cofactored and agree: the engine, which verifies in batches, acknowledges such an
/// entry only if `vigil verify`, which applies the same rule, accepts it too — and the log
/// verifies. A signature that is wrong outright is refused with the batch's fallback naming it.
#[test]
fn single_and_batch_verification_agree_on_a_small_order_component() {
    use base64::prelude::{Engine as _, BASE64_STANDARD};
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::scalar::{clamp_integer, Scalar};
    use sha2::{Digest as _, Sha512};
    let l = Ledger::new();
    // The withdrawals key's secret scalar, from its seed as RFC 8032 derives it.
    let h = Sha512::digest([3u8; 32]);
    let a = Scalar::from_bytes_mod_order(clamp_integer(h[..32].try_into().unwrap()));
    let public = l.keys.withdrawals.verifier().key;
    assert_eq!((a * ED25519_BASEPOINT_POINT).compress().to_bytes(), public.to_bytes());
    let mut subs = Vec::new();
    for attempt in 0..8u8 {
        let ev = vigil_core::event::Event::from_value(withdrawal(&format!("w-t{attempt}"))).unwrap();
        let mut sub = vigil::client::sign_event(&l.keys.withdrawals, ev, &format!("t{attempt}"), T0).unwrap();
        let msg = vigil_core::statement::signing_message(&sub.clone().parse().unwrap().bytes);
        // Sign by hand with R' = rB + T, T of order 2.
        let r = Scalar::from_bytes_mod_order_wide(&Sha512::digest([&[attempt][..], &msg].concat()).into());
        let big_r = (r * ED25519_BASEPOINT_POINT + EIGHT_TORSION[4]).compress();
        let k = Scalar::from_hash(
            Sha512::new().chain_update(big_r.as_bytes()).chain_update(public.as_bytes()).chain_update(&msg),
        );
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(big_r.as_bytes());
        sig[32..].copy_from_slice((r + k * a).as_bytes());
        let key = l.keys.withdrawals.verifier();
        assert!(vigil_core::statement::verify_message(&key, &msg, &sig), "ZIP-215 accepts it singly");
        assert!(vigil_core::statement::verify_batch([(&key, &msg[..], &sig)], rand::thread_rng()), "and in a batch");
        sub.signature = BASE64_STANDARD.encode(sig);
        subs.push(sub.parse().unwrap());
    }
    l.engine.append_blocking(subs).unwrap();
    let report = vigil::verify::verify_data_dir(&l.data_dir(), &l.keys.log.verifier()).unwrap();
    assert_eq!(report.size, l.engine.head().state.size);

    // A wrong signature in the middle of a batch: refused, named, nothing written.
    let mut batch: Vec<_> =
        (0..5).map(|j| l.sub(&l.keys.withdrawals, withdrawal(&format!("w-b{j}")), &format!("b{j}"))).collect();
    batch[3].signature[40] ^= 1;
    let before = l.engine.head().state;
    match l.engine.append_blocking(batch) {
        Err(AppendError::Rejected { index: 3, code: RejectCode::BadSignature, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(l.engine.head().state, before, "nothing was written");
}
