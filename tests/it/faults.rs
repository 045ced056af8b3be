//! Fault injection below the engine: a store whose write fails, whose write fails after
//! persisting its batch, or whose sync fails (before or after syncing), at a table of steps.
//! After each: the failing appends and every later one are refused with an error that names
//! the failure, nothing is acknowledged that is not durable; then the data dir is closed and
//! re-checked in full (the log verifies end to end, every acknowledged entry is there with its
//! hash, every checkpoint handed out is a prefix of it) and opened again, or recovered in
//! process by `Engine::recover`; either way, retrying every refused event lands each event
//! exactly once.

use crate::crash::check_after_crash;
use crate::support::*;
use std::sync::{Arc, Mutex};
use vigil::engine::{AppendError, Engine};
use vigil::store::{Fault, Store};
use vigil_core::event::Event;
use vigil_core::statement::ParsedSubmission;

/// Appending threads and batches per thread in a step.
const THREADS: usize = 4;
const BATCHES: usize = 12;
const BATCH: usize = 3;

/// One step of the table: the store fails at the `at`-th write or sync after the ledger's
/// bootstrap, while four threads append.
fn run_step(fault: Fault, at: u64, in_process: bool) {
    let recovery = if in_process { "recovered in process" } else { "reopened" };
    let step = format!("{fault:?} at {at}, {recovery}");
    let ledger = Ledger::new();
    let Ledger { dir, engine, keys, clock } = ledger;
    let base = engine.head().state.size;
    drop(engine);
    let data = dir.path().join("data");
    let store = Store::open(&data).unwrap().inject(fault, at);
    let engine = Arc::new(Engine::open_store(store, engine_config(&keys, clock.clone())).unwrap());

    // (seq, entry hash, checkpoint) acknowledged; the batches refused, as submitted.
    let acked: Arc<Mutex<Vec<(u64, String, String)>>> = Arc::default();
    let refused: Arc<Mutex<Vec<Vec<ParsedSubmission>>>> = Arc::default();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (engine, key, acked, refused, step) =
                (engine.clone(), keys.withdrawals.clone(), acked.clone(), refused.clone(), step.clone());
            std::thread::spawn(move || {
                for b in 0..BATCHES {
                    let ids: Vec<String> = (0..BATCH).map(|i| format!("t{t}-b{b}-{i}")).collect();
                    let subs: Vec<ParsedSubmission> = ids
                        .iter()
                        .map(|id| {
                            vigil::client::signed(&key, Event::from_value(withdrawal(id)).unwrap(), id, T0).unwrap()
                        })
                        .collect();
                    match engine.append_blocking(subs.clone()) {
                        Ok(receipts) => acked
                            .lock()
                            .unwrap()
                            .extend(receipts.into_iter().map(|r| (r.seq, r.entry_hash, r.checkpoint))),
                        Err(AppendError::Storage(e)) => {
                            assert!(
                                e.contains("injected fault")
                                    || e.contains("the ledger stopped after a storage failure"),
                                "{step}: the refusal does not name the failure: {e}"
                            );
                            refused.lock().unwrap().push(subs);
                        }
                        Err(e) => panic!("{step}: refused for another reason: {e}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (acked, refused) = (acked.lock().unwrap().clone(), refused.lock().unwrap().clone());
    assert!(!refused.is_empty(), "{step}: the fault was never hit");
    // Once failed, the engine stays failed and says so; reads still answer the durable head.
    let head = engine.head().state.size;
    assert!(acked.iter().all(|(seq, ..)| *seq < head), "{step}: an acknowledged entry is beyond the head {head}");
    let late =
        vigil::client::signed(&keys.withdrawals, Event::from_value(withdrawal("late")).unwrap(), "late", T0).unwrap();
    match engine.append_blocking(vec![late]) {
        Err(AppendError::Storage(e)) => {
            assert!(e.contains("once recovered") && e.contains(&fault.to_string()), "{step}: {e}")
        }
        other => panic!("{step}: a failed engine accepted an append: {other:?}"),
    }
    assert_eq!(engine.head().state.size, head, "{step}: the head moved after the failure");
    assert!(engine.failure().is_some_and(|f| f.contains(&fault.to_string())), "{step}: {:?}", engine.failure());

    // Recovery: in process (`Engine::recover` reopens the store, here without the fault), or
    // closed, re-checked in full on disk, and opened again.
    let (engine, persisted) = if in_process {
        assert!(
            engine.recover().unwrap_or_else(|e| panic!("{step}: recovery failed: {e}")),
            "{step}: nothing to recover"
        );
        assert_eq!(engine.failure(), None, "{step}");
        let persisted = engine.head().state.size;
        (engine, persisted)
    } else {
        drop(Arc::into_inner(engine).expect("the threads are done"));
        let (persisted, _) = check_after_crash(&data, &keys, &acked, &step);
        (Arc::new(Engine::open(&data, engine_config(&keys, clock.clone())).unwrap()), persisted)
    };
    assert!(persisted >= head, "{step}: the durable head {head} was rolled back to {persisted}");
    // Every refused event, sent again as it was (its commitments' salts are random, so it is
    // not signed anew), lands exactly once: those whose batch persisted before the failure
    // come back as duplicates of the stored entry.
    let mut duplicates = 0;
    let mut acked = acked;
    for subs in refused {
        let receipts = engine.append_blocking(subs).unwrap_or_else(|e| panic!("{step}: retry refused: {e}"));
        duplicates += receipts.iter().filter(|r| r.duplicate).count() as u64;
        acked.extend(receipts.into_iter().map(|r| (r.seq, r.entry_hash, r.checkpoint)));
    }
    let events = (THREADS * BATCHES * BATCH) as u64;
    assert_eq!(engine.head().state.size, base + events, "{step}: not every event is in the log exactly once");
    assert_eq!(duplicates, persisted - head, "{step}: the entries persisted but refused are not the duplicates");
    drop(Arc::into_inner(engine).expect("one engine"));
    check_after_crash(&data, &keys, &acked, &step);
    drop(dir);
}

#[test]
fn every_storage_fault_step_is_refused_and_the_log_recovers_whole() {
    // Steps count the writes (or syncs) after the engine reopened on the injected store: the
    // first, an early one while groups are in flight, and a later one.
    let mut steps = Vec::new();
    for fault in
        [Fault::WriteFails, Fault::WriteFailsAfterPersisting, Fault::SyncFails, Fault::SyncFailsAfterPersisting]
    {
        for at in [1, 2, 5] {
            for in_process in [false, true] {
                steps.push((fault, at, in_process));
            }
        }
    }
    for (fault, at, in_process) in steps {
        run_step(fault, at, in_process);
    }
}

/// The syncer's own durable mark (written when no group follows a synced one within 2 ms)
/// failing stops the engine like any storage failure: what was answered stays answered, later
/// appends are refused naming the failure, and readers of the data dir keep the mark made
/// before. `Engine::recover` marks the recovered head durable, in its own synced write.
#[test]
fn a_failed_durable_mark_stops_the_engine_and_recovery_marks_the_head() {
    let Ledger { dir, engine, keys, clock } = Ledger::new();
    drop(engine);
    let data = dir.path().join("data");
    let store = Store::open(&data).unwrap().inject(Fault::MarkFails, 1);
    let engine = Engine::open_store(store, engine_config(&keys, clock.clone())).unwrap();
    let sub = |id: &str| {
        vigil::client::signed(&keys.withdrawals, Event::from_value(withdrawal(id)).unwrap(), id, T0).unwrap()
    };
    // The newest checkpoint readers of the data dir keep: its size.
    let marked = || {
        let note = Store::open_read_only(&data).unwrap().durable_checkpoint().unwrap().expect("a mark");
        note_size(&note)
    };
    let opened = engine.head().state.size;
    assert_eq!(marked(), opened, "the open marks the head it recovered");

    let receipts = engine.append_blocking(vec![sub("answered")]).unwrap();
    assert_eq!(receipts[0].seq, opened);
    // No group follows: the syncer marks the new head itself, and the mark fails.
    wait_until("the failed mark stops the engine", || engine.failure().is_some());
    let failure = engine.failure().expect("the failed mark stopped the engine");
    assert!(failure.contains(&Fault::MarkFails.to_string()), "{failure}");
    match engine.append_blocking(vec![sub("late")]) {
        Err(AppendError::Storage(e)) => assert!(e.contains("once recovered") && e.contains(&failure), "{e}"),
        other => panic!("a failed engine accepted an append: {other:?}"),
    }
    assert_eq!(engine.head().state.size, opened + 1, "what was answered stays the head");
    assert_eq!(marked(), opened, "readers keep the mark made before the failure");

    assert!(engine.recover().unwrap(), "nothing to recover");
    assert_eq!(marked(), opened + 1, "recovery marks the head it recovered");
    let receipts = engine.append_blocking(vec![sub("late")]).unwrap();
    assert_eq!(receipts[0].seq, opened + 1, "the refused append lands after recovery");
    drop(engine);
    drop(dir);
}
