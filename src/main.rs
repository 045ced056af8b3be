//! The `vigil` command. Exit codes: 0 success; 1 verification failed (the log misbehaves);
//! 2 could not run (usage, I/O, bad input).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use vigil::config::{open_ledger, read_signer, read_verifier, write_keypair, Config};
use vigil::engine::EngineConfig;
use vigil::verify::{verify_data_dir, VerifyFailure};

#[derive(Parser)]
#[command(name = "vigil", version, about = "Append-only audit ledger and transparency publisher")]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    },
    /// Write the May 2019 breach story into a fresh log with the example keys, verify it, and
    /// serve it (public API and internal append API on loopback) until Ctrl-C.
    Demo {
        /// Where the demo log goes; emptied first.
        #[arg(long, default_value = "demo-data")]
        data_dir: PathBuf,
        #[arg(long, default_value = "keys-example")]
        keys: PathBuf,
        /// Stop after writing and verifying; do not serve.
        #[arg(long)]
        no_serve: bool,
        #[arg(long, default_value = "127.0.0.1:8080")]
        public: std::net::SocketAddr,
        #[arg(long, default_value = "127.0.0.1:8081")]
        internal: std::net::SocketAddr,
    },
    /// Serve a configured log: the public read API and the internal append API.
    Serve {
        #[arg(long)]
        config: PathBuf,
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
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// JSON lines: an event, or {"idempotency_key": "...", "event": {...}}; `-` for stdin.
        #[arg(default_value = "-")]
        input: String,
    },
    /// Create (or open and check) the log of a configuration file.
    Init {
        #[arg(long)]
        config: PathBuf,
    },
    /// Verify a data dir end to end against the pinned log key.
    Verify {
        #[arg(long)]
        data_dir: PathBuf,
        /// The log's verifier key file (signed-note vkey), pinned by you.
        #[arg(long)]
        log_key: PathBuf,
        #[arg(long)]
        json: bool,
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

fn main() -> ExitCode {
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
        Command::Keygen { name, out } => {
            let (k, v) = write_keypair(&out, &name)?;
            println!("wrote {} and {}", k.display(), v.display());
        }
        Command::Serve { config } => {
            let cfg = Config::load(&config)?;
            runtime()?.block_on(vigil::serve::serve(cfg, |p, i| {
                println!("public API:        http://{p}/checkpoint");
                println!("internal append:   http://{i}/v1/events");
            }))?;
        }
        Command::Append { url, key, batch, input } => return append(&url, &key, batch.max(1), &input),
        Command::Demo { data_dir, keys, no_serve, public, internal } => {
            if data_dir.exists() {
                std::fs::remove_dir_all(&data_dir).with_context(|| format!("emptying {}", data_dir.display()))?;
            }
            let (engine, receipts) = vigil::demo::write_demo_log(&keys, &data_dir)?;
            let head = engine.head();
            drop(engine);
            println!("Wrote {} entries to {}:", head.state.size, data_dir.display());
            for r in &receipts {
                println!("  entry {:>3}  {}", r.seq, r.entry_hash);
            }
            println!("\nLatest checkpoint:\n{}", String::from_utf8_lossy(&head.checkpoint));
            let log_key = read_verifier(&keys.join("vigil.example_audit-log.vkey"))?;
            match verify_data_dir(&data_dir, &log_key) {
                Ok(r) => println!("Verified: {} entries, root {}, signed by {}", r.size, r.root, log_key.to_vkey()),
                Err(e) => {
                    eprintln!("demo log does not verify: {e}");
                    return Ok(ExitCode::from(1));
                }
            }
            if !no_serve {
                let mut cfg = vigil::demo::demo_config(&keys, &data_dir)?;
                cfg.server.public = public;
                cfg.server.internal = internal;
                runtime()?.block_on(vigil::serve::serve(cfg, |p, i| {
                    println!("\nServing the demo log (Ctrl-C stops):");
                    println!("  checkpoint:      http://{p}/checkpoint");
                    println!("  an entry:        http://{p}/v1/entries/8");
                    println!("  a proof:         http://{p}/v1/proofs/inclusion?seq=8");
                    println!("  tiles:           http://{p}/tile/0/000.p/24 and http://{p}/tile/entries/000.p/24");
                    println!(
                        "  append (signed): vigil append --url http://{i} --key keys-example/risk.key events.jsonl"
                    );
                }))?;
            }
        }
        Command::Init { config } => {
            let cfg = Config::load(&config)?;
            let engine = open_ledger(&cfg, EngineConfig::new(read_signer(&cfg.log_key)?))?;
            print!("{}", String::from_utf8_lossy(&engine.head().checkpoint));
        }
        Command::Verify { data_dir, log_key, json } => {
            let key = read_verifier(&log_key)?;
            return Ok(match verify_data_dir(&data_dir, &key) {
                Ok(r) => {
                    if json {
                        println!("{}", serde_json::json!({"verified": true, "report": r}));
                    } else {
                        println!("verified {} entries of {}; root {}", r.size, r.origin, r.root);
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    let code = match e {
                        VerifyFailure::Failed(_) => 1,
                        VerifyFailure::CouldNotRun(_) => 2,
                    };
                    if json {
                        println!("{}", serde_json::json!({"verified": false, "error": e.to_string()}));
                    }
                    eprintln!("vigil verify: {e}");
                    ExitCode::from(code)
                }
            });
        }
        Command::Stress { config, key, count, batch, tag } => stress(config, key, count, batch, tag)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

fn append(url: &str, key: &std::path::Path, batch: usize, input: &str) -> Result<ExitCode> {
    use std::io::{BufRead, Write};
    let key = read_signer(key)?;
    let reader: Box<dyn BufRead> = if input == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(std::fs::File::open(input).with_context(|| format!("opening {input}"))?))
    };
    let client = vigil::client::AppendClient::new(url);
    let mut out = std::io::stdout().lock();
    let mut pending = Vec::new();
    let now = || {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    };
    let flush = |pending: &mut Vec<vigil_core::statement::Submission>, out: &mut std::io::StdoutLock| -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let receipts = client.append(pending).map_err(|e| anyhow::anyhow!("append refused: {e}"))?;
        for r in receipts {
            writeln!(out, "{r}")?;
        }
        pending.clear();
        Ok(())
    };
    for (n, line) in reader.lines().enumerate() {
        let line = line.context("reading input")?;
        if line.trim().is_empty() {
            continue;
        }
        let (idem, event) = vigil::client::parse_line(&line).map_err(|e| anyhow::anyhow!("line {}: {e}", n + 1))?;
        pending.push(vigil::client::sign_event(&key, event, &idem, now())?);
        if pending.len() >= batch {
            flush(&mut pending, &mut out)?;
        }
    }
    flush(&mut pending, &mut out)?;
    Ok(ExitCode::SUCCESS)
}

fn stress(config: PathBuf, key: PathBuf, count: u64, batch: usize, tag: String) -> Result<()> {
    use std::io::Write;
    use vigil_core::event::Event;
    let cfg = Config::load(&config)?;
    let engine = open_ledger(&cfg, EngineConfig::new(read_signer(&cfg.log_key)?))?;
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
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64;
            subs.push(vigil::client::signed(&key, ev, &format!("{tag}-{i}"), now)?);
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
