//! Signed requests: how an auditor proves who is asking for private data (docs/FORMAT.md §3.7).
//!
//! The client signs, with its Ed25519 key,
//!
//! ```text
//! "vigil request v1\n" ‖ METHOD ‖ " " ‖ PATH ‖ "\n" ‖ created_ms (decimal)
//! ```
//!
//! and sends the header `Vigil-Signature: keyid=<name+hexid>;created=<ms>;sig=<base64>`. The
//! server finds the key by its id, checks the signature and refuses a `created` too far from
//! its clock, so a captured header is useless elsewhere (another path) or later.

use crate::keys::{KeyRef, SignerKey, VerifierKey};
use base64::prelude::{Engine, BASE64_STANDARD};

/// The header that carries the signature.
pub const HEADER: &str = "vigil-signature";

/// The message a request's signature covers.
pub fn message(method: &str, path: &str, created_ms: u64) -> Vec<u8> {
    format!("vigil request v1\n{method} {path}\n{created_ms}").into_bytes()
}

/// A parsed `Vigil-Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSignature {
    pub key: KeyRef,
    pub created_ms: u64,
    pub signature: [u8; 64],
}

impl RequestSignature {
    /// Signs `method path` at `created_ms`; returns the header value.
    pub fn sign(key: &SignerKey, method: &str, path: &str, created_ms: u64) -> String {
        let sig = key.sign(&message(method, path, created_ms));
        format!("keyid={};created={created_ms};sig={}", key.key_ref, BASE64_STANDARD.encode(sig))
    }

    /// Parses a header value. Never panics.
    pub fn parse(header: &str) -> Result<RequestSignature, String> {
        let (mut key, mut created, mut sig) = (None, None, None);
        for part in header.split(';') {
            let (k, v) = part.trim().split_once('=').ok_or_else(|| format!("{part:?} is not key=value"))?;
            let slot = match k {
                "keyid" => &mut key,
                "created" => &mut created,
                "sig" => &mut sig,
                _ => return Err(format!("unknown parameter {k:?} (expected keyid, created, sig)")),
            };
            if slot.replace(v).is_some() {
                return Err(format!("parameter {k:?} repeated"));
            }
        }
        let key = KeyRef::parse(key.ok_or("keyid missing")?).map_err(|e| e.to_string())?;
        let created_ms = created
            .ok_or("created missing")?
            .parse::<u64>()
            .map_err(|_| "created must be Unix milliseconds".to_string())?;
        let sig = BASE64_STANDARD.decode(sig.ok_or("sig missing")?).map_err(|_| "sig is not base64".to_string())?;
        let signature: [u8; 64] = sig.try_into().map_err(|_| "sig must be 64 bytes".to_string())?;
        Ok(RequestSignature { key, created_ms, signature })
    }

    /// Checks the signature of `method path` with `key` (which must be the one named).
    pub fn verify(&self, key: &VerifierKey, method: &str, path: &str) -> bool {
        key.key_ref == self.key && key.verify(&message(method, path, self.created_ms), &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_request_verifies_only_for_its_method_path_and_key() {
        let k = SignerKey::from_seed("auditor", [7; 32]).unwrap();
        let other = SignerKey::from_seed("auditor", [8; 32]).unwrap();
        let h = RequestSignature::sign(&k, "GET", "/v1/openings/5", 1_000);
        let r = RequestSignature::parse(&h).unwrap();
        assert_eq!(r.created_ms, 1_000);
        assert!(r.verify(&k.verifier(), "GET", "/v1/openings/5"));
        assert!(!r.verify(&k.verifier(), "GET", "/v1/openings/6"));
        assert!(!r.verify(&k.verifier(), "POST", "/v1/openings/5"));
        assert!(!r.verify(&other.verifier(), "GET", "/v1/openings/5"));
    }

    #[test]
    fn malformed_headers_are_errors() {
        for h in [
            "",
            "keyid=a",
            "keyid=a+00000000;created=1;sig=AA==",
            "keyid=x;created=1;sig=@@",
            "sig=a;sig=b",
            "nonsense",
        ] {
            assert!(RequestSignature::parse(h).is_err(), "{h}");
        }
    }
}
