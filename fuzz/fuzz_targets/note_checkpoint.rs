//! Checkpoints in signed notes (docs/FORMAT.md §6): `checkpoint::verify` against the fixed log
//! key, `Checkpoint::parse_body`, `checkpoint::cosignature_timestamp`, and the witness side of
//! a verifier: `witness::verify_witnessed` under a fixed policy, `witness::accept_cosignatures`
//! (the input as a witness's answer to a fixed note, and as a note), `witness::cosign`.
//!
//! Round trips and properties: a parsed body prints back to itself (`Checkpoint::body`); a note
//! that verifies is signed by the log over exactly that body, so its size and root are the fixed
//! tree's; what `cosign` makes, `accept_cosignatures` accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::checkpoint::{self, Checkpoint, CosignatureVerifier};
use vigil_core::witness::{accept_cosignatures, cosign, verify_witnessed};
use vigil_fuzz::{split, LOG_KEY, NOTE5, NOW_S, POLICY, TREE, TREE_SIZE, WITNESSES};

fuzz_target!(|data: &[u8]| {
    let _ = checkpoint::cosignature_timestamp(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cp) = Checkpoint::parse_body(text) {
            assert_eq!(cp.body(), text, "checkpoint body round trip");
        }
    }
    let log = LOG_KEY.verifier();
    if let Ok(signed) = checkpoint::verify(data, &log) {
        // The seeds are notes the fixed log key signed over the fixed tree's checkpoints: a
        // verified note can only be one of those (or the fuzzer forged an Ed25519 signature).
        let cp = &signed.checkpoint;
        assert!(cp.size <= TREE_SIZE && cp.root == TREE.root(cp.size), "a verified checkpoint the log never signed");
    }
    let _ = verify_witnessed(data, &log, &POLICY);
    let w = CosignatureVerifier::from_signer(&WITNESSES[0]);
    // The input as the answer of witness 0 to the log's checkpoint of size 5.
    let _ = accept_cosignatures(&NOTE5, data, &w);
    // The input as a note, then "\n\n" and a witness's answer (a note ends with "\n").
    let (n, answer) = split(data, b"\n\n\n");
    let _ = accept_cosignatures(n, answer, &w);
    if let Ok(line) = cosign(data, &WITNESSES[0], NOW_S) {
        let got = accept_cosignatures(data, &line, &w).expect("a witness's own cosignature is accepted");
        assert_eq!(got, line);
    }
});
