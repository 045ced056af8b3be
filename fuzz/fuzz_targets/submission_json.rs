//! Submissions, as the internal append API reads a request body (src/http/internal.rs):
//! `statement::parse_body` (the careful way, one item at a time), and the whole body through
//! `canonical::parse_json`, a `Submission` object or an array of them, `Submission::parse`
//! (`Statement::from_value`, `Statement::to_bytes`, the base64 signature), then
//! `statement::verify` against a fixed key. Also `Statement::from_bytes` of the raw input, as an
//! entry's statement bytes.
//!
//! The fast way of reading a body (`statement::parse_body_fast`, one typed pass) accepts only
//! bodies the careful way accepts, and reads them the same.
//!
//! Round trips: a parsed submission's canonical bytes parse back (`Statement::from_bytes`) to
//! the same statement; statement bytes accepted by `Statement::from_bytes` serialize back to
//! themselves (FORMAT.md §2: one statement, one byte string).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::statement::{self, parse_body_fast, ParsedSubmission, Statement, Submission};
use vigil_fuzz::{signer_of, SERVICE};

fuzz_target!(|data: &[u8]| {
    // Holds today by `from_bytes`'s own comparison; a guard for parsers strict by themselves.
    if let Ok(s) = Statement::from_bytes(data) {
        assert_eq!(s.to_bytes().expect("a parsed statement serializes"), data, "statement round trip");
    }
    // The server's careful way (`statement::parse_body`, with no limit on the count), which
    // reads an array one item at a time, reads as the body read whole does.
    let careful = statement::parse_body(data, usize::MAX).ok();
    let whole = || -> Option<Vec<ParsedSubmission>> {
        let items = match vigil_core::canonical::parse_json(data).ok()? {
            serde_json::Value::Array(a) if !a.is_empty() => a,
            one @ serde_json::Value::Object(_) => vec![one],
            _ => return None,
        };
        items.into_iter().map(|i| serde_json::from_value::<Submission>(i).ok()?.parse().ok()).collect()
    };
    assert_eq!(careful, whole(), "the careful way read a body otherwise than whole");
    if let Some(fast) = parse_body_fast(data) {
        assert_eq!(careful, Some(fast), "the fast way read a body the careful way refuses or reads otherwise");
    }
    let Ok(value) = vigil_core::canonical::parse_json(data) else { return };
    let items = match value {
        serde_json::Value::Array(a) => a,
        one => vec![one],
    };
    for item in items {
        let Ok(sub) = serde_json::from_value::<Submission>(item) else { continue };
        let Ok(parsed) = sub.parse() else { continue };
        let back = Statement::from_bytes(&parsed.bytes).expect("canonical bytes of a parsed statement parse");
        assert_eq!(back, parsed.statement, "submission round trip");
        let key = signer_of(&parsed.statement.key).unwrap_or(&SERVICE).verifier();
        let _ = statement::verify(&key, &parsed.bytes, &parsed.signature);
        for o in &parsed.openings {
            for (_, p) in parsed.statement.event.private_fields() {
                if let vigil_core::event::Private::Committed(c) = p {
                    let _ = o.opens(c);
                }
            }
        }
    }
});
