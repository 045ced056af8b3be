//! Canonical JSON: the one byte form of a JSON value that vigil signs and logs.
//!
//! Rules (docs/FORMAT.md §2): objects with keys sorted by their UTF-8 bytes, no insignificant
//! white space, strings escaped as RFC 8785 (JCS) does, numbers only as integers, written
//! exactly (up to 2^64 − 1; JCS would write them as doubles, inexact above 2^53).

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
///
/// In one pass ([`Sorting`]) when it can; for anything that pass does not handle (a float, a
/// key with an escape, a key twice, deep nesting) through a `serde_json::Value`, which names
/// the fault. Both give the same bytes for every value the one pass accepts (a unit test and
/// the `event_json` fuzz target compare them).
pub fn to_canonical<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    match one_pass(value) {
        Some(bytes) => Ok(bytes),
        None => to_canonical_via_value(value),
    }
}

/// Canonical bytes in one pass, or `None` for what it leaves to the slow way.
fn one_pass<T: Serialize>(value: &T) -> Option<Vec<u8>> {
    let mut sorting = Sorting::new();
    let mut ser = serde_json::Serializer::with_formatter(Refuse, &mut sorting);
    value.serialize(&mut ser).ok()?;
    match &mut sorting.frames[..] {
        [root] if sorting.depth == 0 && root.members.is_empty() => Some(std::mem::take(&mut root.buf)),
        _ => None,
    }
}

/// [`to_canonical`] through a `serde_json::Value`: the reference the one pass is checked
/// against (tests, fuzzing).
#[doc(hidden)]
pub fn to_canonical_via_value<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let v = serde_json::to_value(value).map_err(|e| CanonicalError::Json(e.to_string()))?;
    value_to_canonical(&v)
}

/// A `serde_json` formatter that writes canonical JSON in one pass: each object's members are
/// gathered in a buffer of their own and written out sorted by key when the object ends; the
/// rest is written as serde_json's compact formatter writes it (the formatter a `Value` is
/// serialized with). What it does not handle it refuses with an error, and [`to_canonical`]
/// takes the slow way: floats and numbers beyond 64 bits, keys with escapes or seen twice in
/// an object, nesting as deep as [`MAX_DEPTH`].
struct Sorting {
    /// The root's output (never popped), then one frame per open object (arrays write into
    /// their parent's).
    frames: Vec<Frame>,
    /// Containers open.
    depth: usize,
    /// Between `begin_object_key` and `end_object_key`.
    in_key: bool,
    /// Frames of closed objects, kept for their buffers.
    spare: Vec<Frame>,
}

#[derive(Default)]
struct Frame {
    buf: Vec<u8>,
    /// (key start, key end, value end) in `buf`; the key with its quotes.
    members: Vec<(usize, usize, usize)>,
}

/// The writer [`Sorting`] is given: everything goes to the formatter's own buffers, so a write
/// here means a formatter method not overridden below, and fails the one pass.
struct Refuse;

impl std::io::Write for Refuse {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(not_here())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn not_here() -> std::io::Error {
    std::io::Error::other("not handled in one pass")
}

impl Sorting {
    fn new() -> Self {
        // Sized for a statement (a few hundred bytes, a few nested objects): growing the
        // buffers was a tenth of the time.
        let root = Frame { buf: Vec::with_capacity(512), members: Vec::new() };
        let mut frames = Vec::with_capacity(4);
        frames.push(root);
        Sorting { frames, depth: 0, in_key: false, spare: Vec::new() }
    }

    fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.frames.last_mut().expect("the root's frame is never popped").buf
    }

    fn open(&mut self) -> std::io::Result<()> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            return Err(not_here());
        }
        Ok(())
    }
}

/// [`serde_json::ser::Formatter`] methods writing an integer into the open frame, as the compact
/// formatter writes it.
macro_rules! integers {
    ($($method:ident: $t:ty),*) => {$(
        fn $method<W: ?Sized + std::io::Write>(&mut self, _: &mut W, value: $t) -> std::io::Result<()> {
            serde_json::ser::CompactFormatter.$method(self.buf(), value)
        }
    )*};
}

/// [`serde_json::ser::Formatter`] methods for values canonical JSON does not have.
macro_rules! refused {
    ($($method:ident: $t:ty),*) => {$(
        fn $method<W: ?Sized + std::io::Write>(&mut self, _: &mut W, _: $t) -> std::io::Result<()> {
            Err(not_here())
        }
    )*};
}

impl serde_json::ser::Formatter for &mut Sorting {
    fn write_null<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.buf().extend_from_slice(b"null");
        Ok(())
    }
    fn write_bool<W: ?Sized + std::io::Write>(&mut self, _: &mut W, value: bool) -> std::io::Result<()> {
        self.buf().extend_from_slice(if value { b"true" } else { b"false" });
        Ok(())
    }
    // Integers that fit 64 bits are written as serde_json writes them; anything else a number
    // can be (128-bit integers, floats, arbitrary-precision strings) is not canonical here.
    integers!(write_i8: i8, write_i16: i16, write_i32: i32, write_i64: i64);
    integers!(write_u8: u8, write_u16: u16, write_u32: u32, write_u64: u64);
    refused!(write_i128: i128, write_u128: u128, write_f32: f32, write_f64: f64, write_number_str: &str);
    fn begin_string<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.buf().push(b'"');
        Ok(())
    }
    fn end_string<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.buf().push(b'"');
        Ok(())
    }
    fn write_string_fragment<W: ?Sized + std::io::Write>(&mut self, _: &mut W, fragment: &str) -> std::io::Result<()> {
        self.buf().extend_from_slice(fragment.as_bytes());
        Ok(())
    }
    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        _: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        // A key's escapes would sort by their spelling, not by the bytes they stand for.
        if self.in_key {
            return Err(not_here());
        }
        serde_json::ser::CompactFormatter.write_char_escape(self.buf(), char_escape)
    }
    fn write_byte_array<W: ?Sized + std::io::Write>(&mut self, _: &mut W, _: &[u8]) -> std::io::Result<()> {
        Err(not_here())
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.open()?;
        self.buf().push(b'[');
        Ok(())
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        self.buf().push(b']');
        Ok(())
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W, first: bool) -> std::io::Result<()> {
        if !first {
            self.buf().push(b',');
        }
        Ok(())
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        Ok(())
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.open()?;
        let frame =
            self.spare.pop().unwrap_or_else(|| Frame { buf: Vec::with_capacity(512), members: Vec::with_capacity(16) });
        self.frames.push(frame);
        Ok(())
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        // An object never opened (a misused `Serialize`) must not close the root's frame.
        if self.frames.len() < 2 {
            return Err(not_here());
        }
        let mut frame = self.frames.pop().ok_or_else(not_here)?;
        let Frame { buf, members } = &mut frame;
        // The members, in the order written, must tile the buffer, each key a quoted string
        // (compared below between its quotes): else a `Serialize` misused the map API (an
        // entry after announcing none, a key without a value), and the slow way decides.
        let tiled = members.iter().try_fold(0, |at, &(start, key_end, end)| {
            (start == at && key_end >= start + 2 && end >= key_end).then_some(end)
        });
        if tiled != Some(buf.len()) {
            return Err(not_here());
        }
        // Keys compared without their quotes (`"a"` < `"a "`, but `"` sorts after ` `).
        let key = |&(start, end, _): &(usize, usize, usize)| &buf[start + 1..end - 1];
        members.sort_unstable_by(|a, b| key(a).cmp(key(b)));
        if members.windows(2).any(|w| key(&w[0]) == key(&w[1])) {
            return Err(not_here());
        }
        let out = self.buf();
        out.push(b'{');
        for (i, &(start, key_end, end)) in members.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&buf[start..key_end]);
            out.push(b':');
            out.extend_from_slice(&buf[key_end..end]);
        }
        out.push(b'}');
        frame.buf.clear();
        frame.members.clear();
        self.spare.push(frame);
        Ok(())
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, _: &mut W, _first: bool) -> std::io::Result<()> {
        self.in_key = true;
        let frame = self.frames.last_mut().ok_or_else(not_here)?;
        frame.members.push((frame.buf.len(), 0, 0));
        Ok(())
    }
    fn end_object_key<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.in_key = false;
        let frame = self.frames.last_mut().ok_or_else(not_here)?;
        let len = frame.buf.len();
        frame.members.last_mut().ok_or_else(not_here)?.1 = len;
        Ok(())
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        Ok(())
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        let frame = self.frames.last_mut().ok_or_else(not_here)?;
        let len = frame.buf.len();
        frame.members.last_mut().ok_or_else(not_here)?.2 = len;
        Ok(())
    }
    fn write_raw_fragment<W: ?Sized + std::io::Write>(&mut self, _: &mut W, _: &str) -> std::io::Result<()> {
        Err(not_here())
    }
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

/// A JSON value read by a visitor that refuses an object with the same key twice: how
/// [`parse_json`] reads, for reading one item of a larger document at a time (then
/// [`check_item`]).
pub(crate) struct Unique(pub(crate) Value);

/// [`parse_json`]'s checks (nesting, no floats) of `v`, item `index` of a top-level array: an
/// array read item by item is checked as it would be whole.
pub(crate) fn check_item(v: &Value, index: usize) -> Result<(), CanonicalError> {
    check_numbers(v, &format!("$[{index}]"), 1)
}

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

    /// The one pass gives the bytes the slow way gives, or leaves the value to it.
    #[test]
    fn one_pass_equals_the_slow_way() {
        #[derive(Serialize)]
        struct Unsorted {
            zeta: u8,
            alpha: Option<i64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            skipped: Option<u8>,
            mid: Vec<Tagged>,
        }
        #[derive(Serialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        enum Tagged {
            Withdrawal { amount: String, asset: &'static str, zone: u16 },
            Unit,
            Newtype(std::collections::HashMap<String, i32>),
        }
        let map: std::collections::HashMap<String, i32> =
            [("b", 1), ("a", -2), ("é", 3), ("a ", 4), ("a!", 5), ("", 6)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
        let typed = Unsorted {
            zeta: 255,
            alpha: None,
            skipped: None,
            mid: vec![
                Tagged::Withdrawal { amount: "7\"\n\u{1}é".into(), asset: "BTC", zone: 9 },
                Tagged::Unit,
                Tagged::Newtype(map),
            ],
        };
        // The statement of docs/FORMAT.md §8 (an internally tagged event, nested objects).
        let example = crate::format_example::example().statement;
        let statement = crate::statement::Statement::from_bytes(example.as_bytes()).unwrap();
        assert_eq!(one_pass(&statement).as_deref(), Some(example.as_bytes()));
        let handled = one_pass(&typed).expect("handled in one pass");
        assert_eq!(Ok(handled), to_canonical_via_value(&typed));
        let nest = |n: usize, inner: &str| format!("{}{inner}{}", "[".repeat(n), "]".repeat(n));
        // (JSON, handled in one pass)
        let cases = [
            (r#"{"b":1,"a":[true,null,"x"],"c":{"z":{},"y":[[],{"q":-9223372036854775808}]}}"#.to_string(), true),
            (r#"{"k":18446744073709551615,"é":"\u0000\t/","é ":"","e":[{"b":1,"a":2},{}]}"#.into(), true),
            (r#"{"summ\u0061ry":1,"a":2}"#.into(), true),
            (r#"{"a\nb":1,"a":2}"#.into(), false),
            (r#"{"a":1.5}"#.into(), false),
            (r#"[1e3]"#.into(), false),
            ("\"just a string\"".into(), true),
            ("7".into(), true),
            (nest(MAX_DEPTH - 1, "1"), true),
            (nest(MAX_DEPTH, "1"), false),
            (nest(MAX_DEPTH + 1, ""), false),
        ];
        for (json, fast) in cases {
            let v: Value = serde_json::from_str(&json).unwrap();
            let one = one_pass(&v);
            assert_eq!(one.is_some(), fast, "{json}");
            if let Some(bytes) = one {
                assert_eq!(Ok(bytes), to_canonical_via_value(&v), "{json}");
            }
        }
        // A `Serialize` that misuses the map API (an entry after announcing none), at the root
        // and within an object: left to the slow way, never a panic or a broken object.
        struct Liar;
        impl Serialize for Liar {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(0))?;
                m.serialize_entry("k", &1)?;
                m.end()
            }
        }
        #[derive(Serialize)]
        struct Holder {
            a: Liar,
            b: u8,
        }
        assert_eq!(one_pass(&Liar), None);
        assert_eq!(one_pass(&Holder { a: Liar, b: 1 }), None);
        assert_eq!(to_canonical(&Holder { a: Liar, b: 1 }).unwrap(), br#"{"a":{"k":1},"b":1}"#);
        // A float, and a number past 64 bits, in a typed value: the slow way's errors.
        assert!(matches!(to_canonical(&[1.5f64]), Err(CanonicalError::Float(_))));
        assert!(to_canonical(&[u128::MAX]).is_err());
        assert_eq!(to_canonical(&[7u128]).unwrap(), b"[7]");
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
