//! The demo: a new log with the example keys, then the May 2019 hot-wallet breach told as the
//! services would have logged it, then a full verification of what was written.

use crate::client::signed;
use crate::config::{open_ledger, read_signer, Config};
use crate::engine::{Clock, Engine, EngineConfig, Receipt};
use anyhow::{Context, Result};
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use vigil_core::event::Event;
use vigil_core::keys::SignerKey;

/// A clock the story sets, so entries carry the incident's own times.
#[derive(Default)]
pub struct StoryClock(pub AtomicU64);

impl Clock for StoryClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// 2019-05-07T00:00:00Z.
pub const DAY0_MS: u64 = 1_557_187_200_000;
const MIN: u64 = 60_000;

/// One step of the story: which example service says what, and when (minutes after DAY0).
struct Step {
    service: &'static str,
    at_min: u64,
    event: serde_json::Value,
}

fn story() -> Vec<Step> {
    let inc = "INC-2019-05-07-hot-wallet";
    vec![
        Step {
            service: "treasury",
            at_min: 0,
            event: json!({"kind": "safu_contribution", "asset": "BTC", "amount": "850000000000", "period_start_ms": DAY0_MS - 300 * 24 * 60 * MIN, "period_end_ms": DAY0_MS, "fee_share_bps": 1000}),
        },
        Step {
            service: "withdrawals",
            at_min: 600,
            event: json!({"kind": "withdrawal", "withdrawal_id": "w-1001", "stage": "requested", "asset": "BTC", "amount": "50000000", "destination": "bc1qdemo0user0address0000000000000000", "wallet": "hot-btc-1", "wallet_tier": "hot", "account": "acct-3391"}),
        },
        Step {
            service: "withdrawals",
            at_min: 601,
            event: json!({"kind": "withdrawal", "withdrawal_id": "w-1001", "stage": "executed", "asset": "BTC", "amount": "50000000", "destination": "bc1qdemo0user0address0000000000000000", "tx_id": "demo-tx-0001", "wallet": "hot-btc-1", "wallet_tier": "hot", "account": "acct-3391"}),
        },
        Step {
            service: "withdrawals",
            at_min: 17 * 60 + 15,
            event: json!({"kind": "withdrawal", "withdrawal_id": "w-7000", "stage": "requested", "asset": "BTC", "amount": "700000000000", "destination": "bc1qdemo0attacker0address00000000000", "wallet": "hot-btc-1", "wallet_tier": "hot", "account": "acct-0715"}),
        },
        Step {
            service: "withdrawals",
            at_min: 17 * 60 + 16,
            event: json!({"kind": "withdrawal", "withdrawal_id": "w-7000", "stage": "approved", "asset": "BTC", "amount": "700000000000", "destination": "bc1qdemo0attacker0address00000000000", "wallet": "hot-btc-1", "wallet_tier": "hot", "account": "acct-0715"}),
        },
        Step {
            service: "withdrawals",
            at_min: 17 * 60 + 17,
            event: json!({"kind": "withdrawal", "withdrawal_id": "w-7000", "stage": "executed", "asset": "BTC", "amount": "700000000000", "destination": "bc1qdemo0attacker0address00000000000", "tx_id": "demo-tx-7000btc", "wallet": "hot-btc-1", "wallet_tier": "hot", "account": "acct-0715"}),
        },
        Step {
            service: "risk",
            at_min: 17 * 60 + 24,
            event: json!({"kind": "alarm", "rule": "hot-wallet-outflow", "severity": "critical", "summary": "7,000 BTC left hot wallet hot-btc-1 in one transaction", "refs": []}),
        },
        Step {
            service: "operations",
            at_min: 17 * 60 + 30,
            event: json!({"kind": "incident_open", "incident": inc, "title": "Hot wallet breach: 7,000 BTC withdrawn", "summary": "Attackers used stolen API keys and 2FA codes to withdraw 7,000 BTC from a hot wallet.", "severity": "critical"}),
        },
        Step {
            service: "operations",
            at_min: 17 * 60 + 31,
            event: json!({"kind": "freeze", "scope": {"target": "withdrawals"}, "reason": "Hot wallet breach under investigation", "incident": inc}),
        },
        Step {
            service: "operations",
            at_min: 17 * 60 + 31,
            event: json!({"kind": "freeze", "scope": {"target": "deposits"}, "reason": "Hot wallet breach under investigation", "incident": inc}),
        },
        Step {
            service: "operations",
            at_min: 17 * 60 + 40,
            event: json!({"kind": "maintenance", "notice": "Unscheduled server maintenance", "starts_at_ms": DAY0_MS + (17 * 60 + 40) * MIN}),
        },
        Step {
            service: "operations",
            at_min: 18 * 60,
            event: json!({"kind": "freeze", "scope": {"target": "accounts", "accounts": ["acct-0715"]}, "reason": "Account used in the breach", "incident": inc}),
        },
        Step {
            service: "operations",
            at_min: 19 * 60,
            event: json!({"kind": "credential_reset", "credentials": ["api_keys", "two_factor"], "scope": "all_users", "reason": "API keys and 2FA codes were stolen", "incident": inc}),
        },
        Step {
            service: "operations",
            at_min: 22 * 60,
            event: json!({"kind": "incident_update", "incident": inc, "summary": "All other wallets are secure. Trading resumes; deposits and withdrawals stay suspended during the investigation."}),
        },
        Step {
            service: "treasury",
            at_min: 24 * 60,
            event: json!({"kind": "safu_payout", "incident": inc, "asset": "BTC", "amount": "700000000000", "covers": "The full 7,000 BTC loss; no user bears it"}),
        },
        Step {
            service: "operations",
            at_min: 7 * 24 * 60,
            event: json!({"kind": "unfreeze", "scope": {"target": "withdrawals"}, "reason": "Security review complete", "incident": inc}),
        },
        Step {
            service: "operations",
            at_min: 7 * 24 * 60,
            event: json!({"kind": "unfreeze", "scope": {"target": "deposits"}, "reason": "Security review complete", "incident": inc}),
        },
        Step {
            service: "operations",
            at_min: 7 * 24 * 60 + 5,
            event: json!({"kind": "incident_close", "incident": inc, "summary": "Loss covered by SAFU; deposits and withdrawals restored."}),
        },
    ]
}

/// Writes the demo log into `data_dir` (which must be new or empty) using the example keys in
/// `keys_dir`. Returns the receipts of the story's events.
pub fn write_demo_log(keys_dir: &Path, data_dir: &Path) -> Result<(Engine, Vec<Receipt>)> {
    let cfg = demo_config(keys_dir, data_dir)?;
    let clock = Arc::new(StoryClock(AtomicU64::new(DAY0_MS - MIN)));
    let mut ec = EngineConfig::new(read_signer(&cfg.log_key)?);
    ec.clock = clock.clone();
    let engine = open_ledger(&cfg, ec)?;
    let key = |name: &str| -> Result<SignerKey> { read_signer(&keys_dir.join(format!("{name}.key"))) };
    let mut executed_seq = None;
    let mut receipts = Vec::new();
    for (i, mut step) in story().into_iter().enumerate() {
        let at = DAY0_MS + step.at_min * MIN;
        clock.0.store(at, Ordering::SeqCst);
        if step.event["kind"] == "alarm" {
            // The alarm points at the executed 7,000 BTC withdrawal.
            step.event["refs"] = json!(executed_seq.into_iter().collect::<Vec<u64>>());
        }
        let event = Event::from_value(step.event.clone()).map_err(|e| anyhow::anyhow!("demo step {i}: {e}"))?;
        let sub = signed(&key(step.service)?, event, &format!("demo-{i:02}"), at)?;
        let r = engine.append_blocking(vec![sub]).with_context(|| format!("demo step {i}"))?;
        if step.event["stage"] == "executed" && step.event["withdrawal_id"] == "w-7000" {
            executed_seq = Some(r[0].seq);
        }
        receipts.extend(r);
    }
    Ok((engine, receipts))
}

/// The configuration of the demo: every example service key with the kinds it may append.
pub fn demo_config(keys_dir: &Path, data_dir: &Path) -> Result<Config> {
    let text = format!(
        r#"
data_dir = {data:?}
log_key = {log:?}
operator_key = {op:?}
[[services]]
vkey = {w:?}
kinds = ["withdrawal"]
[[services]]
vkey = {r:?}
kinds = ["alarm"]
[[services]]
vkey = {o:?}
kinds = ["freeze", "unfreeze", "credential_reset", "maintenance", "incident_open", "incident_update", "incident_close"]
[[services]]
vkey = {t:?}
kinds = ["safu_contribution", "safu_payout"]
[[services]]
vkey = {c:?}
kinds = ["reserve_snapshot"]
"#,
        data = data_dir,
        log = keys_dir.join("vigil.example_audit-log.key"),
        op = keys_dir.join("operator.key"),
        w = keys_dir.join("withdrawals.vkey"),
        r = keys_dir.join("risk.vkey"),
        o = keys_dir.join("operations.vkey"),
        t = keys_dir.join("treasury.vkey"),
        c = keys_dir.join("custody.vkey"),
    );
    let c: Config = toml::from_str(&text).context("demo config")?;
    Ok(c)
}
