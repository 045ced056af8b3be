//! A whole log through the verifier (docs/FORMAT.md §4, §7, §3.8): statements given as JSON
//! lines are signed with the fixed key they name (the fuzzer cannot forge signatures, so the
//! harness signs) and appended as entries to `verifier::LogVerifier` twice, by `push` and by
//! `push_deferred` + `PendingSignature::check`; accepted events go to `audit::Auditor::push`,
//! `facts::{incident_facts, safu_history}`. Before the lines, an optional saved verifier state
//! (`verifier::SavedVerifier`, JSON, as `vigil verify --state` reads it) to resume from
//! (`LogVerifier::resume`), ended by an empty line.
//!
//! Properties: `push` and `push_deferred` + the signature check accept the same entries and
//! refuse the others with the same error; `statement::verify_batch` agrees with the single
//! checks; a saved state resumes to the same verifier (save → JSON → resume → save).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::audit::Auditor;
use vigil_core::entry::Entry;
use vigil_core::event::Event;
use vigil_core::facts::{incident_facts, safu_history, Item};
use vigil_core::statement::{self, Statement};
use vigil_core::verifier::{LogVerifier, SavedVerifier};
use vigil_fuzz::{signer_of, split, CountingRng, STRANGER};

thread_local! {
    /// Signatures already made: most inputs repeat most lines of an earlier one, and Ed25519
    /// under the sanitizers is this target's main cost.
    static SIGNED: std::cell::RefCell<std::collections::HashMap<Vec<u8>, [u8; 64]>> = Default::default();
}

/// The statement signed by the fixed key it names (a stranger's when it names none of them).
fn sign(st: &Statement, bytes: &[u8]) -> [u8; 64] {
    SIGNED.with_borrow_mut(|m| {
        if m.len() > 100_000 {
            m.clear();
        }
        *m.entry(bytes.to_vec()).or_insert_with(|| statement::sign(signer_of(&st.key).unwrap_or(&STRANGER), bytes))
    })
}

fn resumes_to_itself(v: &LogVerifier) {
    let saved = v.save();
    let json = serde_json::to_vec(&saved).expect("a state serializes");
    let back: SavedVerifier = serde_json::from_slice(&json).expect("a saved state parses");
    assert_eq!(back, saved, "state JSON round trip");
    let r = LogVerifier::resume(&back).expect("a saved state resumes");
    assert_eq!(r.save(), saved, "state resume round trip");
    assert_eq!((r.size(), r.root(), r.last_hash()), (v.size(), v.root(), v.last_hash()));
}

fuzz_target!(|data: &[u8]| {
    let (state, lines) = split(data, b"\n\n");
    let mut v = if state.is_empty() {
        LogVerifier::new()
    } else {
        let Ok(saved) = serde_json::from_slice::<SavedVerifier>(state) else { return };
        let Ok(v) = LogVerifier::resume(&saved) else { return };
        resumes_to_itself(&v);
        v
    };
    let mut deferred = v.clone();
    let mut pending = Vec::new();
    let mut auditor = Auditor::new();
    let mut accepted: Vec<(u64, u64, Event)> = Vec::new();
    for line in lines.split(|&b| b == b'\n') {
        let Ok(value) = vigil_core::canonical::parse_json(line) else { continue };
        let Ok(st) = Statement::from_value(value) else { continue };
        let Ok(bytes) = st.to_bytes() else { continue };
        let sig = sign(&st, &bytes);
        let (seq, time) = (v.size(), st.created_at_ms);
        let Ok(entry) = Entry::encode_parts(seq, time, &v.last_hash(), &sig, &bytes) else { continue };
        let single = v.push(&entry);
        match (single, deferred.push_deferred(&entry)) {
            (Ok((e, s)), Ok((e2, s2, p))) => {
                assert_eq!((&e, &s), (&e2, &s2));
                assert_eq!(p.check(), Ok(()), "push accepted a signature the deferred check refuses");
                pending.push(p);
                auditor.push(seq, &s.event);
                accepted.push((seq, time, s.event));
            }
            (Ok(_), Err(e)) => panic!("push accepted, push_deferred refused: {e}"),
            (Err(e), Ok((_, _, p))) => {
                assert_eq!(p.check(), Err(e), "push refused what push_deferred and its check accept");
                deferred = v.clone();
            }
            (Err(e), Err(e2)) => assert_eq!(e, e2, "push and push_deferred refuse differently"),
        }
        assert_eq!((v.size(), v.root()), (deferred.size(), deferred.root()));
    }
    assert!(statement::verify_batch(pending.iter().map(|p| p.parts()), CountingRng(v.size())));
    resumes_to_itself(&v);
    let items: Vec<Item> =
        accepted.iter().map(|(seq, time_ms, event)| Item { seq: *seq, time_ms: *time_ms, event }).collect();
    for incident in auditor.incidents() {
        let _ = incident_facts(&incident, &items);
    }
    let _ = safu_history(&items);
    let _ = auditor.finish();
});
