//! A witness's `add-checkpoint` requests (C2SP tlog-witness, docs/FORMAT.md §6.1):
//! `witness::AddCheckpoint::parse`, then `AddCheckpoint::origin`, `verify_signature` against the
//! fixed log key and `check_against` the latest checkpoint the witness cosigned (none, or size
//! 5 of the fixed tree), as the witness server runs them; `WitnessError::status`.
//!
//! Properties: parsing is strict, so a parsed request prints back to the input
//! (`AddCheckpoint::to_bytes`); a request the witness accepts leads from its latest checkpoint
//! to one on the same tree (the witness never cosigns a fork or a rollback).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::witness::{AddCheckpoint, Latest};
use vigil_fuzz::{LOG_KEY, TREE, TREE_SIZE, WITNESS_LATEST};

fuzz_target!(|data: &[u8]| {
    let req = match AddCheckpoint::parse(data) {
        Ok(r) => r,
        Err(e) => {
            assert_eq!(e.status(), 400);
            return;
        }
    };
    assert_eq!(req.to_bytes(), data, "request round trip");
    let _ = req.origin();
    let signed = match req.verify_signature(&LOG_KEY.verifier()) {
        Ok(s) => s,
        Err(e) => {
            assert!(matches!(e.status(), 400 | 403));
            return;
        }
    };
    let cp = &signed.checkpoint;
    assert!(cp.size <= TREE_SIZE && cp.root == TREE.root(cp.size), "a verified checkpoint the log never signed");
    let latest = Latest { size: WITNESS_LATEST, root: TREE.root(WITNESS_LATEST) };
    // A fork of the latest: another root at the same size.
    let forked = Latest { size: WITNESS_LATEST, root: vigil_fuzz::FORK.root(WITNESS_LATEST) };
    for l in [None, Some(latest), Some(forked)] {
        match req.check_against(cp, l) {
            Ok(()) => {
                let (size, root) = l.map_or((0, TREE.root(0)), |l| (l.size, l.root));
                assert_eq!(req.old_size, size);
                assert!(cp.size >= size, "a rollback accepted");
                assert_eq!(TREE.root(size), root, "a request from a fork accepted");
            }
            Err(e) => assert!(matches!(e.status(), 400 | 409 | 422), "{e}"),
        }
    }
});
