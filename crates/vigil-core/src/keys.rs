//! Keys in the C2SP signed-note formats, so standard tooling reads them:
//! verifier keys `name+hexid+base64(0x01‖pubkey)` and private keys
//! `PRIVATE+KEY+name+hexid+base64(0x01‖seed)` (Go's `sumdb/note`).
//!
//! Parsing is done by the `signed_note` crate; this module adds the typed handles vigil passes
//! around ([`VerifierKey`], [`SignerKey`], [`KeyRef`]). Key generation takes its 32 random bytes
//! from the caller: the core draws no randomness.

use base64::prelude::{Engine, BASE64_STANDARD};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use std::fmt;

/// Algorithm byte of an Ed25519 signed-note key.
pub const ALG_ED25519: u8 = 0x01;
/// Algorithm byte of an Ed25519 `cosignature/v1` key.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("malformed verifier key {0:?}: expected name+hexid+base64 of the key type (0x01; 0x04 for a witness cosigner key) and a 32-byte Ed25519 public key")]
    VerifierFormat(String),
    #[error("malformed private key: expected PRIVATE+KEY+name+hexid+base64 of 0x01 and a 32-byte seed")]
    SignerFormat,
    /// A private key where a public one belongs: its text is never repeated.
    #[error("this is a private key, not a verifier key: give the matching .vkey file")]
    PrivateNotVerifier,
    #[error("verifier key {name} is a {found}, but {wanted} is needed here")]
    WrongType { name: String, found: &'static str, wanted: &'static str },
    #[error("key id {0} does not match the key's name and public key")]
    WrongId(String),
    #[error("bad key reference {0:?}: expected name+8 hex digits")]
    Ref(String),
    #[error("invalid key name {0:?}: a key name is non-empty, with no spaces and no '+'")]
    Name(String),
}

/// The signed-note key id: the first 4 bytes of SHA-256(name ‖ "\n" ‖ alg ‖ pubkey), big-endian.
pub fn key_id(name: &str, alg: u8, pubkey: &[u8; 32]) -> u32 {
    let mut k = Vec::with_capacity(33);
    k.push(alg);
    k.extend_from_slice(pubkey);
    signed_note::key_id(name, &k)
}

/// A key's name and id: how statements and revocations refer to a key, `name+hexid`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyRef {
    pub name: String,
    pub id: u32,
}

impl KeyRef {
    pub fn parse(s: &str) -> Result<KeyRef, KeyError> {
        let (name, id) = s.rsplit_once('+').ok_or_else(|| KeyError::Ref(s.into()))?;
        if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) || !signed_note::is_key_name_valid(name) {
            return Err(KeyError::Ref(s.into()));
        }
        let id = u32::from_str_radix(id, 16).map_err(|_| KeyError::Ref(s.into()))?;
        Ok(KeyRef { name: name.into(), id })
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{:08x}", self.name, self.id)
    }
}

impl serde::Serialize for KeyRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeyRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyRef::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Parses a verifier key string `name+hexid+base64(alg ‖ 32-byte Ed25519 key)` of key type
/// `alg`; checks the id against name and key, and refuses small-order keys. Returns name, key
/// and id.
pub(crate) fn parse_vkey(vkey: &str, alg: u8) -> Result<(String, VerifyingKey, u32), KeyError> {
    let bad = || KeyError::VerifierFormat(vkey.chars().take(120).collect());
    let vkey = vkey.trim();
    if vkey.starts_with("PRIVATE+KEY+") {
        return Err(KeyError::PrivateNotVerifier);
    }
    let (name, rest) = vkey.split_once('+').ok_or_else(bad)?;
    let (id_hex, b64) = rest.split_once('+').ok_or_else(bad)?;
    if id_hex.len() != 8 || !signed_note::is_key_name_valid(name) {
        return Err(bad());
    }
    let id = u32::from_str_radix(id_hex, 16).map_err(|_| bad())?;
    let raw = BASE64_STANDARD.decode(b64).map_err(|_| bad())?;
    let kind = |alg: u8| match alg {
        ALG_ED25519 => "log or service key (type 0x01)",
        ALG_COSIGNATURE_V1 => "witness cosigner key (type 0x04)",
        _ => "key of an unknown type",
    };
    if raw.len() == 33 && raw[0] != alg {
        return Err(KeyError::WrongType { name: format!("{name}+{id_hex}"), found: kind(raw[0]), wanted: kind(alg) });
    }
    if raw.len() != 33 {
        return Err(bad());
    }
    let pk: [u8; 32] = raw[1..].try_into().map_err(|_| bad())?;
    if key_id(name, alg, &pk) != id {
        return Err(KeyError::WrongId(id_hex.into()));
    }
    let key = VerifyingKey::from_bytes(&pk).map_err(|_| bad())?;
    if key.is_weak() {
        // A small-order key can "sign" many messages at once; never accept one.
        return Err(bad());
    }
    Ok((name.into(), key, id))
}

/// A public Ed25519 key with its signed-note name and id.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    pub key_ref: KeyRef,
    pub key: VerifyingKey,
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_vkey())
    }
}

impl VerifierKey {
    /// Parses a verifier key string; checks the id against name and key.
    pub fn parse(vkey: &str) -> Result<VerifierKey, KeyError> {
        let (name, key, id) = parse_vkey(vkey, ALG_ED25519)?;
        Ok(VerifierKey { key_ref: KeyRef { name, id }, key })
    }

    pub fn new(name: &str, key: VerifyingKey) -> Result<VerifierKey, KeyError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(KeyError::Name(name.into()));
        }
        let id = key_id(name, ALG_ED25519, key.as_bytes());
        Ok(VerifierKey { key_ref: KeyRef { name: name.into(), id }, key })
    }

    pub fn name(&self) -> &str {
        &self.key_ref.name
    }

    /// The verifier key string.
    pub fn to_vkey(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.key_ref.name, self.key_ref.id, BASE64_STANDARD.encode(raw))
    }

    /// Verifies an Ed25519 signature (RFC 8032, cofactorless, canonical `s` required): the rule
    /// of signed notes and auditors' signed requests. Statements use ZIP-215
    /// (`statement::verify`).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        use ed25519_dalek::Verifier as _;
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        self.key.verify(msg, &sig).is_ok()
    }
}

impl signed_note::Verifier for VerifierKey {
    fn name(&self) -> &str {
        &self.key_ref.name
    }
    fn key_id(&self) -> u32 {
        self.key_ref.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        VerifierKey::verify(self, msg, sig)
    }
}

/// A private Ed25519 key with its signed-note name and id.
#[derive(Clone)]
pub struct SignerKey {
    pub key_ref: KeyRef,
    pub key: SigningKey,
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignerKey({})", self.key_ref)
    }
}

impl SignerKey {
    /// Parses a `PRIVATE+KEY+...` string; checks the id against the derived public key.
    pub fn parse(skey: &str) -> Result<SignerKey, KeyError> {
        let skey = skey.trim();
        let rest = skey.strip_prefix("PRIVATE+KEY+").ok_or(KeyError::SignerFormat)?;
        let (name, rest) = rest.split_once('+').ok_or(KeyError::SignerFormat)?;
        let (id_hex, b64) = rest.split_once('+').ok_or(KeyError::SignerFormat)?;
        if id_hex.len() != 8 || !signed_note::is_key_name_valid(name) {
            return Err(KeyError::SignerFormat);
        }
        let id = u32::from_str_radix(id_hex, 16).map_err(|_| KeyError::SignerFormat)?;
        let raw = BASE64_STANDARD.decode(b64).map_err(|_| KeyError::SignerFormat)?;
        if raw.len() != 33 || raw[0] != ALG_ED25519 {
            return Err(KeyError::SignerFormat);
        }
        let seed: [u8; 32] = raw[1..].try_into().map_err(|_| KeyError::SignerFormat)?;
        let key = SigningKey::from_bytes(&seed);
        if key_id(name, ALG_ED25519, key.verifying_key().as_bytes()) != id {
            return Err(KeyError::WrongId(id_hex.into()));
        }
        Ok(SignerKey { key_ref: KeyRef { name: name.into(), id }, key })
    }

    /// A key from 32 random bytes the caller drew.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<SignerKey, KeyError> {
        let key = SigningKey::from_bytes(&seed);
        let v = VerifierKey::new(name, key.verifying_key())?;
        Ok(SignerKey { key_ref: v.key_ref, key })
    }

    pub fn name(&self) -> &str {
        &self.key_ref.name
    }

    pub fn verifier(&self) -> VerifierKey {
        VerifierKey { key_ref: self.key_ref.clone(), key: self.key.verifying_key() }
    }

    /// The private key string.
    pub fn to_skey(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("PRIVATE+KEY+{}+{:08x}+{}", self.key_ref.name, self.key_ref.id, BASE64_STANDARD.encode(raw))
    }

    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }

    /// 32 bytes that only this key's holder can compute, for `context` and `input`: BLAKE3 in
    /// derive-key mode over the private seed and `input`. To anyone without the key they are
    /// as unpredictable as random bytes, and they come out the same every time (e.g. `vigil
    /// append`'s idempotency keys for lines without one). Not for commitment salts: whoever
    /// later steals the key could recompute them and test guesses of every past private value.
    pub fn derive_secret(&self, context: &str, input: &[u8]) -> [u8; 32] {
        let mut h = blake3::Hasher::new_derive_key(context);
        h.update(self.key.as_bytes());
        h.update(input);
        *h.finalize().as_bytes()
    }
}

impl signed_note::Signer for SignerKey {
    fn name(&self) -> &str {
        &self.key_ref.name
    }
    fn key_id(&self) -> u32 {
        self.key_ref.id
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(SignerKey::sign(self, msg).to_vec())
    }
}

/// A file-name stem for a key name: names may hold `/` (origins like
/// `exchange.example/audit-log`), which must never become a path separator.
pub fn file_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .collect();
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() {
        "key".into()
    } else {
        s
    }
}
