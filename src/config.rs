//! Configuration file, key files, and bootstrapping a new log from them.
//!
//! ```toml
//! data_dir = "data"                          # RocksDB data dir
//! reserves_dir = "reserves"                  # proof-of-reserves trees, one RocksDB per snapshot
//! web_dir = "web"                            # the public web page (index.html, app.js, vigil.wasm)
//! log_key = "keys-example/log.key"           # signs checkpoints; its name is the origin
//! operator_key = "keys-example/operator.key" # registers the service keys in a new log
//! auditors = ["keys-example/auditor.vkey"]   # may read private-field openings (before any table)
//! witness_quorum = 2                         # cosignatures a checkpoint needs (default: all witnesses)
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

use crate::engine::{Engine, EngineConfig};
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use vigil_core::event::{Event, EventKind, KeyRegistered};
use vigil_core::keys::{file_stem, SignerKey, VerifierKey};
use vigil_core::statement::{ParsedSubmission, Statement, Submission};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub vkey: PathBuf,
    pub kinds: Vec<EventKind>,
}

/// A configuration. Every setting has a default (below); a file sets some, the environment and
/// flags of `vigil serve`/`vigil init` override them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Where `vigil reserves build` writes snapshot trees and the public API reads them.
    pub reserves_dir: PathBuf,
    /// The web page the public listener serves at `/`.
    pub web_dir: PathBuf,
    pub log_key: PathBuf,
    pub operator_key: PathBuf,
    pub services: Vec<ServiceConfig>,
    /// Verifier keys of auditors, who may read private-field openings (signed requests).
    pub auditors: Vec<PathBuf>,
    /// Witnesses the log sends its checkpoints to for cosigning.
    pub witnesses: Vec<crate::witnessing::WitnessConfig>,
    /// How many of them must cosign a checkpoint before it is served (default: all).
    pub witness_quorum: Option<usize>,
    pub server: crate::serve::ServerConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: "data".into(),
            reserves_dir: "reserves".into(),
            web_dir: "web".into(),
            log_key: "keys/log.key".into(),
            operator_key: "keys/operator.key".into(),
            services: Vec::new(),
            auditors: Vec::new(),
            witnesses: Vec::new(),
            witness_quorum: None,
            server: Default::default(),
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
        let mut c: Config = toml::from_str(&text).with_context(|| format!("config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut c.data_dir);
        fix(&mut c.reserves_dir);
        fix(&mut c.web_dir);
        fix(&mut c.log_key);
        fix(&mut c.operator_key);
        for s in &mut c.services {
            fix(&mut s.vkey);
        }
        for a in &mut c.auditors {
            fix(a);
        }
        for w in &mut c.witnesses {
            fix(&mut w.vkey);
        }
        Ok(c)
    }

    /// The auditors' verifier keys, read from their files.
    pub fn auditor_keys(&self) -> Result<Vec<VerifierKey>> {
        self.auditors
            .iter()
            .enumerate()
            .map(|(i, p)| read_verifier(p).with_context(|| format!("setting auditors[{i}]")))
            .collect()
    }

    /// The service keys and their kinds, read from their files.
    pub fn service_keys(&self) -> Result<Vec<(VerifierKey, Vec<EventKind>)>> {
        self.services
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Ok((read_verifier(&s.vkey).with_context(|| format!("setting services[{i}].vkey"))?, s.kinds.clone()))
            })
            .collect()
    }

    /// The witnesses and the policy (settings `witnesses`, `witness_quorum`); `None` without
    /// witnesses.
    pub fn witnessing(&self) -> Result<Option<crate::witnessing::Witnessing>> {
        if self.witnesses.is_empty() {
            if self.witness_quorum.is_some_and(|q| q > 0) {
                bail!("setting witness_quorum: no witnesses are configured");
            }
            return Ok(None);
        }
        let mut ws = Vec::new();
        for (i, w) in self.witnesses.iter().enumerate() {
            let key = read_cosigner(&w.vkey).with_context(|| format!("setting witnesses[{i}].vkey"))?;
            ws.push(crate::witnessing::WitnessEndpoint { url: w.url.clone(), key });
        }
        let quorum = self.witness_quorum.unwrap_or(ws.len());
        crate::witnessing::Witnessing::new(ws, quorum)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("setting witness_quorum: {e}"))
    }

    /// The log's signing key (setting `log_key`).
    pub fn log_signer(&self) -> Result<SignerKey> {
        read_signer(&self.log_key).context("setting log_key")
    }

    /// The operator's signing key (setting `operator_key`).
    pub fn operator_signer(&self) -> Result<SignerKey> {
        read_signer(&self.operator_key).context("setting operator_key")
    }
}

pub fn read_signer(path: &Path) -> Result<SignerKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading private key {}", path.display()))?;
    SignerKey::parse(&text).with_context(|| format!("private key {}", path.display()))
}

/// A witness policy from cosigner key files: `quorum` of them (default: all) must cosign.
pub fn witness_policy(vkeys: &[PathBuf], quorum: Option<usize>) -> Result<vigil_core::witness::Policy> {
    let keys = vkeys.iter().map(|p| read_cosigner(p)).collect::<Result<Vec<_>>>()?;
    let quorum = quorum.unwrap_or(keys.len());
    vigil_core::witness::Policy::new(keys, quorum).map_err(|e| anyhow::anyhow!(e))
}

/// Reads a witness's cosigner verifier key (key type 0x04).
pub fn read_cosigner(path: &Path) -> Result<vigil_core::checkpoint::CosignatureVerifier> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading cosigner key {}", path.display()))?;
    vigil_core::checkpoint::CosignatureVerifier::parse(&text)
        .with_context(|| format!("cosigner key {}", path.display()))
}

pub fn read_verifier(path: &Path) -> Result<VerifierKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading verifier key {}", path.display()))?;
    VerifierKey::parse(&text).with_context(|| format!("verifier key {}", path.display()))
}

/// Writes a new key pair into `dir`: `<stem>.key` (mode 0600) and `<stem>.vkey`; with
/// `cosigner`, the `.vkey` is the witness's cosigner key (type 0x04), what logs and verifiers
/// configure for a witness. Refuses to overwrite an existing key.
pub fn write_keypair(dir: &Path, name: &str, cosigner: bool) -> Result<(PathBuf, PathBuf)> {
    let seed: [u8; 32] = rand::random();
    let key = SignerKey::from_seed(name, seed)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = file_stem(name);
    let (kp, vp) = (dir.join(format!("{stem}.key")), dir.join(format!("{stem}.vkey")));
    for p in [&kp, &vp] {
        if p.exists() {
            bail!("{} exists; refusing to overwrite a key", p.display());
        }
    }
    {
        use std::io::Write;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o.open(&kp).with_context(|| format!("creating {}", kp.display()))?;
        writeln!(f, "{}", key.to_skey())?;
        f.sync_all()?;
    }
    let vkey = if cosigner {
        vigil_core::checkpoint::CosignatureVerifier::from_signer(&key).to_vkey()
    } else {
        key.verifier().to_vkey()
    };
    std::fs::write(&vp, format!("{vkey}\n")).with_context(|| format!("writing {}", vp.display()))?;
    Ok((kp, vp))
}

/// The first entries of a new log: the operator key registers itself (genesis), then every
/// configured service key with its kinds.
pub fn bootstrap_submissions(
    operator: &SignerKey,
    services: &[(VerifierKey, Vec<EventKind>)],
    now_ms: u64,
) -> Result<Vec<ParsedSubmission>> {
    let mut out = Vec::new();
    let mut register = |key: String, kinds: Vec<EventKind>, idem: String| -> Result<()> {
        let st = Statement {
            key: operator.key_ref.clone(),
            idempotency_key: idem,
            created_at_ms: now_ms,
            event: Event::KeyRegistered(KeyRegistered { key, kinds }),
        };
        out.push(Submission::sign(operator, &st, vec![])?.parse()?);
        Ok(())
    };
    register(
        operator.verifier().to_vkey(),
        vec![EventKind::KeyRegistered, EventKind::KeyRevoked],
        format!("bootstrap:{}", file_stem(operator.name())),
    )?;
    for (k, kinds) in services {
        register(k.to_vkey(), kinds.clone(), format!("bootstrap:{}", file_stem(k.name())))?;
    }
    Ok(out)
}

/// Opens the ledger of a configuration; a new, empty log is bootstrapped with its keys.
pub fn open_ledger(cfg: &Config, engine: EngineConfig) -> Result<Engine> {
    let clock = engine.clock.clone();
    let e = Engine::open(&cfg.data_dir, engine)?;
    if e.head().state.size == 0 {
        let operator = cfg.operator_signer()?;
        let subs = bootstrap_submissions(&operator, &cfg.service_keys()?, clock.now_ms())?;
        e.append_blocking(subs).context("bootstrapping the key registry")?;
    }
    Ok(e)
}
