//! Entries (docs/FORMAT.md §4): `Entry::decode_header`, `Entry::decode` (and through it
//! `Statement::from_bytes`, `canonical::parse_canonical`, `Event::from_value`),
//! `verifier::Decoded::new`, and `LogVerifier::push` of the entry as a log's first.
//!
//! Round trips: a decoded header encodes back to the input bytes; a decoded statement
//! serializes back to the logged statement bytes (FORMAT.md §2: "one statement has exactly one
//! byte string").
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::entry::{entry_hash, Entry};
use vigil_core::verifier::{Decoded, LogVerifier};

fuzz_target!(|data: &[u8]| {
    let _ = entry_hash(data);
    let Ok(header) = Entry::decode_header(data) else {
        assert!(Entry::decode(data).is_err());
        return;
    };
    assert_eq!(header.encode().expect("a decoded entry fits"), data, "header round trip");
    match Entry::decode(data) {
        Ok((entry, statement)) => {
            // Holds today because `Statement::from_bytes` compares with its own serialization;
            // kept for the day it is replaced by parsers strict by themselves (BENCHMARKS.md).
            let again = statement.to_bytes().expect("a decoded statement serializes");
            assert_eq!(again, entry.statement_bytes, "statement round trip");
            assert!(Decoded::new(data).is_ok());
            let _ = statement.event.check_refs(entry.seq);
            // As a log's first entry: genesis rules, then the signature by the key it registers.
            let mut v = LogVerifier::new();
            if v.push(data).is_ok() {
                assert_eq!(v.size(), 1);
                assert_eq!(v.last_hash(), entry_hash(data));
            } else {
                assert_eq!(v.size(), 0, "a refused entry leaves the verifier unchanged");
            }
        }
        Err(_) => assert!(Decoded::new(data).is_err()),
    }
});
