//! The `vigil` command. Exit codes: 0 success; 1 verification failed (the log misbehaves);
//! 2 could not run (usage, I/O, bad input).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use vigil::config::{open_ledger, read_signer, read_verifier, write_keypair, Config, ConfigFiles};
use vigil::engine::{Clock, EngineConfig};
use vigil::verify::{verify_data_dir, VerifyFailure};

#[derive(Parser)]
#[command(name = "vigil", version, about = "Append-only audit ledger and transparency publisher")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the configuration comes from: a TOML file (optional; every setting has a default),
/// then environment variables, then flags (flags win).
#[derive(clap::Args)]
struct ConfigArgs {
    /// The TOML configuration file.
    #[arg(long, env = "VIGIL_CONFIG")]
    config: Option<PathBuf>,
    /// The RocksDB data dir.
    #[arg(long, env = "VIGIL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where proof-of-reserves trees live (`vigil reserves build --reserves-dir`).
    #[arg(long, env = "VIGIL_RESERVES_DIR")]
    reserves_dir: Option<PathBuf>,
    /// The web page the public listener serves at `/`.
    #[arg(long, env = "VIGIL_WEB_DIR")]
    web_dir: Option<PathBuf>,
    /// The log's private key (signs checkpoints; its name is the origin).
    #[arg(long, env = "VIGIL_LOG_KEY")]
    log_key: Option<PathBuf>,
    /// The operator's private key (registers the service keys in a new log).
    #[arg(long, env = "VIGIL_OPERATOR_KEY")]
    operator_key: Option<PathBuf>,
    /// Address of the public, read-only API.
    #[arg(long, env = "VIGIL_PUBLIC")]
    public: Option<std::net::SocketAddr>,
    /// Address of the internal append API.
    #[arg(long, env = "VIGIL_INTERNAL")]
    internal: Option<std::net::SocketAddr>,
    /// How far an event's created_at_ms may be from the server's clock.
    #[arg(long, env = "VIGIL_REPLAY_WINDOW_MS")]
    replay_window_ms: Option<u64>,
    /// Events waiting for the sequencer before appends get 503.
    #[arg(long, env = "VIGIL_MAX_IN_FLIGHT")]
    max_in_flight: Option<usize>,
    /// How long a client has to send a request's headers, and then how long a request may take
    /// (else 408).
    #[arg(long, env = "VIGIL_REQUEST_TIMEOUT_MS")]
    request_timeout_ms: Option<u64>,
    /// How many of the configured witnesses must cosign a checkpoint before it is served.
    #[arg(long, env = "VIGIL_WITNESS_QUORUM")]
    witness_quorum: Option<usize>,
}

impl ConfigArgs {
    fn load(&self) -> Result<Config> {
        let mut c = match &self.config {
            Some(path) => vigil::config::load(path)?,
            None => Config::default(),
        };
        if let Some(v) = &self.data_dir {
            c.data_dir = v.clone();
        }
        if let Some(v) = &self.reserves_dir {
            c.reserves_dir = v.clone();
        }
        if let Some(v) = &self.web_dir {
            c.web_dir = v.clone();
        }
        if let Some(v) = &self.log_key {
            c.log_key = v.clone();
            c.source.forget("log_key");
        }
        if let Some(v) = &self.operator_key {
            c.operator_key = v.clone();
            c.source.forget("operator_key");
        }
        if let Some(v) = self.public {
            c.server.public = v;
        }
        if let Some(v) = self.internal {
            c.server.internal = v;
        }
        if let Some(v) = self.replay_window_ms {
            c.server.replay_window_ms = v;
        }
        if let Some(v) = self.max_in_flight {
            c.server.max_in_flight = v;
        }
        if let Some(v) = self.request_timeout_ms {
            c.server.request_timeout_ms = v;
        }
        if let Some(v) = self.witness_quorum {
            c.witness_quorum = Some(v);
            c.source.forget("witness_quorum");
        }
        Ok(c)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Write a new Ed25519 key pair: NAME.key (private, mode 0600) and NAME.vkey.
    Keygen {
        /// Signed-note key name, e.g. `withdrawals` or `exchange.example/audit-log`.
        #[arg(long)]
        name: String,
        #[arg(long)]
        out: PathBuf,
        /// A witness's key: the .vkey is its cosigner key (key type 0x04), what logs and
        /// verifiers configure for it.
        #[arg(long)]
        cosigner: bool,
    },
    /// Serve a demo log on loopback (the example keys): the May 2019 breach story appended
    /// through the real append API and verified, then slow ordinary traffic until Ctrl-C.
    Demo {
        /// The demo's data dir. An existing demo log is served as it is (no new story).
        #[arg(long, default_value = "demo-data")]
        data_dir: PathBuf,
        /// Empty the data dir first.
        #[arg(long)]
        fresh: bool,
        #[arg(long, default_value = "keys-example")]
        keys: PathBuf,
        /// Stop after seeding and verifying (servers on ephemeral ports); do not keep serving.
        #[arg(long)]
        no_serve: bool,
        #[arg(long, default_value = "127.0.0.1:8080")]
        public: std::net::SocketAddr,
        #[arg(long, default_value = "127.0.0.1:8081")]
        internal: std::net::SocketAddr,
        /// Milliseconds between two appends of ordinary traffic after the story.
        #[arg(long, default_value_t = 2000)]
        every_ms: u64,
        /// Where the demo's two witnesses listen (port 0: any free port).
        #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:8090,127.0.0.1:8091")]
        witnesses: Vec<std::net::SocketAddr>,
    },
    /// Serve a configured log: the public read API and the internal append API.
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Sign events (JSON lines from FILE or stdin) with a service key and append them through an
    /// internal append API; prints one receipt per event (JSON lines).
    Append {
        /// Base URL of the internal append API, e.g. http://127.0.0.1:8081
        #[arg(long)]
        url: String,
        /// The service's private key file.
        #[arg(long)]
        key: PathBuf,
        /// Events per request, 1 to 1000.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
        batch: u16,
        /// Milliseconds a batch waits, from its first line, for more lines before it is sent
        /// unfull (input that comes slowly is appended as it comes), 0 to 3600000.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
        linger_ms: u64,
        /// JSON lines: an event, or {"idempotency_key": "...", "event": {...}}; `-` for stdin.
        #[arg(default_value = "-")]
        input: String,
    },
    /// Sign events (JSON lines from FILE or stdin) with a service key without sending them;
    /// prints one signed submission per line, what `POST /v1/events` and `vigil reserves
    /// build --reserves` take (e.g. a custody service's reserve attestations).
    Sign {
        /// The service's private key file.
        #[arg(long)]
        key: PathBuf,
        /// JSON lines: an event, or {"idempotency_key": "...", "event": {...}}; `-` for stdin.
        #[arg(default_value = "-")]
        input: String,
    },
    /// Proof of reserves: build a snapshot's liabilities tree and log it; verify a user's proof.
    Reserves {
        #[command(subcommand)]
        command: ReservesCommand,
    },
    /// As an auditor, fetch the private-field openings of an entry from an internal API
    /// (a request signed with the auditor's key); prints them as JSON.
    Openings {
        /// Base URL of the internal API, e.g. http://127.0.0.1:8081
        #[arg(long)]
        url: String,
        /// The auditor's private key file.
        #[arg(long)]
        key: PathBuf,
        seq: u64,
    },
    /// Create (or open and check) the log of a configuration file.
    Init {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Verify a log end to end against the pinned log key: a data dir, an export bundle or a
    /// public server.
    #[command(group(clap::ArgGroup::new("source").required(true).args(["data_dir", "bundle", "url"])))]
    Verify {
        /// A data dir, opened read-only (works while a server runs).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// An export bundle written by `vigil export`.
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// A public server's base URL, read as a tlog-tiles client reads it (checkpoint and
        /// entry bundles only).
        #[arg(long)]
        url: Option<String>,
        /// The log's verifier key file (signed-note vkey), pinned by you.
        #[arg(long)]
        log_key: PathBuf,
        /// With --url or --data-dir: remember the verified checkpoint here; the next run
        /// checks only the new entries and reports a rollback or fork (evidence in
        /// FILE.evidence.txt).
        #[arg(long, conflicts_with = "bundle")]
        state: Option<PathBuf>,
        /// With --url: also fetch every private-field opening of the entries this run verifies
        /// (with --state, the new ones) from this internal API as an auditor (--auditor-key)
        /// and check each opens its commitment.
        #[arg(long, requires_all = ["url", "auditor_key"], conflicts_with_all = ["seq", "entry"])]
        openings: Option<String>,
        /// The auditor's private key, for --openings.
        #[arg(long)]
        auditor_key: Option<PathBuf>,
        /// With --url: verify only that entry SEQ is in the latest checkpoint.
        #[arg(long, requires = "url", conflicts_with = "state")]
        seq: Option<u64>,
        /// With --url: verify that the entry in FILE (its bytes) is in the latest checkpoint.
        #[arg(long, requires = "url", conflicts_with_all = ["state", "seq"])]
        entry: Option<PathBuf>,
        /// With --seq or --entry: prove inclusion in this checkpoint (a signed note you hold)
        /// instead of the latest.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        #[command(flatten)]
        witnesses: WitnessPolicyArgs,
        #[arg(long)]
        json: bool,
    },
    /// Write a data dir's log (up to its newest signed checkpoint known durable) into one file
    /// that `vigil verify --bundle` checks offline.
    Export {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a log fully, then check what it says happened: no withdrawal during a freeze,
    /// SAFU payouts only for open incidents and never below zero, well-formed incidents; and
    /// each incident's figures. Exit 1 when a rule is broken.
    #[command(group(clap::ArgGroup::new("source").required(true).args(["data_dir", "url"])))]
    Audit {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        url: Option<String>,
        /// The log's verifier key file (signed-note vkey), pinned by you.
        #[arg(long)]
        log_key: PathBuf,
        #[command(flatten)]
        witnesses: WitnessPolicyArgs,
        #[arg(long)]
        json: bool,
    },
    /// Run a witness (C2SP tlog-witness): cosign a log's checkpoints (tlog-cosignature/v1) only
    /// when each is consistent with every checkpoint cosigned before; keep them, and every
    /// refused fork or rollback as evidence. Serves until Ctrl-C.
    Witness {
        /// The witness's private key (`vigil keygen --cosigner`); its name names the witness.
        #[arg(long)]
        key: PathBuf,
        /// A log to witness: its verifier key file (the key's name is the log's origin).
        /// Repeat for more logs.
        #[arg(long = "log-key", required = true)]
        log_keys: Vec<PathBuf>,
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: std::net::SocketAddr,
        /// The witness's own RocksDB (its cosigned checkpoints and evidence).
        #[arg(long, default_value = "witness-data")]
        data_dir: PathBuf,
        /// Create the store: a new witness, which has cosigned nothing. Without it the store
        /// must exist (a witness that lost it must not start over under the same key).
        #[arg(long)]
        init: bool,
        /// The checkpoint it cosigned last, sent again this many seconds or more later, is
        /// cosigned anew (dated now, written); sooner, it gets the same cosignature again.
        #[arg(long, default_value_t = vigil::witness::COSIGN_AGAIN_AFTER_S, value_parser = clap::value_parser!(u64).range(1..))]
        cosign_again_after_s: u64,
    },
    /// Append synthetic signed withdrawals to a configured log in batches, printing one JSON
    /// line per acknowledged event (for crash and load testing).
    #[command(hide = true)]
    Stress {
        #[arg(long)]
        config: PathBuf,
        /// Private key of a service allowed `withdrawal`.
        #[arg(long)]
        key: PathBuf,
        #[arg(long, default_value_t = 1000)]
        count: u64,
        #[arg(long, default_value_t = 10)]
        batch: usize,
        /// Prefix for idempotency keys, so runs do not collide.
        #[arg(long, default_value = "stress")]
        tag: String,
    },
}

/// A witness policy on the command line: the checkpoint must carry valid cosignatures from at
/// least `--quorum` of the `--witness` keys, or it is refused.
#[derive(clap::Args, Debug, Default)]
struct WitnessPolicyArgs {
    /// A witness's cosigner verifier key file (key type 0x04); repeat for each witness.
    #[arg(long = "witness")]
    witnesses: Vec<PathBuf>,
    /// How many of the --witness keys must have cosigned the checkpoint (default: all).
    #[arg(long, requires = "witnesses")]
    quorum: Option<usize>,
}

impl WitnessPolicyArgs {
    /// The policy, refused (a usage error) if a witness is the log's own key: a log does not
    /// witness itself, and every checkpoint would then be refused as if the log misbehaved.
    fn policy(&self, log_key: &vigil_core::keys::VerifierKey) -> Result<vigil_core::witness::Policy> {
        let policy = vigil::config::witness_policy(&self.witnesses, self.quorum).context("--witness, --quorum")?;
        if policy.lists_log_key(log_key) {
            anyhow::bail!(
                "--witness: one of the witness keys is the log's own key ({}); a log does not witness itself",
                log_key.key_ref
            );
        }
        Ok(policy)
    }
}

#[derive(Subcommand)]
enum ReservesCommand {
    /// Build the liabilities sum tree of a snapshot from the balances at its cut-off, store it
    /// under the reserves dir, append the custody service's attestations and the
    /// `reserve_snapshot` entry, and write each account's record id and secret to a new
    /// private file (CSV). Prints the snapshot as JSON.
    Build {
        /// Balances: CSV with an `account,BTC,…` header, or JSON lines
        /// {"account": "…", "balances": {"BTC": "…"}}; minor units.
        #[arg(long)]
        balances: PathBuf,
        /// Reserve attestations signed by the custody service (`vigil sign` output).
        #[arg(long)]
        reserves: PathBuf,
        /// The snapshot id, e.g. por-2026-11-24.
        #[arg(long)]
        snapshot: String,
        /// The balances' cut-off time, Unix milliseconds (default: now).
        #[arg(long)]
        cut_off_ms: Option<u64>,
        /// The assets in the tree's order (default: those attested, in order), comma-separated.
        #[arg(long, value_delimiter = ',')]
        assets: Option<Vec<String>>,
        /// Base URL of the internal append API.
        #[arg(long)]
        url: String,
        /// The private key that signs the snapshot entry (allowed `reserve_snapshot`).
        #[arg(long)]
        key: PathBuf,
        /// Where the trees live (the server's `reserves_dir`).
        #[arg(long, default_value = "reserves")]
        reserves_dir: PathBuf,
        /// The private output: account, record id, record secret; must not exist.
        #[arg(long)]
        records: PathBuf,
    },
    /// Verify one user's balances in a snapshot: the proof leads, with the user's secret, to the
    /// root and totals of a `reserve_snapshot` entry proven included in the log's checkpoint.
    /// Exit 1 when it does not.
    Verify {
        /// The public server's base URL.
        #[arg(long)]
        url: String,
        /// The log's verifier key file (signed-note vkey), pinned by you.
        #[arg(long)]
        log_key: PathBuf,
        /// Your record secret (64 hex digits).
        #[arg(long)]
        secret: String,
        /// Your account id, exactly as the exchange shows it (your leaf is hashed with it, so
        /// no one else's leaf can be shown as yours).
        #[arg(long)]
        account: String,
        /// A proof file; without it the proof is fetched by the record id.
        #[arg(long)]
        proof: Option<PathBuf>,
        /// The snapshot id, when fetching (default: the latest).
        #[arg(long)]
        snapshot: Option<String>,
        #[command(flatten)]
        witnesses: WitnessPolicyArgs,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    vigil::keep_freed_pages();
    // Logs go to stderr; `VIGIL_LOG` takes a tracing filter (default: vigil's info and up,
    // warnings and errors of its libraries).
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,vigil=info"));
    // Colours only on a terminal: a log file gets no escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vigil: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Keygen { name, out, cosigner } => {
            let (k, v) = write_keypair(&out, &name, cosigner)?;
            println!("wrote {} and {}", k.display(), v.display());
        }
        Command::Serve { config } => {
            let cfg = config.load()?;
            runtime()?.block_on(vigil::serve::serve(cfg, |p, i| {
                // Not println!: a closed stdout must not take the server down.
                use std::io::Write;
                let mut out = std::io::stdout();
                let _ = writeln!(
                    out,
                    "public API:        http://{p}  (GET /checkpoint, /tile/…, /v1/…; the --url of verify and audit)"
                );
                let _ = writeln!(out, "internal append:   http://{i}  (POST /v1/events; the --url of append)");
                let _ = out.flush();
            }))?;
        }
        Command::Append { url, key, batch, linger_ms, input } => {
            return append(&url, &key, usize::from(batch), std::time::Duration::from_millis(linger_ms), &input)
        }
        Command::Demo { data_dir, fresh, keys, no_serve, public, internal, every_ms, witnesses } => {
            return demo(DemoArgs { data_dir, fresh, keys, no_serve, public, internal, every_ms, witnesses });
        }
        Command::Sign { key, input } => return sign(&key, &input),
        Command::Reserves { command } => return reserves(command),
        Command::Openings { url, key, seq } => {
            let key = read_signer(&key)?;
            let v = vigil::client::fetch_openings(&url, &key, seq, now_ms())
                .map_err(|e| anyhow::anyhow!("openings refused: {e}"))?;
            println!("{v}");
        }
        Command::Init { config } => {
            let cfg = config.load()?;
            // The key files `vigil serve` reads besides the log's and the operator's, checked
            // too: a file whose keys it would refuse is refused now, before a log is created.
            cfg.auditor_keys()?;
            cfg.witnessing()?;
            let engine = open_ledger(&cfg, EngineConfig::new(cfg.log_signer()?))?;
            print!("{}", String::from_utf8_lossy(&engine.head().checkpoint));
        }
        Command::Verify {
            data_dir,
            bundle,
            url,
            log_key,
            state,
            openings,
            auditor_key,
            seq,
            entry,
            checkpoint,
            witnesses,
            json,
        } => {
            let key = read_verifier(&log_key)?;
            let policy = witnesses.policy(&key)?;
            if !policy.is_none() && url.is_none() {
                anyhow::bail!("--witness applies to --url: a data dir or bundle holds no cosignatures");
            }
            if (seq.is_some() || entry.is_some()) && url.is_none() {
                anyhow::bail!("--seq and --entry apply to --url: they check one entry's inclusion proof from a server");
            }
            if checkpoint.is_some() && seq.is_none() && entry.is_none() {
                anyhow::bail!(
                    "--checkpoint applies to --seq or --entry: the checkpoint to prove that entry's inclusion in"
                );
            }
            let which = match (seq, &entry) {
                (Some(n), _) => Some(vigil::verify::EntrySource::Seq(n)),
                (None, Some(f)) => Some(vigil::verify::EntrySource::Bytes(
                    std::fs::read(f).with_context(|| format!("reading {}", f.display()))?,
                )),
                (None, None) => None,
            };
            if let (Some(u), Some(which)) = (&url, which) {
                let note = match &checkpoint {
                    Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
                    None => None,
                };
                return Ok(match vigil::verify::verify_inclusion(u, &key, &policy, which, note.as_deref()) {
                    Ok(r) => {
                        if json {
                            println!("{}", serde_json::json!({"verified": true, "entry": r}));
                        } else {
                            println!(
                                "entry {} ({}) is in the checkpoint of {} entries; root {}",
                                r.seq, r.kind, r.checkpoint_size, r.root
                            );
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => not_verified(&e, json, "vigil verify"),
                });
            }
            let result = match (&data_dir, &bundle, &url) {
                (Some(d), _, _) => match &state {
                    Some(st) => vigil::verify::verify_data_dir_incremental(d, &key, st),
                    None => verify_data_dir(d, &key),
                },
                (None, Some(b), _) => vigil::export::verify_bundle(b, &key),
                (None, None, Some(u)) => match (&openings, &auditor_key) {
                    (Some(internal), Some(ak)) => {
                        let auditor = read_signer(ak)?;
                        // Filled entry by entry, then checked before the state is saved.
                        let private = std::cell::RefCell::new(Vec::new());
                        let mut collect = |e: &vigil_core::entry::Entry, st: &vigil_core::statement::Statement| {
                            let c: Vec<_> = st
                                .event
                                .private_fields()
                                .into_iter()
                                .filter_map(|(f, p)| match p {
                                    vigil_core::event::Private::Committed(c) => Some((f, *c)),
                                    _ => None,
                                })
                                .collect();
                            if !c.is_empty() {
                                private.borrow_mut().push((e.seq, c));
                            }
                        };
                        let mut openings = || {
                            let private = private.borrow();
                            let n = vigil::verify::check_openings(
                                internal,
                                &auditor,
                                &private,
                                &vigil::engine::SystemClock,
                            )?;
                            eprintln!(
                                "opened {n} private values of {} entries; each opens its commitment",
                                private.len()
                            );
                            Ok(())
                        };
                        vigil::verify::verify_url_with(u, &key, &policy, state.as_deref(), &mut collect, &mut openings)
                    }
                    _ => vigil::verify::verify_url(u, &key, &policy, state.as_deref()),
                },
                (None, None, None) => anyhow::bail!("give --data-dir, --bundle or --url"),
            };
            return Ok(match result {
                Ok(r) => {
                    if json {
                        println!("{}", serde_json::json!({"verified": true, "report": r}));
                    } else {
                        println!("verified {} entries of {}; root {}", r.size, r.origin, r.root);
                        if !r.witnessed_by.is_empty() {
                            let names: Vec<&str> = r.witnessed_by.iter().map(|c| c.witness.as_str()).collect();
                            println!(
                                "cosigned by {} of the required {}: {}",
                                names.len(),
                                policy.quorum(),
                                names.join(", ")
                            );
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => not_verified(&e, json, "vigil verify"),
            });
        }
        Command::Witness { key, log_keys, listen, data_dir, init, cosign_again_after_s } => {
            let key = read_signer(&key)?;
            let logs = log_keys.iter().map(|p| read_verifier(p)).collect::<Result<Vec<_>>>()?;
            let w = std::sync::Arc::new(
                vigil::witness::Witness::open(
                    &data_dir,
                    key,
                    logs,
                    std::sync::Arc::new(vigil::engine::SystemClock),
                    init,
                )?
                .cosign_again_after(cosign_again_after_s),
            );
            runtime()?.block_on(async move {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("binding the witness to {listen}"))?;
                println!("witness {} on http://{}/add-checkpoint", w.cosigner().name, listener.local_addr()?);
                println!("cosigner key: {}", w.cosigner().to_vkey());
                vigil::witness::serve(w, listener, async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await
            })?;
        }
        Command::Export { data_dir, out } => {
            let (n, stored) = vigil::export::export(&data_dir, &out)?;
            println!("wrote {n} entries and the signed checkpoint to {}", out.display());
            if stored > n {
                println!(
                    "(the data dir holds {stored}: the last {} are a running server's, not yet marked durable, and are left out)",
                    stored - n
                );
            }
        }
        Command::Audit { data_dir, url, log_key, witnesses, json } => {
            let key = read_verifier(&log_key)?;
            let policy = witnesses.policy(&key)?;
            if !policy.is_none() && url.is_none() {
                anyhow::bail!("--witness applies to --url: a data dir holds no cosignatures");
            }
            let source = match (&data_dir, &url) {
                (Some(d), _) => vigil::audit::Source::DataDir(d),
                (None, Some(u)) => vigil::audit::Source::Url(u),
                (None, None) => anyhow::bail!("give --data-dir or --url"),
            };
            return Ok(match vigil::audit::audit(source, &key, &policy) {
                Ok(o) => {
                    if json {
                        println!("{}", serde_json::to_string(&o)?);
                    } else {
                        print!("{}", vigil::audit::render(&o));
                    }
                    if o.audit.findings.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => not_verified(&e, false, "vigil audit"),
            });
        }
        Command::Stress { config, key, count, batch, tag } => stress(config, key, count, batch, tag)?,
    }
    Ok(ExitCode::SUCCESS)
}

struct DemoArgs {
    data_dir: PathBuf,
    fresh: bool,
    keys: PathBuf,
    no_serve: bool,
    public: std::net::SocketAddr,
    internal: std::net::SocketAddr,
    every_ms: u64,
    witnesses: Vec<std::net::SocketAddr>,
}

/// `println!` that ignores a closed stdout (`vigil demo | head`): the demo goes on serving.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `vigil demo`: serve the demo log; seed it through the internal API when it is new; verify;
/// then keep appending ordinary traffic slowly (or stop, with `--no-serve`).
fn demo(mut a: DemoArgs) -> Result<ExitCode> {
    let names = vigil::demo::WITNESSES;
    if a.witnesses.len() != names.len() {
        anyhow::bail!(
            "--witnesses: the demo has {} witnesses ({}): give {} addresses, not {}",
            names.len(),
            names.join(", "),
            names.len(),
            a.witnesses.len()
        );
    }
    // `demo-data/` and `demo-data` are one folder; its siblings are `demo-data.reserves`, …
    a.data_dir = a.data_dir.components().collect();
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use vigil::demo::{DemoClock, DemoKeys};
    let reserves_dir = vigil::demo::reserves_dir_of(&a.data_dir);
    let witness_dirs: Vec<PathBuf> =
        (1..=vigil::demo::WITNESSES.len()).map(|i| vigil::demo::witness_dir_of(&a.data_dir, i)).collect();
    let keys = DemoKeys::load(&a.keys)?;
    let log_key = read_verifier(&a.keys.join("vigil.example_audit-log.vkey"))?;
    {
        let siblings: Vec<&std::path::Path> =
            std::iter::once(reserves_dir.as_path()).chain(witness_dirs.iter().map(PathBuf::as_path)).collect();
        // Never with --fresh: an adopted folder would be deleted at once.
        if !a.fresh && vigil::demo::adopt_earlier_demo(&a.data_dir, &siblings, &log_key) {
            eprintln!("{}: a demo log from before the VIGIL-DEMO marker, marked as the demo's", a.data_dir.display());
        }
    }
    // Only folders the demo made are used or deleted (each holds `vigil::demo::MARKER`): all
    // are checked before any is touched.
    for d in [&a.data_dir, &reserves_dir].into_iter().chain(&witness_dirs) {
        vigil::demo::check_dir(d)?;
    }
    if a.fresh {
        for d in [&a.data_dir, &reserves_dir].into_iter().chain(&witness_dirs) {
            vigil::demo::remove_dir(d)?;
        }
    }
    vigil::demo::claim_dir(&a.data_dir)?;
    vigil::demo::claim_dir(&reserves_dir)?;
    let clock = Arc::new(DemoClock::new(vigil::demo::story_start_ms()));
    // An existing demo log goes on from its own last time.
    let existing = match vigil::store::Store::open_read_only(&a.data_dir) {
        Ok(store) => store.state()?.filter(|s| s.size > 0),
        Err(e @ vigil::store::StoreError::Version { .. }) => {
            anyhow::bail!("{e}: it holds an earlier demo; `vigil demo --fresh` starts a new one in its place")
        }
        Err(vigil::store::StoreError::NotADataDir(_)) => None,
        Err(e) => return Err(anyhow::Error::new(e).context("opening the demo log")),
    };
    if let Some(s) = &existing {
        clock.set(s.last_time_ms);
        clock.go_live();
    } else {
        // A new log: witnesses of an earlier demo log would rightly refuse it as a fork.
        for d in &witness_dirs {
            vigil::demo::remove_dir(d)?;
        }
    }
    for d in &witness_dirs {
        vigil::demo::claim_dir(d)?;
    }
    let mut cfg = vigil::demo::demo_config(&a.keys, &a.data_dir)?;
    if let Some(s) = &existing {
        vigil::demo::check_story_told(&a.data_dir, s.size, cfg.services.len())?;
    }
    let loopback0: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
    cfg.server.public = if a.no_serve { loopback0 } else { a.public };
    cfg.server.internal = if a.no_serve { loopback0 } else { a.internal };
    let rt = runtime()?;
    let witness_addrs = if a.no_serve { vec![loopback0; vigil::demo::WITNESSES.len()] } else { a.witnesses.clone() };
    cfg.witnesses = rt.block_on(vigil::demo::start_witnesses(&a.keys, &a.data_dir, &witness_addrs))?;
    let policy_args: Vec<String> = cfg.witnesses.iter().map(|w| format!("--witness {}", w.vkey.display())).collect();
    let vkeys: Vec<PathBuf> = cfg.witnesses.iter().map(|w| w.vkey.clone()).collect();
    let policy = vigil::config::witness_policy(&vkeys, None)?;
    let witness_urls: Vec<String> = cfg.witnesses.iter().map(|w| w.url.clone()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let worker = {
        let (stop, clock, data_dir) = (stop.clone(), clock.clone(), a.data_dir.clone());
        std::thread::spawn(move || -> Result<ExitCode> {
            let result = (|| {
                let (p, i): (std::net::SocketAddr, std::net::SocketAddr) =
                    ready_rx.recv().context("the demo server did not start")?;
                let mut client = vigil::client::AppendClient::new(&format!("http://{i}"));
                match existing {
                    Some(s) => {
                        say!("Serving the existing demo log in {} ({} entries).", data_dir.display(), s.size)
                    }
                    None => {
                        let t = std::time::Instant::now();
                        let n = vigil::demo::seed(&mut client, &clock, &keys, &reserves_dir)?;
                        say!("Appended the story through http://{i}/v1/events: {n} events in {:.1?}.", t.elapsed());
                    }
                }
                let r = match verify_data_dir(&data_dir, &log_key) {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("the demo log does not verify: {e}");
                        return Ok(ExitCode::from(1));
                    }
                };
                say!("Verified: {} entries, root {}, signed by {}", r.size, r.root, log_key.to_vkey());
                // The witnesses cosign as the log grows; wait until they have cosigned all of it.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                let witnessed = loop {
                    match vigil::verify::fetch_witnessed(&format!("http://{p}"), &log_key, &policy) {
                        Ok(w) if w.signed.checkpoint.size >= r.size => break w,
                        Ok(_) if std::time::Instant::now() < deadline => {
                            std::thread::sleep(std::time::Duration::from_millis(100))
                        }
                        Ok(w) => {
                            eprintln!("the witnesses cosigned only {} of {} entries", w.signed.checkpoint.size, r.size);
                            return Ok(ExitCode::from(1));
                        }
                        Err(e) if std::time::Instant::now() > deadline => {
                            eprintln!("the witnesses did not cosign: {e}");
                            return Ok(ExitCode::from(1));
                        }
                        Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
                    }
                };
                let names: Vec<&str> = witnessed.cosigned.iter().map(|c| c.witness.as_str()).collect();
                say!(
                    "Witnessed: the checkpoint of {} entries is cosigned by {} ({})",
                    witnessed.signed.checkpoint.size,
                    names.join(" and "),
                    witness_urls.join(", ")
                );
                if a.no_serve {
                    // The servers stop with this command: there is nothing to open.
                    say!("\nStopped (--no-serve): `vigil demo --data-dir {}` serves this log.", a.data_dir.display());
                    return Ok(ExitCode::SUCCESS);
                }
                say!("\nOpen:");
                say!("  checkpoint:  http://{p}/checkpoint");
                say!("  incidents:   http://{p}/v1/incidents");
                say!("  the breach:  http://{p}/v1/incidents/{}", vigil::demo::INCIDENT);
                say!("  SAFU fund:   http://{p}/v1/safu");
                say!("  reserves:    http://{p}/v1/reserves");
                if let Some((account, id, secret)) = vigil::demo::sample_record(&reserves_dir) {
                    say!(
                        "  my balance:  vigil reserves verify --url http://{p} --log-key {}/vigil.example_audit-log.vkey --account {account} --secret {secret}",
                        a.keys.display()
                    );
                    say!(
                        "               (record {id} of {}; the others are in its records file)",
                        reserves_dir.display()
                    );
                }
                say!("  entries:     http://{p}/v1/entries?kind=alarm");
                say!(
                    "  verify:      vigil verify --url http://{p} --log-key {}/vigil.example_audit-log.vkey {}",
                    a.keys.display(),
                    policy_args.join(" ")
                );
                for u in &witness_urls {
                    say!("  witness:     {u}/v1/logs");
                }
                say!("  append:      vigil append --url http://{i} --key {}/risk.key events.jsonl", a.keys.display());
                say!("\nOrdinary traffic keeps arriving every {} ms; Ctrl-C stops.", a.every_ms);
                clock.go_live();
                let every = std::time::Duration::from_millis(a.every_ms.max(10));
                if let Err(e) = vigil::demo::keep_growing(&mut client, &clock, &keys, every, &stop) {
                    // The server going away on Ctrl-C ends the traffic (`stop` is set once it has
                    // shut down); anything else is an error.
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                    while !stop.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                    if !stop.load(Ordering::SeqCst) {
                        return Err(e);
                    }
                }
                Ok(ExitCode::SUCCESS)
            })();
            let _ = stop_tx.send(());
            result
        })
    };
    let served = rt.block_on(vigil::serve::serve_with(
        cfg,
        clock.clone(),
        move |p, i| {
            let _ = ready_tx.send((p, i));
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    stop.store(true, Ordering::SeqCst);
    let worked = worker.join().map_err(|_| anyhow::anyhow!("the demo worker panicked"))?;
    // A server that failed to start is the cause of the worker's error, so it is reported first.
    served?;
    worked
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// An event read by `vigil append` and not sent yet: its input line, idempotency key, event.
type Unsent = (usize, String, vigil_core::event::Event);

fn append(
    url: &str,
    key: &std::path::Path,
    max_batch: usize,
    linger: std::time::Duration,
    input: &str,
) -> Result<ExitCode> {
    use std::io::Write;
    use std::sync::mpsc::RecvTimeoutError;
    let key = read_signer(key)?;
    // Lines are read on a thread of their own, so that a batch can be sent while the next line
    // is awaited.
    let (tx, lines) = std::sync::mpsc::sync_channel::<(usize, std::io::Result<String>)>(1024);
    let reader = input_lines(input)?;
    std::thread::spawn(move || {
        for (n, line) in std::io::BufRead::lines(reader).enumerate() {
            if tx.send((n + 1, line)).is_err() {
                return;
            }
        }
    });
    let client = vigil::client::AppendClient::new(url);
    let mut out = std::io::stdout().lock();
    let mut appended = 0usize;
    // The events read and not sent yet. They are signed when they are sent, so that however
    // long they waited, their `created_at_ms` is the time they were sent. A batch is sent when
    // it is full, at the end of the input, or `linger` after its first line was read.
    let mut pending: Vec<Unsent> = Vec::new();
    let mut deadline = std::time::Instant::now();
    loop {
        let next = if pending.is_empty() {
            lines.recv().ok()
        } else {
            match lines.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
                Ok(next) => Some(next),
                Err(RecvTimeoutError::Timeout) => {
                    send_pending(&client, url, &key, &mut pending, &mut appended, &mut out)?;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => None,
            }
        };
        let Some((n, line)) = next else { break };
        // A line that does not read: nothing from the batch it was in on is sent.
        let unsent = |e: &dyn std::fmt::Display| {
            let first = pending.first().map_or(n, |p| p.0);
            anyhow::anyhow!("line {n}: {e}; nothing from line {first} on was sent{}", appended_before(appended))
        };
        let line = line.map_err(|e| unsent(&format!("reading input: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let (idem, event) = vigil::client::parse_line(&line, &key).map_err(|e| unsent(&e))?;
        if pending.is_empty() {
            deadline = std::time::Instant::now() + linger;
        }
        pending.push((n, idem, event));
        if pending.len() >= max_batch {
            send_pending(&client, url, &key, &mut pending, &mut appended, &mut out)?;
        }
    }
    send_pending(&client, url, &key, &mut pending, &mut appended, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// What `vigil append` appended before a failure, said with it.
fn appended_before(appended: usize) -> String {
    match appended {
        0 => String::new(),
        n => format!("; the {n} events of the batches before were appended (their receipts are above)"),
    }
}

/// Sends the pending events, in as many requests as the body limit needs, each signed just
/// before it is sent; prints their receipts. An error names the input lines, and what was
/// written and what was not sent.
fn send_pending(
    client: &vigil::client::AppendClient,
    url: &str,
    key: &vigil_core::keys::SignerKey,
    pending: &mut Vec<Unsent>,
    appended: &mut usize,
    out: &mut impl std::io::Write,
) -> Result<()> {
    let events: Vec<Unsent> = std::mem::take(pending);
    let lines: Vec<usize> = events.iter().map(|p| p.0).collect();
    let sign = |events: &[Unsent], appended: usize| -> Result<Vec<vigil_core::statement::Submission>> {
        let now = now_ms();
        events
            .iter()
            .map(|(n, idem, event)| {
                vigil::client::sign_event(key, event.clone(), idem, now).map_err(|e| {
                    anyhow::anyhow!(
                        "line {n}: {e}; nothing from line {} on was sent{}",
                        events[0].0,
                        appended_before(appended)
                    )
                })
            })
            .collect()
    };
    // Signed once to know their sizes; a request after the first is signed again when its turn
    // comes (the same sizes: only the time and the salts change), and so is a request sent
    // again after a saturated answer.
    let signed = sign(&events, *appended)?;
    let parts = vigil::client::split_batch(&signed, events.len());
    let mut presigned = Some(signed);
    for range in parts {
        let signing = || match presigned.take() {
            Some(mut all) => {
                all.truncate(range.end);
                Ok(all)
            }
            None => sign(&events[range.clone()], *appended).map_err(NotAppended::Sign),
        };
        let part = &lines[range.clone()];
        let (first_line, last_line) = (part[0], part[part.len() - 1]);
        let after = match lines.get(range.end) {
            Some(next) => format!("; lines {next}-{} after them were not sent", lines[lines.len() - 1]),
            None => String::new(),
        };
        let receipts = client.append_signing(signing).map_err(|e| {
            let e = match e {
                NotAppended::Sign(e) => return e,
                NotAppended::Failed(e) => e,
            };
            let before = appended_before(*appended);
            // Saturated through every retry: the server took nothing of the batch.
            if e.saturated {
                return anyhow::anyhow!(
                    "lines {first_line}-{last_line}: HTTP {}: {}, still after {} retries; nothing of them was appended{before}{after}: run the same input again later (an event already logged is answered with its first receipt)",
                    e.status,
                    e.detail,
                    vigil::client::RETRIES
                );
            }
            // No answer, a timeout or a storage failure: the batch may or may not be in the log.
            if !e.is_refusal() {
                return anyhow::anyhow!(
                    "lines {first_line}-{last_line}: {}: {}{before}; they may or may not have been appended{after}: running the same input again is safe (an event already logged is answered with its first receipt)",
                    if e.status == 0 { format!("no answer from {url}") } else { format!("HTTP {}", e.status) },
                    e.detail
                );
            }
            // The server names the refused event by its index in the batch.
            let at = e
                .detail
                .strip_prefix("event ")
                .and_then(|r| r.split_once(':'))
                .and_then(|(i, rest)| Some((part.get(i.parse::<usize>().ok()?)?, rest.trim_start())));
            match at {
                Some((line, rest)) => anyhow::anyhow!(
                    "line {line} (in the batch of lines {first_line}-{last_line}): refused ({}): {rest}; nothing of lines {first_line}-{last_line} was written{before}{after}",
                    e.status
                ),
                None => anyhow::anyhow!(
                    "lines {first_line}-{last_line}: refused ({}): {}; nothing of them was written{before}{after}",
                    e.status,
                    e.detail
                ),
            }
        })?;
        *appended += receipts.len();
        for r in receipts {
            writeln!(out, "{}", serde_json::to_string(&r)?)?;
        }
        // Each receipt as soon as it is in: a reader of a slow stream sees it now.
        out.flush()?;
    }
    Ok(())
}

/// Why a request of `vigil append` was not answered with receipts: its events could not be
/// signed, or the server did not take them.
enum NotAppended {
    Sign(anyhow::Error),
    Failed(vigil::client::AppendFailure),
}

impl From<vigil::client::AppendFailure> for NotAppended {
    fn from(e: vigil::client::AppendFailure) -> NotAppended {
        NotAppended::Failed(e)
    }
}

/// JSON lines from FILE, or from stdin for `-`.
fn input_lines(input: &str) -> Result<Box<dyn std::io::BufRead + Send>> {
    Ok(if input == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(std::fs::File::open(input).with_context(|| format!("opening {input}"))?))
    })
}

fn now_ms() -> u64 {
    vigil::engine::SystemClock.now_ms()
}

fn sign(key: &std::path::Path, input: &str) -> Result<ExitCode> {
    use std::io::{BufRead, Write};
    let key = read_signer(key)?;
    let reader = input_lines(input)?;
    let mut out = std::io::stdout().lock();
    for (n, line) in reader.lines().enumerate() {
        let line = line.context("reading input")?;
        if line.trim().is_empty() {
            continue;
        }
        let (idem, event) =
            vigil::client::parse_line(&line, &key).map_err(|e| anyhow::anyhow!("line {}: {e}", n + 1))?;
        let sub = vigil::client::sign_event(&key, event, &idem, now_ms())?;
        writeln!(out, "{}", serde_json::to_string(&sub)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn reserves(cmd: ReservesCommand) -> Result<ExitCode> {
    match cmd {
        ReservesCommand::Build {
            balances,
            reserves,
            snapshot,
            cut_off_ms,
            assets,
            url,
            key,
            reserves_dir,
            records,
        } => {
            let key = read_signer(&key)?;
            let attestations = vigil::reserves::read_submissions(&reserves)?;
            let mut client = vigil::client::AppendClient::new(&url);
            let p = vigil::reserves::publish(
                &mut client,
                vigil::reserves::Publish {
                    snapshot: &snapshot,
                    cut_off_ms: cut_off_ms.unwrap_or_else(now_ms),
                    assets,
                    balances: &balances,
                    attestations,
                    key: &key,
                    clock: &vigil::engine::SystemClock,
                    records: &records,
                    reserves_dir: &reserves_dir,
                    progress: true,
                },
            )?;
            println!("{}", serde_json::to_string_pretty(&p)?);
            Ok(ExitCode::SUCCESS)
        }
        ReservesCommand::Verify { url, log_key, secret, account, proof, snapshot, witnesses, json } => {
            // What the user gave, read before anything is fetched; with --json a mistake in it
            // is a JSON answer too.
            let given = || -> anyhow::Result<_> {
                let key = read_verifier(&log_key)?;
                let policy = witnesses.policy(&key)?;
                let mut s = [0u8; 32];
                if secret.len() != 64 || hex::decode_to_slice(&secret, &mut s).is_err() {
                    anyhow::bail!("--secret must be 64 hex digits (the record secret the exchange gave you)");
                }
                if account.is_empty() {
                    anyhow::bail!("--account must name your account id, exactly as the exchange shows it");
                }
                let proof = match &proof {
                    Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
                    None => None,
                };
                Ok((key, policy, s, proof))
            };
            let (key, policy, s, proof) = match given() {
                Ok(g) => g,
                Err(e) => return Ok(not_verified(&VerifyFailure::CouldNotRun(format!("{e:#}")), json, "vigil")),
            };
            match vigil::reserves::verify_user(&url, &key, &policy, &s, &account, proof.as_deref(), snapshot.as_deref())
            {
                Ok(r) => {
                    if json {
                        println!("{}", serde_json::to_string(&r)?);
                    } else {
                        println!(
                            "verified: record {} of account {:?} is in snapshot {} (entry {}, in the checkpoint of {} entries)",
                            r.record_id, r.account, r.snapshot, r.seq, r.checkpoint_size
                        );
                        for b in &r.balances {
                            println!(
                                "  {:<6} your balance {:>24}   all users {:>26}   reserves {:>26}   ratio {}",
                                b.asset,
                                b.balance,
                                b.liabilities,
                                b.reserves,
                                b.ratio.as_deref().unwrap_or("-")
                            );
                        }
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e @ VerifyFailure::Failed(_)) => Ok(not_verified(&e, json, "vigil: NOT VERIFIED")),
                Err(e) => Ok(not_verified(&e, json, "vigil")),
            }
        }
    }
}

/// A verification that did not verify, said: on stderr after `prefix`, and with `--json` as
/// `{"verified": false, "error": …}` on stdout (a JSON answer whatever the outcome); its exit
/// code.
fn not_verified(e: &VerifyFailure, json: bool, prefix: &str) -> ExitCode {
    if json {
        println!("{}", serde_json::json!({"verified": false, "error": e.to_string()}));
    }
    eprintln!("{prefix}: {e}");
    ExitCode::from(e.exit_code())
}

fn stress(config: PathBuf, key: PathBuf, count: u64, batch: usize, tag: String) -> Result<()> {
    use std::io::Write;
    use vigil_core::event::Event;
    let cfg = vigil::config::load(&config)?;
    let engine = open_ledger(&cfg, EngineConfig::new(cfg.log_signer()?))?;
    let key = read_signer(&key)?;
    let mut out = std::io::stdout().lock();
    let mut i = 0u64;
    while i < count {
        let mut subs = Vec::new();
        for _ in 0..batch.min((count - i) as usize) {
            let ev = Event::from_value(serde_json::json!({
                "kind": "withdrawal", "withdrawal_id": format!("{tag}-{i}"), "stage": "requested",
                "asset": "BTC", "amount": (1000 + i).to_string(), "destination": "bc1qstress",
                "wallet": "hot-btc-1", "wallet_tier": "hot", "account": format!("acct-{}", i % 97),
            }))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            subs.push(vigil::client::signed(&key, ev, &format!("{tag}-{i}"), now_ms())?);
            i += 1;
        }
        for r in engine.append_blocking(subs)? {
            writeln!(
                out,
                "{}",
                serde_json::json!({"seq": r.seq, "entry_hash": r.entry_hash, "checkpoint": r.checkpoint})
            )?;
        }
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Each flag of `ConfigArgs` lands in its own setting, and only there. (Clap reads the
    /// environment variable of a flag into the same field, so this covers both.)
    #[test]
    fn each_flag_sets_its_setting() {
        type Set = fn(&mut Config);
        let cases: [(&[&str], Set); 12] = [
            (&["--data-dir", "d"], |c| c.data_dir = "d".into()),
            (&["--reserves-dir", "r"], |c| c.reserves_dir = "r".into()),
            (&["--web-dir", "w"], |c| c.web_dir = "w".into()),
            (&["--log-key", "l.key"], |c| c.log_key = "l.key".into()),
            (&["--operator-key", "o.key"], |c| c.operator_key = "o.key".into()),
            (&["--public", "127.0.0.1:1"], |c| c.server.public = "127.0.0.1:1".parse().unwrap()),
            (&["--internal", "127.0.0.1:2"], |c| c.server.internal = "127.0.0.1:2".parse().unwrap()),
            (&["--replay-window-ms", "5000"], |c| c.server.replay_window_ms = 5000),
            (&["--max-in-flight", "4096"], |c| c.server.max_in_flight = 4096),
            (&["--request-timeout-ms", "700"], |c| c.server.request_timeout_ms = 700),
            (&["--witness-quorum", "0"], |c| c.witness_quorum = Some(0)),
            (&["--witness-quorum", "3"], |c| c.witness_quorum = Some(3)),
        ];
        // The flags' variables must be unset here, or the expectations below would not hold.
        let cmd = Cli::command();
        let serve = cmd.find_subcommand("serve").unwrap();
        for env in serve.get_arguments().filter_map(|a| a.get_env()) {
            assert!(std::env::var_os(env).is_none(), "{env:?} is set");
        }
        for (flags, set) in cases {
            let cli = Cli::try_parse_from(["vigil", "serve"].iter().chain(flags)).unwrap();
            let Command::Serve { config } = cli.command else { panic!("{flags:?}: not serve") };
            let mut want = Config::default();
            set(&mut want);
            assert_eq!(config.load().unwrap(), want, "{flags:?}");
        }
    }
}
