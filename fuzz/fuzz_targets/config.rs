//! The configuration file (`vigil serve --config`): `config::Config::parse` of any text, then
//! `resolve_paths`.
//!
//! Properties: what parses keeps every setting the file leaves out at its default (a file of
//! only comments and blank lines is the default configuration); resolving the paths against a
//! folder leaves no relative path setting and changes nothing else.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use vigil_core::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(c) = Config::parse(text) else { return };
    if text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        assert_eq!(c, Config::default(), "a file without settings");
    }
    let mut r = c.clone();
    r.resolve_paths(Path::new("/etc/vigil"));
    let paths = [&r.data_dir, &r.reserves_dir, &r.web_dir, &r.log_key, &r.operator_key]
        .into_iter()
        .chain(r.auditors.iter())
        .chain(r.services.iter().map(|s| &s.vkey))
        .chain(r.witnesses.iter().map(|w| &w.vkey));
    for p in paths {
        assert!(p.is_absolute(), "{} is still relative", p.display());
    }
    assert_eq!((r.server, r.witness_quorum, r.services.len()), (c.server, c.witness_quorum, c.services.len()));
});
