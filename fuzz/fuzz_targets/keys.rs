//! Key strings and key references (docs/FORMAT.md §3.5, §3.7): `keys::VerifierKey::parse`
//! (and through it `parse_vkey`), `keys::SignerKey::parse`, `checkpoint::CosignatureVerifier::
//! parse`, `keys::KeyRef::parse`, `hash::Digest::from_hex`, `keys::file_stem`, and the
//! auditors' `Vigil-Signature` header, `request::RequestSignature::parse` (+ `verify`).
//!
//! Round trips: a parsed key prints back to the input up to surrounding white space and the
//! case of the hex key id (`to_vkey`, `to_skey`, `KeyRef`'s `Display`), and parses again to the
//! same key; a parsed hash prints back to the input up to case; a file stem never holds a path
//! separator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::checkpoint::CosignatureVerifier;
use vigil_core::hash::Digest;
use vigil_core::keys::{file_stem, KeyRef, SignerKey, VerifierKey};
use vigil_core::request::RequestSignature;

/// A printed key against its input: equal but for surrounding white space and the case of the
/// hex key id (the parsers accept either case, the printers write lowercase); the base64 part
/// exactly.
fn same_up_to_id_case(printed: &str, input: &str) {
    assert_eq!(printed.to_ascii_lowercase(), input.trim().to_ascii_lowercase());
    let (p, i) = (printed.rsplit_once('+').unwrap().1, input.trim().rsplit_once('+').unwrap().1);
    assert_eq!(p, i, "the base64 part prints back exactly");
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(k) = VerifierKey::parse(s) {
        let v = k.to_vkey();
        same_up_to_id_case(&v, s);
        assert_eq!(VerifierKey::parse(&v).as_ref(), Ok(&k));
        assert!(!k.verify(b"message", &[0; 64]));
    }
    if let Ok(k) = CosignatureVerifier::parse(s) {
        let v = k.to_vkey();
        same_up_to_id_case(&v, s);
        let again = CosignatureVerifier::parse(&v).expect("printed key parses");
        assert_eq!((again.name, again.key), (k.name, k.key));
    }
    if let Ok(k) = SignerKey::parse(s) {
        let v = k.to_skey();
        same_up_to_id_case(&v, s);
        let again = SignerKey::parse(&v).expect("printed key parses");
        assert_eq!(again.key_ref, k.key_ref);
        assert_eq!(again.key.to_bytes(), k.key.to_bytes());
        assert!(k.verifier().verify(b"m", &k.sign(b"m")));
    }
    if let Ok(r) = KeyRef::parse(s) {
        assert_eq!(r.to_string().to_ascii_lowercase(), s.to_ascii_lowercase(), "key reference round trip");
        assert_eq!(KeyRef::parse(&r.to_string()), Ok(r));
    }
    if let Ok(d) = Digest::from_hex(s) {
        assert_eq!(d.to_hex(), s.to_ascii_lowercase());
    }
    let stem = file_stem(s);
    assert!(!stem.is_empty() && !stem.contains('/') && !stem.contains('\\') && !stem.starts_with('.'));
    if let Ok(r) = RequestSignature::parse(s) {
        let k = vigil_fuzz::OPERATOR.verifier();
        let _ = r.verify(&k, "GET", "/v1/openings/1");
    }
});
