//! Canonical JSON: the one byte form of a JSON value that vigil signs and logs.
//!
//! Rules (docs/FORMAT.md §2): objects with keys sorted by their UTF-8 bytes, no insignificant
//! white space, strings escaped as RFC 8785 (JCS) does, numbers only as integers. With integers
//! only, this is exactly RFC 8785 for the values vigil uses.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("{0}: floating-point numbers are not allowed; amounts are strings of minor units")]
    Float(String),
    #[error("JSON is not in canonical form (sorted keys, no white space, integers only)")]
    NotCanonical,
    #[error("JSON nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Deepest nesting accepted; vigil's events need 4.
pub const MAX_DEPTH: usize = 16;

/// Serializes a value to canonical JSON bytes.
pub fn to_canonical<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let v = serde_json::to_value(value).map_err(|e| CanonicalError::Json(e.to_string()))?;
    value_to_canonical(&v)
}

/// Canonical bytes of an already-parsed value. Refuses floats.
pub fn value_to_canonical(v: &Value) -> Result<Vec<u8>, CanonicalError> {
    check_numbers(v, "$", 0)?;
    // serde_json's Map is a BTreeMap (the `preserve_order` feature is never enabled in this
    // workspace), so serializing a Value sorts keys by their bytes.
    serde_json::to_vec(v).map_err(|e| CanonicalError::Json(e.to_string()))
}

/// Parses bytes that must already be canonical JSON, refusing any other form of the same value.
pub fn parse_canonical(bytes: &[u8]) -> Result<Value, CanonicalError> {
    let v: Value = parse_json(bytes)?;
    let again = value_to_canonical(&v)?;
    if again != bytes {
        return Err(CanonicalError::NotCanonical);
    }
    Ok(v)
}

/// Parses JSON with a nesting limit and duplicate-key detection. serde_json keeps the last of
/// duplicate keys silently; a signed statement must not be ambiguous, so duplicates are refused
/// by the canonical-form check (a duplicate never survives re-serialization byte-for-byte).
pub fn parse_json(bytes: &[u8]) -> Result<Value, CanonicalError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| CanonicalError::Json(e.to_string()))?;
    check_numbers(&v, "$", 0)?;
    Ok(v)
}

fn check_numbers(v: &Value, path: &str, depth: usize) -> Result<(), CanonicalError> {
    // The path is built only on failure: this runs over every value the API receives.
    check(v, depth).map_err(|e| match e {
        Bad::Deep => CanonicalError::TooDeep,
        Bad::Float(mut segments) => {
            segments.reverse();
            CanonicalError::Float(format!("{path}{}", segments.concat()))
        }
    })
}

enum Bad {
    Deep,
    /// Path segments from the float up to the root.
    Float(Vec<String>),
}

fn check(v: &Value, depth: usize) -> Result<(), Bad> {
    if depth > MAX_DEPTH {
        return Err(Bad::Deep);
    }
    let under = |e: Bad, segment: String| match e {
        Bad::Float(mut s) => {
            s.push(segment);
            Bad::Float(s)
        }
        deep => deep,
    };
    match v {
        Value::Number(n) if !(n.is_u64() || n.is_i64()) => Err(Bad::Float(Vec::new())),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                check(x, depth + 1).map_err(|e| under(e, format!("[{i}]")))?;
            }
            Ok(())
        }
        Value::Object(m) => {
            for (k, x) in m {
                check(x, depth + 1).map_err(|e| under(e, format!(".{k}")))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_cases() {
        // (input, expected canonical output or None when refused)
        let cases: &[(&str, Option<&str>)] = &[
            (r#"{"b":1,"a":[true,null,"x"]}"#, Some(r#"{"a":[true,null,"x"],"b":1}"#)),
            (r#"{ "a" : "é\n\u0001/" }"#, Some("{\"a\":\"é\\n\\u0001/\"}")),
            (r#"{"a":1.5}"#, None),
            (r#"{"a":1e3}"#, None),
            (r#"{"a":-7}"#, Some(r#"{"a":-7}"#)),
        ];
        for (input, want) in cases {
            let got = parse_json(input.as_bytes()).and_then(|v| value_to_canonical(&v));
            match want {
                Some(w) => assert_eq!(String::from_utf8(got.unwrap()).unwrap(), *w, "{input}"),
                None => assert!(got.is_err(), "{input} should be refused"),
            }
        }
    }

    #[test]
    fn a_float_is_named_by_its_path() {
        let e = parse_json(br#"{"a":[1,{"b":2.5}]}"#).unwrap_err();
        assert_eq!(e, CanonicalError::Float("$.a[1].b".into()));
        let deep = format!("{}1{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
        assert_eq!(parse_json(deep.as_bytes()).unwrap_err(), CanonicalError::TooDeep);
    }

    #[test]
    fn non_canonical_forms_are_refused() {
        for bad in [r#"{"b":1,"a":2}"#, r#"{"a": 2}"#, r#"{"a":2,"a":3}"#] {
            assert_eq!(parse_canonical(bad.as_bytes()), Err(CanonicalError::NotCanonical), "{bad}");
        }
        assert!(parse_canonical(br#"{"a":2}"#).is_ok());
    }
}
