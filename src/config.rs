//! Reading the configuration file (its settings and their defaults: `vigil_core::config`) and
//! the key files it names, and bootstrapping a new log from them.

use crate::engine::{Engine, EngineConfig};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use vigil_core::event::{Event, EventKind, KeyRegistered};
use vigil_core::keys::{file_stem, SignerKey, VerifierKey};
use vigil_core::statement::{ParsedSubmission, Statement, Submission};

pub use vigil_core::config::{Config, ServiceConfig};

/// Reads a configuration file: its settings, with relative paths made relative to its folder.
pub fn load(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
    let mut c = Config::parse(&text).with_context(|| format!("config {}", path.display()))?;
    c.resolve_paths(path.parent().unwrap_or(Path::new(".")));
    c.source.file = Some(path.to_path_buf());
    Ok(c)
}

/// What a configuration's settings name, read from the files: keys and witnesses.
pub trait ConfigFiles {
    /// The auditors' verifier keys (setting `auditors`).
    fn auditor_keys(&self) -> Result<Vec<VerifierKey>>;
    /// The service keys and their kinds (setting `services`).
    fn service_keys(&self) -> Result<Vec<(VerifierKey, Vec<EventKind>)>>;
    /// The witnesses and the policy (settings `witnesses`, `witness_quorum`); `None` without
    /// witnesses.
    fn witnessing(&self) -> Result<Option<crate::witnessing::Witnessing>>;
    /// The log's signing key (setting `log_key`), named as the setting `origin` says if set.
    fn log_signer(&self) -> Result<SignerKey>;
    /// The operator's signing key (setting `operator_key`).
    fn operator_signer(&self) -> Result<SignerKey>;
}

impl ConfigFiles for Config {
    fn auditor_keys(&self) -> Result<Vec<VerifierKey>> {
        self.auditors
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let setting = self.setting(&format!("auditors[{i}]"));
                let key = read_verifier(p).with_context(|| setting.clone())?;
                // Its name goes in the Vigil-Signature header, which carries ASCII only: an
                // auditor named otherwise could never sign a request.
                if !key.name().is_ascii() {
                    bail!("{setting}: the key name {:?} is not ASCII; an auditor signs requests in an HTTP header, which carries ASCII only", key.name());
                }
                Ok(key)
            })
            .collect()
    }

    fn service_keys(&self) -> Result<Vec<(VerifierKey, Vec<EventKind>)>> {
        let mut keys: Vec<(VerifierKey, Vec<EventKind>)> = Vec::new();
        for (i, s) in self.services.iter().enumerate() {
            let setting = self.setting(&format!("services[{i}].vkey"));
            let key = read_verifier(&s.vkey).with_context(|| setting.clone())?;
            // Listed twice with other kinds, each restart would register it again as the other.
            if let Some(j) = keys.iter().position(|(k, _)| k.key_ref == key.key_ref) {
                let first = match self.source.line(&format!("services[{j}]")) {
                    Some(n) => format!("services[{j}] (line {n})"),
                    None => format!("services[{j}]"),
                };
                bail!("{setting}: {} is the key of {first} again; list each key once, with all its kinds", key.key_ref);
            }
            keys.push((key, s.kinds.clone()));
        }
        Ok(keys)
    }

    fn witnessing(&self) -> Result<Option<crate::witnessing::Witnessing>> {
        if self.witnesses.is_empty() {
            if self.witness_quorum.is_some_and(|q| q > 0) {
                bail!("{}: no witnesses are configured", self.setting("witness_quorum"));
            }
            return Ok(None);
        }
        let mut ws = Vec::new();
        // A log does not witness itself: every verifier with a policy refuses such a checkpoint.
        // The key as the file has it, whatever `origin` says (that is checked on its own).
        let log = read_signer(&self.log_key).ok().map(|k| k.key.verifying_key());
        for (i, w) in self.witnesses.iter().enumerate() {
            let (vkey, url) =
                (self.setting(&format!("witnesses[{i}].vkey")), self.setting(&format!("witnesses[{i}].url")));
            let key = read_cosigner(&w.vkey).with_context(|| vkey.clone())?;
            if log == Some(key.key) {
                bail!("{vkey}: the log's own key; a log does not witness itself");
            }
            // Said now, not at each witnessing round in the log.
            let uri: axum::http::Uri = w.url.parse().with_context(|| format!("{url}: {:?}", w.url))?;
            if uri.scheme_str() != Some("http") || uri.host().is_none() {
                bail!("{url}: {:?} is not an http:// URL (vigil's client speaks plain HTTP)", w.url);
            }
            ws.push(crate::witnessing::WitnessEndpoint { url: w.url.clone(), key });
        }
        let quorum = self.witness_quorum.unwrap_or(ws.len());
        let refresh = std::time::Duration::from_millis(self.witness_refresh_ms);
        crate::witnessing::Witnessing::new(ws, quorum).map(|w| Some(w.with_refresh(refresh))).map_err(|e| {
            let setting = if e.is_quorum() { "witness_quorum" } else { "witnesses" };
            anyhow::anyhow!("{}: {e}", self.setting(setting))
        })
    }

    fn log_signer(&self) -> Result<SignerKey> {
        let key = read_signer(&self.log_key).with_context(|| self.setting("log_key"))?;
        match &self.origin {
            Some(origin) if origin != key.name() => bail!(
                "{}: {origin:?} is not the name of the log key {} ({:?}); a checkpoint's origin is its log key's name",
                self.setting("origin"),
                self.log_key.display(),
                key.name()
            ),
            _ => Ok(key),
        }
    }

    fn operator_signer(&self) -> Result<SignerKey> {
        read_signer(&self.operator_key).with_context(|| self.setting("operator_key"))
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
    let own = vec![EventKind::KeyRegistered, EventKind::KeyRevoked];
    not_the_operator(operator, services.iter().map(|(k, _)| k), |i| format!("setting services[{i}].vkey"))?;
    std::iter::once((operator.verifier(), own))
        .chain(services.iter().cloned())
        .map(|(k, kinds)| {
            // Keyed by name and id: two keys of one service (a rotation under way) do not collide.
            let idem = idempotency_key("bootstrap", &k, "");
            registration(operator, &k, kinds, idem, now_ms)
        })
        .collect()
}

/// Refuses the operator's own key as a service's: registered with a service's kinds, it would
/// lose the kinds that register and revoke keys. `setting` names the service at an index.
fn not_the_operator<'a>(
    operator: &SignerKey,
    services: impl IntoIterator<Item = &'a VerifierKey>,
    setting: impl Fn(usize) -> String,
) -> Result<()> {
    match services.into_iter().position(|k| k.key_ref == operator.key_ref) {
        Some(i) => bail!(
            "{}: {} is the operator's key, which registers keys and is no service's",
            setting(i),
            operator.key_ref
        ),
        None => Ok(()),
    }
}

/// A `key_registered` submission signed by the operator.
fn registration(
    operator: &SignerKey,
    key: &VerifierKey,
    kinds: Vec<EventKind>,
    idempotency_key: String,
    now_ms: u64,
) -> Result<ParsedSubmission> {
    let st = Statement {
        key: operator.key_ref.clone(),
        idempotency_key,
        created_at_ms: now_ms,
        event: Event::KeyRegistered(KeyRegistered { key: key.to_vkey(), kinds }),
    };
    Ok(Submission::sign(operator, &st, vec![])?.parse()?)
}

/// Opens the ledger of a configuration; a new, empty log is bootstrapped with its keys, and an
/// existing one gets the configuration's service keys as configured ([`register_changes`]; a
/// failure there is logged, and the log is served as it is).
pub fn open_ledger(cfg: &Config, engine: EngineConfig) -> Result<Engine> {
    // Settings wrong in themselves (a key listed twice, the operator's key as a service's)
    // stop here, before the log is opened. The operator's key may be kept offline: then only
    // registering needs it, and fails for want of it.
    let services = cfg.service_keys()?;
    match cfg.operator_signer() {
        Ok(operator) => not_the_operator(&operator, services.iter().map(|(k, _)| k), |i| {
            cfg.setting(&format!("services[{i}].vkey"))
        })?,
        // A new log needs it for its first entries: said before its data dir is created.
        Err(e) if !crate::store::Store::exists(&cfg.data_dir) => return Err(e),
        Err(_) => {}
    }
    let clock = engine.clock.clone();
    let e = Engine::open(&cfg.data_dir, engine)?;
    if e.head().state.size == 0 {
        let operator = cfg.operator_signer()?;
        let subs = bootstrap_submissions(&operator, &cfg.service_keys()?, clock.now_ms())?;
        e.append_blocking(subs).context("bootstrapping the key registry")?;
    } else {
        match register_changes(cfg, &e, clock.now_ms()) {
            Ok(changes) => {
                for c in changes {
                    match c {
                        Change::Registered(key, kinds) => {
                            let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                            tracing::info!("registered {key} from the configuration, allowed {}", kinds.join(", "));
                        }
                        Change::Revoked(key, seq) => tracing::warn!(
                            "{key} is configured but was revoked at entry {seq}: not registered again (remove it from [[services]], or register it deliberately)"
                        ),
                    }
                }
            }
            Err(err) => tracing::warn!("the configuration's service keys were not registered: {err:#}"),
        }
    }
    Ok(e)
}

/// What [`register_changes`] did for one configured key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Registered (again) with these kinds.
    Registered(String, Vec<EventKind>),
    /// Left alone: the log revoked it at this entry. A revocation is never undone by a restart.
    Revoked(String, u64),
}

/// Registers, signed by the operator, each configured service key that the log does not hold
/// as configured — never registered, or allowed other kinds — so that editing `[[services]]`
/// and restarting takes effect. A revoked key is never registered again this way, and a key the
/// configuration no longer names stays as it is: both are deliberate `key_registered` /
/// `key_revoked` entries.
pub fn register_changes(cfg: &Config, e: &Engine, now_ms: u64) -> Result<Vec<Change>> {
    let head = e.head();
    let mut changes = Vec::new();
    let mut register = Vec::new();
    for (key, kinds) in cfg.service_keys()? {
        let want: std::collections::BTreeSet<EventKind> = kinds.iter().copied().collect();
        match head.registry.get(&key.key_ref).filter(|r| r.key == key) {
            Some(r) => match r.revoked_at {
                Some(seq) => changes.push(Change::Revoked(key.key_ref.to_string(), seq)),
                None if r.kinds == want => {}
                None => register.push((key, kinds)),
            },
            None => register.push((key, kinds)),
        }
    }
    if register.is_empty() {
        return Ok(changes);
    }
    let operator = cfg.operator_signer()?;
    not_the_operator(&operator, register.iter().map(|(k, _)| k), |_| "setting services".into())?;
    let size = head.state.size;
    drop(head);
    let subs = register
        .iter()
        .map(|(key, kinds)| {
            // Unique to the key (name and id) and to this state of the log: the same
            // registration made again later (kinds changed and changed back) is a new event,
            // not a retry of the first.
            let idem = idempotency_key("config", key, &format!(":at-{size}"));
            registration(&operator, key, kinds.clone(), idem, now_ms)
        })
        .collect::<Result<Vec<_>>>()?;
    e.append_blocking(subs).context("registering the configuration's service keys as configured")?;
    changes.extend(register.into_iter().map(|(k, kinds)| Change::Registered(k.key_ref.to_string(), kinds)));
    Ok(changes)
}

/// `{prefix}:{name}-{id}{suffix}`, the name made safe for an idempotency key (`file_stem`) and
/// the whole shortened by a hash when it would pass the 128-character limit.
fn idempotency_key(prefix: &str, key: &VerifierKey, suffix: &str) -> String {
    let k = format!("{prefix}:{}-{:08x}{suffix}", file_stem(key.name()), key.key_ref.id);
    if k.len() <= 128 {
        return k;
    }
    format!("{prefix}:{}{suffix}", &blake3::hash(k.as_bytes()).to_hex()[..32])
}
