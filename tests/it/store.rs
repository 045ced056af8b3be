//! The RocksDB store: reopening, tampering, format versions.

use crate::support::*;
use vigil::engine::Engine;
use vigil::verify::{verify_data_dir, VerifyFailure};

#[test]
fn reopen_keeps_the_log_and_its_checkpoint() {
    let l = Ledger::new();
    l.engine.append_blocking(vec![l.sub(&l.keys.withdrawals, withdrawal("w-1"), "a")]).unwrap();
    let before = l.engine.head();
    let l = l.reopen();
    assert_flushed(&l.data_dir(), has_direct_io(&l.data_dir()));
    let after = l.engine.head();
    assert_eq!(after.state, before.state);
    assert_eq!(after.checkpoint, before.checkpoint);
    let r = l.engine.append_blocking(vec![l.sub(&l.keys.withdrawals, withdrawal("w-2"), "b")]).unwrap();
    assert_eq!(r[0].seq, before.state.size);
    assert_eq!(verify_data_dir(&l.data_dir(), &l.keys.log.verifier()).unwrap().size, before.state.size + 1);
}

/// Rewrites one stored entry with a flipped byte, through raw RocksDB.
fn tamper_entry(l: Ledger, seq: u64, offset: usize) -> Ledger {
    let Ledger { dir, engine, keys, clock } = l;
    drop(engine);
    edit_stored_entry(&dir.path().join("data"), seq, |v| v[offset] ^= 0x20);
    let engine = Engine::open(&dir.path().join("data"), engine_config(&keys, clock.clone()));
    match engine {
        Ok(engine) => Ledger { dir, engine, keys, clock },
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_tampered_tail_refuses_to_open() {
    let l = Ledger::new();
    l.engine.append_blocking(vec![l.sub(&l.keys.withdrawals, withdrawal("w-1"), "a")]).unwrap();
    let last = l.engine.head().state.size - 1;
    let Ledger { dir, engine, keys, clock } = l;
    drop(engine);
    edit_stored_entry(&dir.path().join("data"), last, |v| {
        let n = v.len();
        v[n - 3] ^= 0x01
    });
    let err = Engine::open(&dir.path().join("data"), engine_config(&keys, clock)).err().expect("must refuse");
    let msg = err.to_string();
    assert!(msg.contains("refusing to serve") && msg.contains(&format!("entry {last}")), "{msg}");
}

#[test]
fn a_tampered_entry_inside_the_log_is_found_by_verification() {
    // Bootstrap fills entries 0..=5; withdrawals are 6..=10. The tail check on open cannot see
    // a change deep inside the log (key entries are re-read on open, so a damaged key entry
    // refuses to open: tested below); full verification must, naming the first bad entry.
    let cases: &[(u64, usize, &str)] = &[
        (7, 130, "entry 7: "),                                   // statement byte: decode/signature
        (4, 20, "entry 4: prev does not match hash of entry 3"), // prev byte
        (8, 5, "entry 8: carries sequence number"),              // seq byte
        (9, 10, "entry 10: time"),                               // entry 9 jumps ahead; 10 goes back
    ];
    for &(seq, offset, want) in cases {
        let l = tamper_entry(Ledger::new_with_withdrawals(5), seq, offset);
        match verify_data_dir(&l.data_dir(), &l.keys.log.verifier()) {
            Err(VerifyFailure::Failed(m)) => assert!(m.starts_with(want), "{m} (wanted {want})"),
            other => panic!("tampering at {seq}/{offset} not detected: {other:?}"),
        }
    }
}

impl Ledger {
    pub fn new_with_withdrawals(n: usize) -> Ledger {
        let l = Ledger::new();
        for i in 0..n {
            l.engine
                .append_blocking(vec![l.sub(&l.keys.withdrawals, withdrawal(&format!("w-{i}")), &format!("k{i}"))])
                .unwrap();
        }
        l
    }
}

/// A store of version 3 (no durable mark) is read as it is, and upgraded by the engine's open:
/// version 4, its checkpoint marked.
#[test]
fn a_version_3_store_is_upgraded_when_opened() {
    let Ledger { dir, engine, keys, clock } = Ledger::new_with_withdrawals(2);
    let head = engine.head();
    drop(engine);
    let data = dir.path().join("data");
    let version = |db: &rocksdb::DB| {
        let cf = db.cf_handle("meta").unwrap();
        (db.get_cf(cf, b"format_version").unwrap().unwrap(), db.get_cf(cf, b"durable").unwrap())
    };
    {
        let db = raw_db(&data);
        let cf = db.cf_handle("meta").unwrap();
        db.put_cf(cf, b"format_version", 3u32.to_be_bytes()).unwrap();
        db.delete_cf(cf, b"durable").unwrap();
    }
    let read = vigil::store::Store::open_read_only(&data).unwrap();
    assert_eq!(read.durable_checkpoint().unwrap(), Some(head.checkpoint.clone()), "no mark: the last checkpoint");
    drop(read);
    assert_eq!(version(&raw_db(&data)), (3u32.to_be_bytes().to_vec(), None), "a reader changes nothing");
    // A log this engine refuses (another log key) is left as it was, for the build that wrote it.
    let mut other = engine_config(&keys, clock.clone());
    other.log_key = key(&keys.log.key_ref.name, 66);
    assert!(Engine::open(&data, other).is_err());
    assert_eq!(version(&raw_db(&data)), (3u32.to_be_bytes().to_vec(), None), "a refused open upgraded the store");
    drop(Engine::open(&data, engine_config(&keys, clock)).unwrap());
    assert_eq!(version(&raw_db(&data)), (4u32.to_be_bytes().to_vec(), Some(head.checkpoint.clone())));
}

#[test]
fn an_unknown_format_version_is_refused() {
    let l = Ledger::new();
    let Ledger { dir, engine, keys, clock } = l;
    drop(engine);
    {
        let db = raw_db(&dir.path().join("data"));
        let cf = db.cf_handle("meta").unwrap();
        db.put_cf(cf, b"format_version", 99u32.to_be_bytes()).unwrap();
    }
    let msg =
        Engine::open(&dir.path().join("data"), engine_config(&keys, clock)).err().expect("must refuse").to_string();
    assert!(
        msg.contains("format version 99")
            && msg.contains(&format!("reads version {}", vigil::store::STORE_FORMAT_VERSION)),
        "{msg}"
    );
}

#[test]
fn a_different_log_key_refuses_to_open() {
    let l = Ledger::new();
    let Ledger { dir, engine, mut keys, clock } = l;
    drop(engine);
    keys.log = key("test.example/log", 99);
    let msg =
        Engine::open(&dir.path().join("data"), engine_config(&keys, clock)).err().expect("must refuse").to_string();
    assert!(msg.contains("does not verify with log key"), "{msg}");
}

#[test]
fn a_damaged_key_entry_refuses_to_open() {
    let l = Ledger::new_with_withdrawals(1);
    let Ledger { dir, engine, keys, clock } = l;
    drop(engine);
    edit_stored_entry(&dir.path().join("data"), 3, |v| v[130] ^= 0x20);
    let msg =
        Engine::open(&dir.path().join("data"), engine_config(&keys, clock)).err().expect("must refuse").to_string();
    assert!(msg.contains("refusing to serve") && msg.contains("entry 3"), "{msg}");
}

/// Index and openings records are packed per write batch (several entries per RocksDB key):
/// every page of the kind index and every entry's openings must come out as if they were one
/// key per entry, across record boundaries and batch sizes.
#[test]
fn packed_indexes_and_openings_read_back_per_entry() {
    use vigil_core::entry::Entry;
    use vigil_core::event::{Opening, Private};
    let l = Ledger::new();
    let mut n = 0;
    // Batch sizes that cross the 64-openings record size and the 256-entry chunk boundary
    // (once, and twice in one batch), with alarms (no openings) between.
    for size in [1usize, 70, 130, 3, 64, 600] {
        let mut subs: Vec<_> = (n..n + size)
            .map(|i| l.sub(&l.keys.withdrawals, withdrawal(&format!("w-{i}")), &format!("k{i}")))
            .collect();
        subs.push(l.sub(&l.keys.risk, alarm(vec![]), &format!("a{n}")));
        n += size;
        l.engine.append_blocking(subs).unwrap();
    }
    let store = l.engine.store();
    let size = l.engine.head().state.size;
    let mut withdrawals = Vec::new();
    for seq in 0..size {
        let bytes = store.entry(seq).unwrap().unwrap();
        let (_, st) = Entry::decode(&bytes).unwrap();
        let openings = store.openings(seq).unwrap();
        if st.event.kind().as_str() == "withdrawal" {
            withdrawals.push(seq);
            let openings: Vec<Opening> = serde_json::from_slice(&openings.expect("a withdrawal has openings")).unwrap();
            let fields = st.event.private_fields();
            assert_eq!(openings.len(), fields.len(), "entry {seq}");
            for (o, (_, p)) in openings.iter().zip(fields) {
                let Private::Committed(c) = p else { panic!("entry {seq}: clear private value") };
                assert!(o.opens(c), "entry {seq}: the stored opening does not open its commitment");
            }
        } else {
            assert_eq!(openings, None, "entry {seq} has no private fields");
        }
    }
    assert_eq!(withdrawals.len(), n);
    // Ranges of entries read back as the single reads do, across chunks and past the end.
    let one_by_one: Vec<(u64, Vec<u8>)> = (0..size).map(|s| (s, store.entry(s).unwrap().unwrap())).collect();
    for (from, to) in [(0, size), (0, 1), (255, 257), (250, 600), (511, 513), (size - 1, size + 5), (size, size + 5)] {
        let got: Vec<_> = store.entries(from, to).map(Result::unwrap).collect();
        assert_eq!(got, one_by_one[from as usize..to.min(size) as usize], "entries({from}, {to})");
    }
    assert_eq!(store.entry(size).unwrap(), None);
    // (after, limit) pages of the kind index, against the list decoded from the entries.
    for after in [None, Some(0), Some(withdrawals[0]), Some(withdrawals[5]), Some(withdrawals[70]), Some(size)] {
        for limit in [1, 7, 64, 1000] {
            let want: Vec<u64> =
                withdrawals.iter().copied().filter(|&s| after.is_none_or(|a| s > a)).take(limit).collect();
            assert_eq!(store.by_kind("withdrawal", after, limit).unwrap(), want, "after {after:?}, limit {limit}");
        }
    }
}

/// Signatures are checked in parallel batches; the first bad entry is still the one reported,
/// whichever thread finds which failure first.
#[test]
fn the_first_bad_signature_is_reported_across_parallel_batches() {
    let l = Ledger::new();
    let subs: Vec<_> =
        (0..5000).map(|i| l.sub(&l.keys.withdrawals, withdrawal(&format!("w-{i}")), &format!("k{i}"))).collect();
    for chunk in subs.chunks(1000) {
        l.engine.append_blocking(chunk.to_vec()).unwrap();
    }
    // Flip one byte of the signature (header offset 49..113) of entries 4500 and 3000.
    let l = tamper_entry(tamper_entry(l, 4500, 60), 3000, 60);
    match verify_data_dir(&l.data_dir(), &l.keys.log.verifier()) {
        Err(VerifyFailure::Failed(m)) => assert!(m.starts_with("entry 3000: signature by withdrawals"), "{m}"),
        other => panic!("not detected: {other:?}"),
    }
}

/// A reader of a live data dir sees a group written but not yet synced (a power cut could take
/// it back), and keeps only a checkpoint marked durable: `verify --state` saves, and `export`
/// writes, the one before it until the group's sync; then the newer one.
#[test]
fn readers_keep_only_the_checkpoint_marked_durable() {
    use vigil::verify::verify_data_dir_incremental;
    let l = Ledger::new_with_withdrawals(3);
    let (data, key) = (l.data_dir(), l.keys.log.verifier());
    let durable = l.engine.head();
    let size = durable.state.size;
    let state = l.dir.path().join("state.json");
    let bundle = l.dir.path().join("log.bundle");
    let saved = || serde_json::from_slice::<vigil::verify::SavedState>(&std::fs::read(&state).unwrap()).unwrap();
    let held = l.engine.hold_syncs();
    std::thread::scope(|s| {
        let pending = s.spawn(|| l.engine.append_blocking(vec![l.sub(&l.keys.withdrawals, withdrawal("w-x"), "x")]));
        // Written, its WAL record in the file as in the instant before a sync's fsync: a reader
        // sees the new group's checkpoint as the stored one.
        wait_until("the group to be written", || {
            l.engine.store().write_out_wal().unwrap();
            vigil::store::Store::open_read_only(&data).unwrap().state().unwrap().unwrap().size > size
        });
        assert_eq!(verify_data_dir(&data, &key).unwrap().size, size + 1, "a plain verify checks the newest");
        assert_eq!(verify_data_dir_incremental(&data, &key, &state).unwrap().size, size);
        assert_eq!(saved().checkpoint.as_bytes(), durable.checkpoint.as_slice());
        assert_eq!(vigil::export::export(&data, &bundle).unwrap(), (size, size + 1));
        drop(held);
        pending.join().unwrap().unwrap();
    });
    // Answered, so synced, and marked a moment later: both move on.
    wait_marked(&data, size + 1);
    assert_eq!(verify_data_dir_incremental(&data, &key, &state).unwrap().size, size + 1);
    let newest = l.engine.head().checkpoint.clone();
    assert_eq!(saved().checkpoint.as_bytes(), newest.as_slice());
    assert_eq!(vigil::export::export(&data, &bundle).unwrap(), (size + 1, size + 1));
    // A mark behind what a reader kept (kept from the server before its mark followed, or a
    // mark lost in a power cut; put back by hand here): no rollback while the newest checkpoint
    // holds what was kept, and the state stays.
    let Ledger { dir: _dir, engine, keys, clock } = l;
    drop(engine);
    let db = raw_db(&data);
    db.put_cf(db.cf_handle("meta").unwrap(), b"durable", &durable.checkpoint).unwrap();
    drop(db);
    let report = verify_data_dir_incremental(&data, &key, &state).map_err(|e| e.to_string());
    assert_eq!(report.map(|r| r.size), Ok(size + 1));
    assert_eq!(saved().checkpoint.as_bytes(), newest.as_slice());
    // The next open marks what it recovered.
    let _engine = Engine::open(&data, engine_config(&keys, clock)).unwrap();
    let marked = vigil::store::Store::open_read_only(&data).unwrap().durable_checkpoint().unwrap().unwrap();
    assert_eq!(note_size(&marked), size + 1);
}

/// A new log's data dir before its first sync has a checkpoint and none marked durable: a
/// reader that keeps what it reads finds nothing to keep yet (and says to run again), and a
/// plain verify still reads the newest; once the first group is synced, it is marked.
#[test]
fn a_new_data_dir_has_no_durable_checkpoint_until_its_first_sync() {
    use vigil::verify::verify_data_dir_incremental;
    let (dir, keys) = (tempfile::tempdir().unwrap(), Keys::new());
    let data = dir.path().join("fresh");
    let engine = Engine::open(&data, engine_config(&keys, std::sync::Arc::new(FixedClock(T0.into())))).unwrap();
    let genesis = vigil::config::bootstrap_submissions(&keys.operator, &[], T0).unwrap();
    let (key, kept) = (keys.log.verifier(), dir.path().join("state.json"));
    let held = engine.hold_syncs();
    std::thread::scope(|s| {
        let pending = s.spawn(|| engine.append_blocking(genesis));
        // The first group written, its WAL record in the file as in the instant before its
        // sync's fsync.
        wait_until("the first group to be written", || {
            engine.store().write_out_wal().unwrap();
            vigil::store::Store::open_read_only(&data).unwrap().checkpoint().unwrap().is_some()
        });
        let reader = vigil::store::Store::open_read_only(&data).unwrap();
        assert!(matches!(reader.durable_checkpoint(), Err(vigil::store::StoreError::NotDurableYet)));
        drop(reader);
        match verify_data_dir_incremental(&data, &key, &kept) {
            Err(VerifyFailure::CouldNotRun(e)) => assert!(e.contains("no checkpoint marked durable yet"), "{e}"),
            other => panic!("{other:?}"),
        }
        assert!(!kept.exists());
        let e = vigil::export::export(&data, &dir.path().join("bundle")).unwrap_err().to_string();
        assert!(e.contains("no checkpoint marked durable yet"), "{e}");
        assert_eq!(verify_data_dir(&data, &key).unwrap().size, 1, "a plain verify reads the newest");
        drop(held);
        pending.join().unwrap().unwrap();
    });
    wait_marked(&data, 1);
    assert_eq!(verify_data_dir_incremental(&data, &key, &kept).unwrap().size, 1);
}

/// A data dir opened read-only while its writer opens (its recovery flushes), flushes and
/// compacts, deleting write-ahead logs and table files: every open succeeds and holds what the
/// data dir held before (an open the files changed under is tried again).
/// `VIGIL_OPENS_SECS` (default 3) sets how long the writer and the reader race.
#[test]
fn read_only_opens_survive_a_compacting_writer() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(vigil::store::Store::open(&data).unwrap());
    let secs: u64 = std::env::var("VIGIL_OPENS_SECS").map_or(3, |v| v.parse().unwrap());
    let done = AtomicBool::new(false);
    let (opens, failures) = std::thread::scope(|s| {
        // Each round one batch: its own key and the latest round, then a flush (a new
        // write-ahead log; the old one deleted), every fourth a compaction.
        let writer = s.spawn(|| {
            let db = raw_db(&data);
            let cf = db.cf_handle("idempotency").unwrap();
            let mut round = 0u64;
            while !done.load(Ordering::SeqCst) {
                let mut batch = rocksdb::WriteBatch::default();
                batch.put_cf(cf, format!("r-{round}"), round.to_be_bytes());
                batch.put_cf(cf, "round", round.to_be_bytes());
                for i in 0..200u64 {
                    batch.put_cf(cf, format!("x-{round}-{i}"), [round as u8; 100]);
                }
                db.write(batch).unwrap();
                db.flush_cf(cf).unwrap();
                if round % 4 == 3 {
                    db.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
                }
                round += 1;
                // Still a flush every few tens of milliseconds, where a server flushes every
                // 64 MB: each open meets several.
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            round
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let (mut opens, mut failures) = (0, vec![]);
        while std::time::Instant::now() < deadline {
            match vigil::store::Store::open_read_only(&data) {
                Ok(store) => {
                    let has = |key: String| store.idempotency_raw(key.as_bytes()).unwrap().is_some();
                    let latest = store.idempotency_raw(b"round").unwrap();
                    if let Some(missing) = latest.and_then(|l| (0..=l).find(|r| !has(format!("r-{r}")))) {
                        failures.push(format!("round {latest:?} read without round {missing}"));
                    }
                }
                Err(e) => failures.push(e.to_string()),
            }
            opens += 1;
        }
        done.store(true, Ordering::SeqCst);
        assert!(writer.join().unwrap() > 8, "the writer did not get going");
        (opens, failures)
    });
    assert!(failures.is_empty(), "{} of {opens} opens failed: {:?}", failures.len(), &failures[..1]);
}

/// The join of the kind and incident indexes gives the entries of both, in order, however few
/// steps each call may take: a call that runs out says where it got to, and calls resumed from
/// there give every match once.
#[test]
fn a_kind_and_incident_join_resumes_where_its_steps_ran_out() {
    let l = Ledger::new();
    let ops = |event: serde_json::Value, idem: &str| l.sub(&l.keys.ops, event, idem);
    let freeze = |inc: &str| serde_json::json!({"kind": "freeze", "scope": {"target": "withdrawals"}, "reason": "r", "incident": inc});
    let unfreeze = |inc: &str| serde_json::json!({"kind": "unfreeze", "scope": {"target": "withdrawals"}, "reason": "r", "incident": inc});
    // inc-1: open, unfreeze, freeze, unfreeze, unfreeze, freeze, unfreeze, freeze; inc-2
    // between.
    let events = [
        incident_open("inc-1"),
        unfreeze("inc-1"),
        freeze("inc-1"),
        incident_open("inc-2"),
        freeze("inc-2"),
        unfreeze("inc-1"),
        unfreeze("inc-1"),
        freeze("inc-1"),
        unfreeze("inc-1"),
        freeze("inc-2"),
        freeze("inc-1"),
    ];
    let base = l.engine.head().state.size;
    let subs = events.iter().enumerate().map(|(i, e)| ops(e.clone(), &format!("j{i}"))).collect();
    l.engine.append_blocking(subs).unwrap();
    let store = l.engine.store();
    let at = |offsets: &[u64]| offsets.iter().map(|o| base + o).collect::<Vec<u64>>();
    // (kind, incident, the matches)
    let cases = [
        ("freeze", "inc-1", at(&[2, 7, 10])),
        ("unfreeze", "inc-1", at(&[1, 5, 6, 8])),
        ("freeze", "inc-2", at(&[4, 9])),
        ("incident_open", "inc-2", at(&[3])),
        ("withdrawal", "inc-1", vec![]),
        ("freeze", "inc-3", vec![]),
    ];
    for (kind, incident, want) in cases {
        let (all, stopped) = store.by_kind_and_incident(kind, incident, None, 100, 1000).unwrap();
        assert_eq!((&all, stopped), (&want, None), "{kind} {incident}");
        for steps in 1..=4 {
            let (mut got, mut after, mut calls) = (Vec::new(), None, 0);
            loop {
                let (page, stopped) = store.by_kind_and_incident(kind, incident, after, 100, steps).unwrap();
                got.extend(page);
                calls += 1;
                match stopped {
                    Some(s) => {
                        assert!(after.is_none_or(|a| s > a), "{kind} {incident} {steps}: no progress");
                        after = Some(s);
                    }
                    None => break,
                }
            }
            assert_eq!(got, want, "{kind} {incident}, {steps} steps a call");
            assert!(steps > 1 || want.is_empty() || calls > 1, "{kind} {incident}: one step never ran out");
        }
        // At most `limit`, the first ones.
        let (first, _) = store.by_kind_and_incident(kind, incident, None, 1, 1000).unwrap();
        assert_eq!(first, want.iter().take(1).copied().collect::<Vec<_>>(), "{kind} {incident}");
    }
}
