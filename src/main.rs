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
    /// Write the May 2019 breach story into a fresh log with the example keys, and verify it.
    Demo {
        /// Where the demo log goes; emptied first.
        #[arg(long, default_value = "demo-data")]
        data_dir: PathBuf,
        #[arg(long, default_value = "keys-example")]
        keys: PathBuf,
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
        Command::Demo { data_dir, keys } => {
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
