//! Submissions, as the internal append API reads a request body (src/http/internal.rs):
//! `canonical::parse_json`, a `Submission` object or an array of them, `Submission::parse`
//! (`Statement::from_value`, `Statement::to_bytes`, the base64 signature), then
//! `statement::verify` against a fixed key. Also `Statement::from_bytes` of the raw input, as an
//! entry's statement bytes.
//!
//! Round trips: a parsed submission's canonical bytes parse back (`Statement::from_bytes`) to
//! the same statement; statement bytes accepted by `Statement::from_bytes` serialize back to
//! themselves (FORMAT.md §2: one statement, one byte string).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::statement::{self, Statement, Submission};
use vigil_fuzz::{signer_of, SERVICE};

fuzz_target!(|data: &[u8]| {
    // Holds today by `from_bytes`'s own comparison; a guard for parsers strict by themselves.
    if let Ok(s) = Statement::from_bytes(data) {
        assert_eq!(s.to_bytes().expect("a parsed statement serializes"), data, "statement round trip");
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
