//! Event JSON (docs/FORMAT.md §2, §3.3): `canonical::parse_json`, `value_to_canonical`,
//! `parse_canonical`, `Event::from_json` / `Event::from_value` (which validates), then what the
//! server and the browser derive from an event: `Event::{refs, check_refs, incident,
//! private_fields, check_committed}`, `audit::Auditor::push`, `facts::{incident_facts,
//! safu_history}`, `reserves::check_attestations`, `event::ratio`, `event::Amount::parse`.
//!
//! Properties: canonical bytes are accepted by `parse_canonical` and are a fixed point;
//! `to_canonical`'s one pass gives what the slow way through a `Value` gives; an
//! accepted event serializes to canonical JSON that parses back to the same event; a valid
//! amount string prints back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::audit::Auditor;
use vigil_core::canonical::{parse_canonical, parse_json, to_canonical, to_canonical_via_value, value_to_canonical};
use vigil_core::event::{ratio, Amount, Event};
use vigil_core::facts::{incident_facts, safu_history, Item};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(a) = Amount::parse(s) {
            assert_eq!(a.to_string(), s, "amount round trip");
        }
    }
    if let Ok(v) = parse_canonical(data) {
        assert_eq!(value_to_canonical(&v).expect("canonical"), data);
    }
    let Ok(v) = parse_json(data) else {
        assert!(Event::from_json(data).is_err());
        return;
    };
    assert_eq!(to_canonical(&v), value_to_canonical(&v), "one pass and the slow way agree");
    if let Ok(c) = value_to_canonical(&v) {
        let back = parse_canonical(&c).expect("canonical bytes are canonical");
        assert_eq!(back, v, "canonical form holds the same value");
    }
    let Ok(event) = Event::from_value(v) else { return };
    assert_eq!(Event::from_json(data).as_ref(), Ok(&event));
    let c = to_canonical(&event).expect("a valid event serializes");
    assert_eq!(to_canonical_via_value(&event).as_ref(), Ok(&c), "one pass and the slow way agree");
    assert_eq!(Event::from_json(&c).as_ref(), Ok(&event), "event round trip through canonical JSON");
    assert_eq!(parse_canonical(&c).map(|_| ()), Ok(()));

    let _ = event.check_refs(1_000);
    let _ = event.check_committed();
    let _ = event.private_fields();
    let _ = event.refs();
    let mut auditor = Auditor::new();
    for seq in [0, 7] {
        auditor.push(seq, &event);
    }
    let _ = auditor.incidents();
    let _ = auditor.finish();
    let items = [Item { seq: 3, time_ms: 10, event: &event }, Item { seq: 4, time_ms: 9, event: &event }];
    if let Some(i) = event.incident() {
        let _ = incident_facts(i, &items);
    }
    let _ = safu_history(&items);
    if let Event::ReserveSnapshot(s) = &event {
        let _ = vigil_core::reserves::check_attestations(u64::MAX, s, &[(4, &event)]);
        for a in &s.assets {
            assert_eq!(ratio(a.reserves.0, a.liabilities.0), a.ratio, "validated ratio");
        }
    }
});
