//! Proof-of-reserves user proofs (docs/FORMAT.md §11.4): `reserves::Proof::decode`, then
//! `Proof::root` and `Proof::verify` against a fixed snapshot with each account's secret.
//!
//! Properties: decoding is strict (the code says "exactly one encoding per proof is
//! accepted"), so a decoded proof encodes back to the input; a proof that verifies for an
//! account's secret against the snapshot is that account's real proof (anything else would be
//! a hash collision), and its balances are the account's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::reserves::Proof;
use vigil_fuzz::RESERVES;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Proof::decode(data) else { return };
    assert_eq!(p.encode(), data, "proof round trip");
    let _ = p.root(&[0; 32], "");
    for (account, secret, real) in &RESERVES.accounts {
        let _ = p.root(secret, account);
        if p.verify(secret, account, &RESERVES.snapshot).is_ok() {
            // Its balances and record id are then the account's: they are part of the proof.
            assert_eq!(&p, real, "a verifying proof that is not the account's");
        }
    }
});
