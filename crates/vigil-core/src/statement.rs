//! A statement is what a service signs: one event with who says it, when, and an idempotency
//! key. Its canonical JSON bytes are what the log stores, so authorship of every logged event
//! is provable from the log alone.

use crate::canonical::{parse_canonical, parse_json, to_canonical, CanonicalError};
use crate::event::{Event, EventError};
use crate::keys::{KeyRef, SignerKey, VerifierKey};
use base64::prelude::{Engine, BASE64_STANDARD};
use serde::{Deserialize, Serialize};

/// Prefix of the message a service signs: `"vigil statement v1\n" ‖ canonical statement`.
pub const STATEMENT_SIGNING_PREFIX: &[u8] = b"vigil statement v1\n";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// The signing service key, `name+hexid`.
    pub key: KeyRef,
    /// Unique per service; a retry with the same key returns the original receipt.
    pub idempotency_key: String,
    /// When the service created the event, Unix milliseconds (service clock).
    pub created_at_ms: u64,
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("statement: {0}")]
    Canonical(#[from] CanonicalError),
    #[error("statement: {0}")]
    Shape(String),
    // The event as a whole says `event: …` itself; a field of it is `event.<path>: …`.
    #[error("{}", if .0.field.is_empty() { .0.to_string() } else { format!("event.{}", .0) })]
    Event(#[from] EventError),
    #[error("idempotency_key: must be 1 to 128 characters of letters, digits and . _ : / -")]
    IdempotencyKey,
    #[error("signature: must be base64 of 64 bytes")]
    SignatureEncoding,
    #[error("statement: not in its one byte form (hex in lower case, absent fields left out rather than null, defaults written out)")]
    NotItsForm,
}

impl Statement {
    /// Canonical bytes; the statement must be valid and fully committed.
    pub fn to_bytes(&self) -> Result<Vec<u8>, StatementError> {
        self.check()?;
        Ok(to_canonical(self)?)
    }

    /// Parses canonical statement bytes as stored in an entry, and checks them. The bytes must
    /// be exactly the statement's own serialization ([`Statement::to_bytes`]): canonical JSON
    /// is not enough, since the same statement has other canonical spellings (upper-case hex in
    /// a key id or a commitment, `null` for an absent field, a default left out), and one
    /// statement has exactly one byte string (docs/FORMAT.md §2).
    ///
    /// One serialization checks both rules: bytes equal to the statement's own serialization
    /// are canonical JSON too. Only when they differ (or the statement is invalid) is the
    /// parsed value re-serialized, to report "not canonical" first, as the format's order has it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Statement, StatementError> {
        let v = parse_json(bytes)?;
        let s = match Self::from_value(v) {
            Ok(s) => s,
            Err(e) => {
                parse_canonical(bytes)?;
                return Err(e);
            }
        };
        // `from_value` checked the statement: what `to_bytes` would add is its serialization.
        if to_canonical(&s)? != bytes {
            parse_canonical(bytes)?;
            return Err(StatementError::NotItsForm);
        }
        Ok(s)
    }

    /// From parsed JSON in any form (the API accepts non-canonical JSON and canonicalizes it).
    pub fn from_value(mut v: serde_json::Value) -> Result<Statement, StatementError> {
        let Some(m) = v.as_object_mut() else {
            return Err(StatementError::Shape("must be a JSON object".into()));
        };
        let ev = m.remove("event").ok_or_else(|| StatementError::Shape("missing field `event`".into()))?;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Head {
            key: KeyRef,
            idempotency_key: String,
            created_at_ms: u64,
        }
        // The error names the field (`created_at_ms: invalid value: integer `-1`, expected u64`).
        let head: Head = serde_path_to_error::deserialize(v).map_err(|e| match e.path().to_string() {
            p if p == "." => StatementError::Shape(e.into_inner().to_string()),
            p => StatementError::Shape(format!("{p}: {}", e.into_inner())),
        })?;
        let event = Event::from_value(ev)?;
        let s = Statement {
            key: head.key,
            idempotency_key: head.idempotency_key,
            created_at_ms: head.created_at_ms,
            event,
        };
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<(), StatementError> {
        let k = &self.idempotency_key;
        if k.is_empty() || k.len() > 128 || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b)) {
            return Err(StatementError::IdempotencyKey);
        }
        self.event.validate()?;
        self.event.check_committed()?;
        Ok(())
    }
}

/// The exact message a service key signs for a statement.
pub fn signing_message(statement_bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(STATEMENT_SIGNING_PREFIX.len() + statement_bytes.len());
    m.extend_from_slice(STATEMENT_SIGNING_PREFIX);
    m.extend_from_slice(statement_bytes);
    m
}

/// Signs canonical statement bytes.
pub fn sign(key: &SignerKey, statement_bytes: &[u8]) -> [u8; 64] {
    key.sign(&signing_message(statement_bytes))
}

/// Verifies a statement signature: Ed25519 under the ZIP-215 rules (docs/FORMAT.md §3.2), the
/// rule single and batch verification agree on.
pub fn verify(key: &VerifierKey, statement_bytes: &[u8], sig: &[u8; 64]) -> bool {
    verify_message(key, &signing_message(statement_bytes), sig)
}

/// [`verify`] of a signing message already built.
pub fn verify_message(key: &VerifierKey, message: &[u8], sig: &[u8; 64]) -> bool {
    ed25519_consensus::VerificationKey::try_from(key.key.to_bytes())
        .and_then(|vk| vk.verify(&ed25519_consensus::Signature::from(*sig), message))
        .is_ok()
}

/// Batch verification of statement signatures under the same ZIP-215 rule as [`verify`]
/// (cofactored, so the batch accepts exactly what the single checks accept): true iff every
/// signature verifies. `rng` draws the batch's random coefficients.
pub fn verify_batch<'a, R: rand_core::RngCore + rand_core::CryptoRng>(
    items: impl IntoIterator<Item = (&'a VerifierKey, &'a [u8], &'a [u8; 64])>,
    rng: R,
) -> bool {
    let mut v = ed25519_consensus::batch::Verifier::new();
    for (key, message, sig) in items {
        v.queue((
            ed25519_consensus::VerificationKeyBytes::from(key.key.to_bytes()),
            ed25519_consensus::Signature::from(*sig),
            message,
        ));
    }
    v.verify(rng).is_ok()
}

/// A signed statement as services submit it: `{"statement": {...}, "signature": "<base64>"}`,
/// with the openings of its commitments for the ledger's private store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Submission {
    /// The statement as JSON (docs/FORMAT.md §3.1); its canonical form is what is signed.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub statement: serde_json::Value,
    /// Base64 Ed25519 signature over "vigil statement v1\n" ‖ canonical statement.
    pub signature: String,
    #[serde(default)]
    pub openings: Vec<crate::event::Opening>,
}

/// A submission after parsing: canonical bytes, typed statement, raw signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSubmission {
    pub statement: Statement,
    pub bytes: Vec<u8>,
    pub signature: [u8; 64],
    pub openings: Vec<crate::event::Opening>,
}

impl Submission {
    /// Signs a statement into a submission.
    pub fn sign(
        key: &SignerKey,
        statement: &Statement,
        openings: Vec<crate::event::Opening>,
    ) -> Result<Submission, StatementError> {
        let bytes = statement.to_bytes()?;
        let sig = sign(key, &bytes);
        Ok(Submission {
            statement: serde_json::to_value(statement).map_err(|e| StatementError::Shape(e.to_string()))?,
            signature: BASE64_STANDARD.encode(sig),
            openings,
        })
    }

    /// Parses and canonicalizes (does not check the signature: that needs the key registry).
    pub fn parse(self) -> Result<ParsedSubmission, StatementError> {
        let statement = Statement::from_value(self.statement)?;
        // `from_value` checked the statement: its bytes are its canonical serialization.
        let bytes = to_canonical(&statement)?;
        let raw = BASE64_STANDARD.decode(self.signature.as_bytes()).map_err(|_| StatementError::SignatureEncoding)?;
        let signature: [u8; 64] = raw.try_into().map_err(|_| StatementError::SignatureEncoding)?;
        Ok(ParsedSubmission { statement, bytes, signature, openings: self.openings })
    }
}

/// What is wrong with a request body of submissions, as [`parse_body`] names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not JSON, or not JSON of a submission's shape: what, and where.
    #[error("{0}")]
    Malformed(String),
    /// An empty array.
    #[error("the batch is empty: a batch has 1 to {max} events")]
    Empty { max: usize },
    /// More submissions than a batch may hold.
    #[error("a batch has 1 to {max} events, this one {count}")]
    TooMany { count: usize, max: usize },
    /// Submission `index` is JSON of the shape, but not a valid submission.
    #[error("event {index}: {error}")]
    Invalid { index: usize, error: StatementError },
}

/// The careful way of reading a request body of submissions: one object, or an array of 1 to
/// `max`. Each fault is named, with its submission's index. What comes first: a fault of the
/// JSON itself (not JSON, a key twice, a float or too deep in the first `max` items), then an
/// empty array or a count over `max`, then the first submission's fault.
///
/// An array is read one submission at a time: each is built into a JSON tree, checked and
/// dropped before the next is read, and the items past `max` are only counted. So a body of a
/// million small values is refused by its count without building them, and no body costs more
/// memory than its largest submission's tree. (Bodies without a fault take
/// [`parse_body_fast`], which reads the same.)
pub fn parse_body(body: &[u8], max: usize) -> Result<Vec<ParsedSubmission>, BodyError> {
    // Said as `parse_json` says it of a single object.
    let malformed = |e: serde_json::Error| BodyError::Malformed(CanonicalError::Json(e.to_string()).to_string());
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {
            let mut de = serde_json::Deserializer::from_slice(body);
            let (count, json_fault, fault, subs) =
                serde::Deserializer::deserialize_seq(&mut de, Items { max }).map_err(malformed)?;
            de.end().map_err(malformed)?;
            if let Some(e) = json_fault {
                return Err(e);
            }
            match (count, fault) {
                (0, _) => Err(BodyError::Empty { max }),
                (count, _) if count > max => Err(BodyError::TooMany { count, max }),
                (_, Some(fault)) => Err(fault),
                (_, None) => Ok(subs),
            }
        }
        Some(b'{') => {
            let v = parse_json(body).map_err(|e| BodyError::Malformed(e.to_string()))?;
            Ok(vec![body_item(0, v)?])
        }
        _ => Err(BodyError::Malformed(match parse_json(body) {
            Err(e) => e.to_string(),
            Ok(_) => "expected a submission object or an array of them".into(),
        })),
    }
}

/// Item `index` of a body, its JSON tree read whole.
fn body_item(index: usize, v: serde_json::Value) -> Result<ParsedSubmission, BodyError> {
    let sub: Submission = serde_path_to_error::deserialize(v)
        .map_err(|e| BodyError::Malformed(format!("event {index}: {}: {}", e.path(), e.inner())))?;
    sub.parse().map_err(|error| BodyError::Invalid { index, error })
}

/// [`parse_body`]'s reading of an array: how many items, the first fault of the JSON of the
/// first `max` (a float, too deep), the first fault of their submissions, and the submissions.
struct Items {
    max: usize,
}

type ItemsRead = (usize, Option<BodyError>, Option<BodyError>, Vec<ParsedSubmission>);

impl<'de> serde::de::Visitor<'de> for Items {
    type Value = ItemsRead;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of submissions")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ItemsRead, A::Error> {
        let (mut count, mut json_fault, mut fault, mut subs) = (0, None, None, Vec::new());
        loop {
            if count < self.max && json_fault.is_none() {
                // Read whole (a key twice fails the body here), checked, and made a
                // submission while none has failed.
                let Some(crate::canonical::Unique(v)) = seq.next_element()? else { break };
                if let Err(e) = crate::canonical::check_item(&v, count) {
                    json_fault = Some(BodyError::Malformed(e.to_string()));
                } else if fault.is_none() {
                    match body_item(count, v) {
                        Ok(sub) => subs.push(sub),
                        Err(e) => fault = Some(e),
                    }
                }
            } else if seq.next_element::<serde::de::IgnoredAny>()?.is_none() {
                break;
            }
            count += 1;
        }
        Ok((count, json_fault, fault, subs))
    }
}

/// A request body of submissions (one object, or an array of them) parsed in one typed pass:
/// the way for bodies without a fault. `None` when anything is wrong or unusual (an empty
/// array included); the caller
/// then reads the body the careful way — [`crate::canonical::parse_json`], then
/// [`Submission::parse`] of each item — which names what is wrong. It accepts nothing that way
/// refuses and reads every body it accepts the same (the `submission_json` fuzz target checks
/// both): the typed structs refuse unknown and repeated fields, and JSON numbers where they
/// expect integers or strings, as the careful way does.
pub fn parse_body_fast(body: &[u8]) -> Option<Vec<ParsedSubmission>> {
    /// The statement's fields; read only from an object, as `Statement::from_value` does (a
    /// derived struct would also read an array of the fields in order).
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Fields {
        key: KeyRef,
        idempotency_key: String,
        created_at_ms: u64,
        event: ObjectOnly<Event>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Typed {
        statement: ObjectOnly<Fields>,
        signature: String,
        #[serde(default)]
        openings: Vec<crate::event::Opening>,
    }
    let typed: Vec<Typed> = match body.iter().find(|b| !b.is_ascii_whitespace())? {
        b'[' => serde_json::from_slice(body).ok()?,
        b'{' => vec![serde_json::from_slice(body).ok()?],
        _ => return None,
    };
    if typed.is_empty() {
        return None;
    }
    typed
        .into_iter()
        .map(|t| {
            let f = t.statement.0;
            let statement = Statement {
                key: f.key,
                idempotency_key: f.idempotency_key,
                created_at_ms: f.created_at_ms,
                event: f.event.0,
            };
            let bytes = statement.to_bytes().ok()?;
            let raw = BASE64_STANDARD.decode(t.signature.as_bytes()).ok()?;
            let signature: [u8; 64] = raw.try_into().ok()?;
            Some(ParsedSubmission { statement, bytes, signature, openings: t.openings })
        })
        .collect()
}

/// A `T` read from a JSON object only.
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData)).map(ObjectOnly)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_field_of_the_statement_is_named() {
        let good = serde_json::json!({"key": "risk+01020304", "idempotency_key": "k", "created_at_ms": 1,
            "event": {"kind": "alarm", "rule": "r", "severity": "low", "summary": "s"}});
        assert!(Statement::from_value(good.clone()).is_ok());
        for (field, bad) in [
            ("created_at_ms", serde_json::json!(-1)),
            ("created_at_ms", serde_json::json!("1")),
            ("idempotency_key", serde_json::json!(7)),
            ("key", serde_json::json!(1)),
        ] {
            let mut st = good.clone();
            st[field] = bad;
            let e = Statement::from_value(st).unwrap_err().to_string();
            assert!(e.starts_with(&format!("statement: {field}: ")), "{e}");
        }
        // The statement or its event as a whole: said so, not as a field of its own name.
        let mut extra = good.clone();
        extra["event"]["amnt"] = "1".into();
        let mut missing = good.clone();
        missing["event"] = serde_json::json!({"kind": "alarm", "rule": "r", "severity": "low"});
        for (bad, want) in [
            (serde_json::json!(5), "statement: must be a JSON object"),
            (serde_json::json!([good.clone()]), "statement: must be a JSON object"),
            (extra, "event.amnt: unknown field `amnt`"),
            (missing, "event: missing field `summary`"),
        ] {
            let e = Statement::from_value(bad).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}");
        }
    }

    /// A valid signed alarm, as JSON without spaces.
    fn good_alarm() -> String {
        let k = SignerKey::from_seed("risk", [7; 32]).unwrap();
        let st = Statement::from_value(serde_json::json!({"key": k.key_ref.to_string(), "idempotency_key": "k",
            "created_at_ms": 1, "event": {"kind": "alarm", "rule": "r", "severity": "low", "summary": "s"}}))
        .unwrap();
        serde_json::to_string(&Submission::sign(&k, &st, vec![]).unwrap()).unwrap()
    }

    /// The fast way reads a good body as the careful way does, and gives up (`None`, the
    /// careful way then names the fault) on every fault the careful way refuses.
    #[test]
    fn the_fast_way_reads_good_bodies_alike_and_gives_up_on_faults() {
        let good = good_alarm();
        let careful = |body: &str| parse_body(body.as_bytes(), usize::MAX).ok();
        for body in [good.clone(), format!("[{good},{good}]"), format!(" \n[{good}]\n")] {
            assert!(parse_body_fast(body.as_bytes()).is_some(), "{body}");
            assert_eq!(parse_body_fast(body.as_bytes()), careful(&body), "{body}");
        }
        let faults = [
            good.replacen(r#""created_at_ms":1"#, r#""created_at_ms":1.0"#, 1),
            good.replacen(r#""created_at_ms":1"#, r#""created_at_ms":1,"created_at_ms":2"#, 1),
            good.replacen(r#""rule":"r""#, r#""rule":"r","rule":"x""#, 1),
            good.replacen(r#""rule":"r""#, r#""rule":"r","r\u0075le":"x""#, 1),
            good.replacen(r#""kind":"alarm""#, r#""kind":"alarm","kind":"alarm""#, 1),
            good.replacen(r#""rule":"r""#, r#""rule":"r","extra":1"#, 1),
            good.replacen(r#""signature":""#, r#""sig":"x","signature":""#, 1),
            good.replacen(r#""severity":"low""#, r#""severity":"lowest""#, 1),
            good.replacen(r#""idempotency_key":"k""#, r#""idempotency_key":"""#, 1),
            good.replacen(r#""signature":""#, r#""signature":"AA"#, 1),
            // A statement, or its event, as an array of its fields in order (a derived struct
            // would read that).
            {
                let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
                v["statement"]["event"] = serde_json::json!(["alarm", "r", "low", "s"]);
                v.to_string()
            },
            {
                let v: serde_json::Value = serde_json::from_str(&good).unwrap();
                let st = &v["statement"];
                let fields = serde_json::json!([st["key"], st["idempotency_key"], st["created_at_ms"], st["event"]]);
                serde_json::json!({"statement": fields, "signature": v["signature"]}).to_string()
            },
            "[]".into(),
            "7".into(),
            format!("[{good},7]"),
        ];
        for body in faults {
            assert_ne!(body, good);
            assert_eq!(parse_body_fast(body.as_bytes()), None, "{body}");
            assert_eq!(careful(&body), None, "{body}");
        }
    }

    /// The careful way names each fault, with its submission's index; a count over the limit
    /// comes before any submission's fault, a fault of the JSON itself before everything.
    #[test]
    fn the_careful_way_names_what_is_wrong_and_where() {
        let good = good_alarm();
        let float = good.replacen(r#""created_at_ms":1"#, r#""created_at_ms":1.5"#, 1);
        let no_sig = good.replacen(r#""signature":""#, r#""sig":""#, 1);
        let bad_sig = good.replacen(r#""signature":""#, r#""signature":"AA"#, 1);
        let dup = good.replacen(r#""rule":"r""#, r#""rule":"r","rule":"x""#, 1);
        let zeros = |n: usize| format!("[{}]", vec!["0"; n].join(","));
        let malformed = |s: &str| Err(BodyError::Malformed(s.into()));
        let invalid = |index| Err(BodyError::Invalid { index, error: StatementError::SignatureEncoding });
        let ok = |n: usize| Ok(n);
        for (name, body, max, want) in [
            ("one object", good.clone(), 3, ok(1)),
            ("three", format!("[{good},{good},{good}]"), 3, ok(3)),
            ("empty", "[ ]".into(), 3, Err(BodyError::Empty { max: 3 })),
            (
                "four of three",
                format!("[{good},{good},{good},{good}]"),
                3,
                Err(BodyError::TooMany { count: 4, max: 3 }),
            ),
            ("two million zeros", zeros(2_000_000), 1000, Err(BodyError::TooMany { count: 2_000_000, max: 1000 })),
            (
                "over the count with a fault first",
                format!("[{bad_sig},{good},7,7]"),
                3,
                Err(BodyError::TooMany { count: 4, max: 3 }),
            ),
            (
                "a float in the second",
                format!("[{good},{float}]"),
                3,
                malformed("$[1].statement.created_at_ms: numbers must be integers"),
            ),
            ("a float alone", float.clone(), 3, malformed("$.statement.created_at_ms: numbers must be integers")),
            (
                "an unknown field",
                format!("[{good},{no_sig}]"),
                3,
                malformed("event 1: sig: unknown field `sig`, expected one of `statement`, `signature`, `openings`"),
            ),
            ("the first fault first", format!("[{good},{bad_sig},{no_sig}]"), 3, invalid(1)),
            ("a key twice, after a fault", format!("[{bad_sig},{dup}]"), 3, malformed("duplicate")),
            (
                "a float, after a fault",
                format!("[{bad_sig},{float}]"),
                3,
                malformed("$[1].statement.created_at_ms: numbers"),
            ),
            (
                "a float, before too many",
                format!("[{float},7,7,7]"),
                3,
                malformed("$[0].statement.created_at_ms: numbers"),
            ),
            ("a float past the count", format!("[7,7,7,{float}]"), 3, Err(BodyError::TooMany { count: 4, max: 3 })),
            ("a number", "7".into(), 3, malformed("expected a submission object or an array of them")),
            ("nothing", " ".into(), 3, malformed("EOF while parsing a value at line 1 column 1")),
            ("cut", format!("[{good}"), 3, malformed("not valid JSON: EOF while parsing a list")),
            ("trailing", format!("[{good}] x"), 3, malformed("trailing characters")),
        ] {
            let got = parse_body(body.as_bytes(), max).map(|v| v.len());
            match (&got, &want) {
                // A fault of the JSON: the words serde_json chose, in part.
                (Err(BodyError::Malformed(g)), Err(BodyError::Malformed(w))) => {
                    assert!(g.contains(w.as_str()), "{name}: {g:?} lacks {w:?}")
                }
                _ => assert_eq!(got, want, "{name}"),
            }
        }
    }

    /// Found by the `entry` fuzz target: statement bytes that are canonical JSON and a valid
    /// statement, but another spelling of it than `to_bytes`, were accepted. Each is refused
    /// now; the statement's own bytes still parse.
    #[test]
    fn other_spellings_of_a_statement_are_refused() {
        // A key whose id has a hex letter, to spell it in upper case.
        let k = (1..)
            .map(|b| SignerKey::from_seed("withdrawals", [b; 32]).unwrap())
            .find(|k| format!("{:08x}", k.key_ref.id).contains(|c: char| c.is_ascii_lowercase()))
            .unwrap();
        let c = crate::hash::commitment(&[2; 32], "acct-1").to_hex();
        let event = Event::from_value(serde_json::json!({"kind": "withdrawal", "withdrawal_id": "w-1",
            "stage": "executed", "asset": "BTC", "amount": "7", "destination": "d", "tx_id": "t",
            "wallet": "hot-1", "wallet_tier": "hot", "account": {"commitment": c}}))
        .unwrap();
        let st = Statement { key: k.key_ref.clone(), idempotency_key: "i-1".into(), created_at_ms: 5, event };
        let good = String::from_utf8(st.to_bytes().unwrap()).unwrap();
        assert_eq!(Statement::from_bytes(good.as_bytes()), Ok(st));
        let id = format!("{:08x}", k.key_ref.id);
        let alarm = |refs: &str| {
            format!(
                r#"{{"created_at_ms":5,"event":{{"kind":"alarm",{refs}"rule":"r","severity":"low","summary":"s"}},"idempotency_key":"i-1","key":"withdrawals+{id}"}}"#
            )
        };
        assert!(Statement::from_bytes(alarm(r#""refs":[],"#).as_bytes()).is_ok());
        let upper_hex = |s: &str, hex: &str| s.replacen(hex, &hex.to_ascii_uppercase(), 1);
        for bad in [
            upper_hex(&good, &c),
            good.replacen(&id, &id.to_ascii_uppercase(), 1),
            good.replacen(r#","stage""#, r#","reason":null,"stage""#, 1),
            alarm(""),
        ] {
            assert_ne!(bad, good);
            assert!(crate::canonical::parse_canonical(bad.as_bytes()).is_ok(), "{bad}");
            assert_eq!(Statement::from_bytes(bad.as_bytes()), Err(StatementError::NotItsForm), "{bad}");
        }
    }
}
