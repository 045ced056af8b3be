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
    #[error(
        "{0}: numbers must be integers from -2^63 to 2^64-1, without fraction or exponent (no floating point); \
         amounts are strings of minor units"
    )]
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

/// Parses JSON with a nesting limit, refusing floats and duplicate keys. serde_json's `Value`
/// keeps the last of duplicate keys silently, so that `{"amount": "1", "amount": "700"}` would
/// be read as 700 here and as 1 by a parser that keeps the first: a submission must not be
/// ambiguous, so any object with a key twice (however it is escaped) is refused.
pub fn parse_json(bytes: &[u8]) -> Result<Value, CanonicalError> {
    let Unique(v) = serde_json::from_slice(bytes).map_err(|e| CanonicalError::Json(e.to_string()))?;
    check_numbers(&v, "$", 0)?;
    Ok(v)
}

/// A JSON value read by a visitor that refuses an object with the same key twice.
struct Unique(Value);

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Unique, D::Error> {
        d.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("not a finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Unique(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate key {k:?}: a key may appear once in an object"
                )));
            }
            let Unique(v) = map.next_value()?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
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
    fn duplicate_keys_are_refused_at_any_depth_however_escaped() {
        for bad in [
            r#"{"a":1,"a":1}"#,
            r#"{"a":1,"b":{"c":"x","c":"y"}}"#,
            r#"[{"k":true},{"k":1,"j":2,"k":3}]"#,
            r#"{"summary":"x","summ\u0061ry":"y"}"#,
        ] {
            let e = parse_json(bad.as_bytes()).unwrap_err();
            assert!(e.to_string().contains("duplicate key"), "{bad}: {e}");
        }
        assert_eq!(parse_json(br#"{"a":{"a":1},"b":[{"a":2},{"a":3}]}"#).unwrap()["b"][1]["a"], 3);
    }

    #[test]
    fn non_canonical_forms_are_refused() {
        for bad in [r#"{"b":1,"a":2}"#, r#"{"a": 2}"#] {
            assert_eq!(parse_canonical(bad.as_bytes()), Err(CanonicalError::NotCanonical), "{bad}");
        }
        assert!(matches!(parse_canonical(br#"{"a":2,"a":3}"#), Err(CanonicalError::Json(_))));
        assert!(parse_canonical(br#"{"a":2}"#).is_ok());
    }
}
