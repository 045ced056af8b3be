//! The configuration file (`vigil serve --config`): `config::Config::parse` of any text, then
//! `resolve_paths`.
//!
//! Properties: every setting the file does not name keeps its default (a partial `[server]`
//! table included); resolving the paths twice changes nothing more than resolving them once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use vigil_core::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(c) = Config::parse(text) else { return };
    let d = Config::default();
    // Whether the file names the setting at `path` (`server.public`): its keys as TOML reads
    // them, so a quoted key with escapes (`"d\u0061ta_dir"`) counts as the name it spells.
    let table: toml::Table = text.parse().expect("a file the config parses is a TOML table");
    let named = |path: &str| {
        let mut at = &table;
        let mut keys = path.split('.').map(str::trim).peekable();
        while let Some(key) = keys.next() {
            match (at.get(key), keys.peek()) {
                (Some(_), None) => return true,
                (Some(toml::Value::Table(inner)), Some(_)) => at = inner,
                _ => return false,
            }
        }
        false
    };
    macro_rules! default_unless_named {
        ($($field:ident).+) => {
            let path = stringify!($($field).+);
            if !named(path) {
                assert_eq!(c.$($field).+, d.$($field).+, "{path} is not in the file");
            }
        };
    }
    default_unless_named!(data_dir);
    default_unless_named!(reserves_dir);
    default_unless_named!(web_dir);
    default_unless_named!(log_key);
    default_unless_named!(origin);
    default_unless_named!(operator_key);
    default_unless_named!(services);
    default_unless_named!(auditors);
    default_unless_named!(witnesses);
    default_unless_named!(witness_quorum);
    default_unless_named!(witness_refresh_ms);
    default_unless_named!(server.public);
    default_unless_named!(server.internal);
    default_unless_named!(server.replay_window_ms);
    default_unless_named!(server.max_in_flight);
    default_unless_named!(server.request_timeout_ms);
    let mut once = c.clone();
    once.resolve_paths(Path::new("/etc/vigil"));
    let mut twice = once.clone();
    twice.resolve_paths(Path::new("/elsewhere"));
    assert_eq!(once, twice, "resolved paths are absolute: a second resolution changes nothing");
});
