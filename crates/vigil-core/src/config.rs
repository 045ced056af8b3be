//! The configuration file's settings and their defaults (TOML): pure parsing of text already
//! read, behind the `config` feature (it brings the `toml` crate). The server reads the file
//! and the key files it names (`vigil::config`); a fuzz target feeds [`Config::parse`] any text.
//!
//! ```toml
//! data_dir = "data"                          # RocksDB data dir
//! reserves_dir = "reserves"                  # proof-of-reserves trees, one RocksDB per snapshot
//! web_dir = "web"                            # the public web page (index.html, app.js, vigil.wasm)
//! log_key = "keys-example/vigil.example_audit-log.key" # signs checkpoints; its name is the origin
//! origin = "vigil.example/audit-log"         # checked against the log key's name (optional)
//! operator_key = "keys-example/operator.key" # registers the service keys in a new log
//! auditors = ["keys-example/auditor.vkey"]   # may read private-field openings (before any table)
//! witness_quorum = 2                         # cosignatures a checkpoint needs (default: all witnesses)
//! witness_refresh_ms = 600000                # an unchanged checkpoint is sent to them again this often
//!
//! [[witnesses]]                              # C2SP tlog-witness servers; none by default
//! url = "http://127.0.0.1:8090"
//! vkey = "keys-example/witness-1.vkey"       # its cosigner key (type 0x04)
//!
//! [[services]]
//! vkey = "keys-example/withdrawals.vkey"
//! kinds = ["withdrawal"]
//!
//! [server]                                   # every setting has this default
//! public = "127.0.0.1:8080"                  # read-only public API
//! internal = "127.0.0.1:8081"                # append API
//! replay_window_ms = 300000
//! max_in_flight = 100000
//! request_timeout_ms = 30000                 # headers within it (else closed), answers too (else 408)
//! ```
//! Relative paths are relative to the configuration file's folder.

use crate::event::EventKind;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Default of `witness_refresh_ms`: 10 minutes.
pub const WITNESS_REFRESH_MS: u64 = 600_000;

/// Default of `[server] request_timeout_ms`: 30 s.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;

/// A configuration file that is not TOML of these settings: the message names the line and
/// the setting (`TOML parse error at line 3, column 1 … unknown field `dta_dir``).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// One service key: `[[services]] vkey = "…" kinds = ["withdrawal"]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub vkey: PathBuf,
    #[serde(deserialize_with = "at_least_one_kind")]
    pub kinds: Vec<EventKind>,
}

/// A service key that may append nothing cannot be registered (§7 of docs/FORMAT.md): said
/// here, with the file's line, rather than when the log is created.
fn at_least_one_kind<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<EventKind>, D::Error> {
    let kinds = Vec::<EventKind>::deserialize(d)?;
    if kinds.is_empty() {
        return Err(serde::de::Error::custom("a service needs at least one kind it may append"));
    }
    Ok(kinds)
}

/// One witness: `[[witnesses]] url = "…" vkey = "…"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// The witness's submission prefix, e.g. `http://127.0.0.1:8090` (`/add-checkpoint` is
    /// appended).
    pub url: String,
    /// The witness's cosigner verifier key file (key type 0x04).
    pub vkey: PathBuf,
}

/// Listeners and limits of `vigil serve`, from the `[server]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The public, read-only API.
    pub public: SocketAddr,
    /// The internal append API; loopback unless you mean otherwise.
    pub internal: SocketAddr,
    /// How far an event's `created_at_ms` may be from the server's clock.
    #[serde(deserialize_with = "replay_window_ms")]
    pub replay_window_ms: u64,
    /// Events waiting for the sequencer before appends get 503.
    #[serde(deserialize_with = "max_in_flight")]
    pub max_in_flight: usize,
    /// How long a client has to send a request's headers (else the connection is closed), and
    /// then how long the request may take (else 408).
    #[serde(deserialize_with = "request_timeout_ms")]
    pub request_timeout_ms: u64,
}

/// The limits' ranges: (setting, least, most, in words). Below them the server would refuse
/// every append (a replay window of 0, an in-flight limit below one full batch) or time every
/// request out.
const RANGES: [(&str, u64, u64, &str); 4] = [
    ("request_timeout_ms", 1, 3_600_000, "1 ms to an hour"),
    // No ceiling: the demo's log, dated 2019, takes appends signed today.
    ("replay_window_ms", 1_000, u64::MAX, "at least a second"),
    ("max_in_flight", MAX_BATCH as u64, 100_000_000, "at least one full batch"),
    ("witness_refresh_ms", 1_000, 86_400_000, "a second to a day"),
];

/// `value` of the limit `name` in its range, or what is wrong.
fn in_range(name: &str, value: u64) -> Result<(), String> {
    match RANGES.iter().find(|r| r.0 == name) {
        Some(&(_, least, most, what)) if !(least..=most).contains(&value) => {
            Err(format!("{name} must be from {least} to {most} ({what}), not {value}"))
        }
        _ => Ok(()),
    }
}

/// A limit read from the file, refused there (the error then names the line) when out of range.
fn ranged<'de, D: serde::Deserializer<'de>>(d: D, name: &str) -> Result<u64, D::Error> {
    let v = u64::deserialize(d)?;
    in_range(name, v).map_err(serde::de::Error::custom)?;
    Ok(v)
}

fn replay_window_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    ranged(d, "replay_window_ms")
}

fn request_timeout_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    ranged(d, "request_timeout_ms")
}

fn witness_refresh_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    ranged(d, "witness_refresh_ms")
}

fn max_in_flight<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    usize::try_from(ranged(d, "max_in_flight")?).map_err(serde::de::Error::custom)
}

/// Most events in one append request (`POST /v1/events`).
pub const MAX_BATCH: usize = 1000;

impl ServerConfig {
    /// The limits' ranges, checked again once the file, the environment and the flags are
    /// merged (the file's values were checked as it was read): the error names the three
    /// places the value can come from.
    pub fn check(&self) -> Result<(), String> {
        [
            ("request_timeout_ms", self.request_timeout_ms),
            ("replay_window_ms", self.replay_window_ms),
            ("max_in_flight", self.max_in_flight as u64),
        ]
        .into_iter()
        .try_for_each(|(name, value)| {
            in_range(name, value).map_err(|e| {
                format!(
                    "{e} (from the flag --{}, the environment's VIGIL_{}, or the file's [server] {name})",
                    name.replace('_', "-"),
                    name.to_uppercase()
                )
            })
        })
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            public: ([127, 0, 0, 1], 8080).into(),
            internal: ([127, 0, 0, 1], 8081).into(),
            replay_window_ms: 5 * 60 * 1000,
            max_in_flight: 100_000,
            request_timeout_ms: REQUEST_TIMEOUT_MS,
        }
    }
}

/// A configuration. Every setting has a default (below); a file sets some, the environment and
/// flags of `vigil serve`/`vigil init` override them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Where `vigil reserves build` writes snapshot trees and the public API reads them.
    pub reserves_dir: PathBuf,
    /// The web page the public listener serves at `/`.
    pub web_dir: PathBuf,
    pub log_key: PathBuf,
    /// The log's origin, if stated: the log key's name must be it (a checkpoint's origin line
    /// is its log key's name). Unset, the origin is whatever the log key is named.
    pub origin: Option<String>,
    pub operator_key: PathBuf,
    pub services: Vec<ServiceConfig>,
    /// Verifier keys of auditors, who may read private-field openings (signed requests).
    pub auditors: Vec<PathBuf>,
    /// Witnesses the log sends its checkpoints to for cosigning.
    pub witnesses: Vec<WitnessConfig>,
    /// How many of them must cosign a checkpoint before it is served (default: all).
    pub witness_quorum: Option<usize>,
    /// How often a checkpoint that has not changed is sent to the witnesses again, so that
    /// their cosignatures (timestamped) show a quiet log's view is current, not held back.
    #[serde(deserialize_with = "witness_refresh_ms")]
    pub witness_refresh_ms: u64,
    pub server: ServerConfig,
    /// Where the settings were read: the file, and the lines of those later checks name.
    #[serde(skip)]
    pub source: Source,
}

/// Where a configuration's settings were read (the key files, the origin, the quorum, the list
/// entries), so that the checks made once the key files are read (a key listed twice, a
/// witness URL that is not `http://`) can name the line as the parser does. Empty for a
/// configuration built in code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// The file, once [`Config::parse`]'s caller has read one.
    pub file: Option<PathBuf>,
    /// Setting (`services[1].vkey`, `auditors[0]`) → its line, from 1.
    lines: std::collections::BTreeMap<String, usize>,
}

/// Where a value was written, whatever it is.
type Span = toml::Spanned<serde::de::IgnoredAny>;

/// The spans of the settings that later checks name (a second reading of a text already
/// parsed): the key files, the origin and the quorum, and the list settings' entries.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Spans {
    log_key: Option<Span>,
    origin: Option<Span>,
    operator_key: Option<Span>,
    witness_quorum: Option<Span>,
    services: Vec<toml::Spanned<EntrySpans>>,
    auditors: Vec<Span>,
    witnesses: Vec<toml::Spanned<EntrySpans>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EntrySpans {
    vkey: Option<Span>,
    url: Option<Span>,
    kinds: Option<Span>,
}

impl Source {
    /// The lines of `text`'s list entries and of their settings.
    fn of(text: &str) -> Source {
        let Ok(spans) = toml::from_str::<Spans>(text) else { return Source::default() };
        let line = |at: usize| text.get(..at).map_or(0, |t| t.matches('\n').count()) + 1;
        let mut lines = std::collections::BTreeMap::new();
        for (name, at) in [
            ("log_key", &spans.log_key),
            ("origin", &spans.origin),
            ("operator_key", &spans.operator_key),
            ("witness_quorum", &spans.witness_quorum),
        ] {
            if let Some(at) = at {
                lines.insert(name.to_string(), line(at.span().start));
            }
        }
        for (list, entries) in [("services", &spans.services), ("witnesses", &spans.witnesses)] {
            for (i, e) in entries.iter().enumerate() {
                lines.insert(format!("{list}[{i}]"), line(e.span().start));
                let inner = e.get_ref();
                for (name, at) in [("vkey", &inner.vkey), ("url", &inner.url), ("kinds", &inner.kinds)] {
                    if let Some(at) = at {
                        lines.insert(format!("{list}[{i}].{name}"), line(at.span().start));
                    }
                }
            }
        }
        for (i, a) in spans.auditors.iter().enumerate() {
            lines.insert(format!("auditors[{i}]"), line(a.span().start));
        }
        Source { file: None, lines }
    }

    /// The line of a setting (`log_key`), a list entry or one of its settings
    /// (`services[1].vkey`), if read from a file.
    pub fn line(&self, setting: &str) -> Option<usize> {
        self.lines.get(setting).copied()
    }

    /// Forgets the line of `setting`: its value now comes from elsewhere (the environment or a
    /// flag), and an error about it must not point into the file.
    pub fn forget(&mut self, setting: &str) {
        self.lines.remove(setting);
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: "data".into(),
            reserves_dir: "reserves".into(),
            web_dir: "web".into(),
            log_key: "keys/log.key".into(),
            origin: None,
            operator_key: "keys/operator.key".into(),
            services: Vec::new(),
            auditors: Vec::new(),
            witnesses: Vec::new(),
            witness_quorum: None,
            witness_refresh_ms: WITNESS_REFRESH_MS,
            server: Default::default(),
            source: Source::default(),
        }
    }
}

impl Config {
    /// The settings of a configuration file's text; those it leaves out keep their defaults.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut c: Config = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        c.source = Source::of(text);
        Ok(c)
    }

    /// How an error names a setting: `setting services[1].vkey`, after the line it was read
    /// from when there is one, and the file when known (`config vigil.toml, line 8: setting
    /// services[1].vkey`). Lines are kept for the key files, the origin, the quorum and the
    /// list entries; a setting the environment or a flag overrides has none
    /// ([`Source::forget`]).
    pub fn setting(&self, setting: &str) -> String {
        match (self.source.line(setting), &self.source.file) {
            (None, _) => format!("setting {setting}"),
            (Some(n), None) => format!("line {n}: setting {setting}"),
            (Some(n), Some(f)) => format!("config {}, line {n}: setting {setting}", f.display()),
        }
    }

    /// Makes every relative path setting relative to `base`, the configuration file's folder.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        fix(&mut self.reserves_dir);
        fix(&mut self.web_dir);
        fix(&mut self.log_key);
        fix(&mut self.operator_key);
        for s in &mut self.services {
            fix(&mut s.vkey);
        }
        for a in &mut self.auditors {
            fix(a);
        }
        for w in &mut self.witnesses {
            fix(&mut w.vkey);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_entries_are_named_with_their_lines() {
        let text = "data_dir = \"d\"\nauditors = [\n  \"a.vkey\",\n  \"b.vkey\",\n]\n\n[[services]]\nvkey = \"w.vkey\"\nkinds = [\"withdrawal\"]\n\n[[witnesses]]\nurl = \"http://w\"\nvkey = \"w1.vkey\"\n\n[[services]]\nkinds = [\"alarm\"]\nvkey = \"r.vkey\"\n";
        let mut c = Config::parse(text).unwrap();
        // (setting, its line)
        let cases = [
            ("auditors[0]", Some(3)),
            ("auditors[1]", Some(4)),
            ("services[0].vkey", Some(8)),
            ("services[0].kinds", Some(9)),
            ("witnesses[0].url", Some(12)),
            ("witnesses[0].vkey", Some(13)),
            ("services[1].kinds", Some(16)),
            ("services[1].vkey", Some(17)),
            // An entry is named at its table's header.
            ("witnesses[0]", Some(11)),
            ("services[1]", Some(15)),
            ("services[2].vkey", None),
            ("data_dir", None),
        ];
        for (setting, line) in cases {
            assert_eq!(c.source.line(setting), line, "{setting}");
        }
        assert_eq!(c.setting("services[1].vkey"), "line 17: setting services[1].vkey");
        assert_eq!(c.setting("log_key"), "setting log_key", "not in the file");
        c.source.file = Some("etc/vigil.toml".into());
        assert_eq!(c.setting("witnesses[0].url"), "config etc/vigil.toml, line 12: setting witnesses[0].url");
        assert_eq!(Config::default().setting("services[0].vkey"), "setting services[0].vkey");
        // Top-level settings that later checks name; forgotten once overridden.
        let mut c = Config::parse("data_dir = \"d\"\n\nwitness_quorum = 1\nlog_key = \"l.key\"\n").unwrap();
        assert_eq!((c.source.line("witness_quorum"), c.source.line("log_key")), (Some(3), Some(4)));
        assert_eq!(c.source.line("operator_key"), None);
        c.source.forget("log_key");
        assert_eq!(c.setting("log_key"), "setting log_key");
    }

    #[test]
    fn server_limits_out_of_range_are_refused_naming_the_setting() {
        // (change, the setting named, or None when valid)
        type Case = (fn(&mut ServerConfig), Option<&'static str>);
        let cases: [Case; 8] = [
            (|_| {}, None),
            (|c| c.request_timeout_ms = 0, Some("request_timeout_ms must be from 1 to 3600000")),
            (|c| c.request_timeout_ms = 3_600_001, Some("request_timeout_ms")),
            (|c| c.replay_window_ms = 0, Some("replay_window_ms must be from 1000")),
            (|c| c.replay_window_ms = 999, Some("(at least a second), not 999")),
            (|c| c.max_in_flight = 0, Some("max_in_flight must be from 1000")),
            (|c| c.max_in_flight = MAX_BATCH - 1, Some("(at least one full batch), not 999")),
            (|c| c.max_in_flight = MAX_BATCH, None),
        ];
        for (i, (change, want)) in cases.into_iter().enumerate() {
            let mut c = ServerConfig::default();
            change(&mut c);
            match (c.check(), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => {
                    assert!(e.contains(w), "case {i}: {e}");
                    // Where the value may have come from: all three places.
                    assert!(
                        e.contains("the flag --") && e.contains("VIGIL_") && e.contains("[server] "),
                        "case {i}: {e}"
                    );
                }
                (got, want) => panic!("case {i}: {got:?}, wanted {want:?}"),
            }
        }
    }
}
