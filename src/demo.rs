//! The demo: the May 2019 hot-wallet breach told as the exchange's services would have logged
//! it, appended through the real internal API of a running `vigil serve`, then verified; then
//! ordinary traffic keeps arriving slowly so a watcher sees the log grow.
//!
//! The story (`story`) is deterministic: four weeks of ordinary withdrawals and daily SAFU
//! contributions (10% of trading fees), then on 2019-05-07 withdrawals from twelve compromised
//! accounts that pass every check and leave in one 7,000 BTC hot-wallet transaction, the
//! alarms (which name the incident and refer to those withdrawals), the incident, the global
//! freezes, the forced API-key and 2FA reset, unscheduled maintenance, updates, the SAFU payout
//! of the 7,000 BTC, the unfreeze and the close. Times are the story's: the server runs on a
//! [`DemoClock`] that the seeder sets before each batch, and that runs in real time afterwards.

use crate::client::{sign_event, AppendClient};
use crate::config::{read_signer, Config, ConfigFiles};
use crate::engine::{Clock, Engine};
use anyhow::{anyhow, bail, Context, Result};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use vigil_core::event::Event;
use vigil_core::keys::{SignerKey, VerifierKey};
use vigil_core::statement::Submission;

/// 2019-05-07T00:00:00Z, the day of the breach.
pub const DAY0_MS: u64 = 1_557_187_200_000;
const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;
/// The incident's id, named by every entry of its timeline.
pub const INCIDENT: &str = "INC-2019-05-07-hot-wallet";
/// Days of ordinary traffic before the breach.
const WEEKS_BEFORE: u64 = 4;
/// The single transaction that took the 7,000 BTC.
const ATTACK_TX: &str = "demo-tx-7000btc-hot-wallet";
/// The one wallet the stolen BTC went to.
const ATTACKER_ADDRESS: &str = "bc1q-demo-attacker-wallet";

/// The clock of the demo server: story time while seeding, then real time from where the
/// story ended, so log times never go backwards.
#[derive(Default)]
pub struct DemoClock {
    story_ms: AtomicU64,
    live: Mutex<Option<(Instant, u64)>>,
}

impl DemoClock {
    pub fn new(start_ms: u64) -> DemoClock {
        DemoClock { story_ms: AtomicU64::new(start_ms), live: Mutex::new(None) }
    }

    pub fn set(&self, ms: u64) {
        self.story_ms.store(ms, Ordering::SeqCst);
    }

    /// From now on the clock runs in real time, starting from the story's current time.
    pub fn go_live(&self) {
        *self.live.lock().expect("demo clock") = Some((Instant::now(), self.story_ms.load(Ordering::SeqCst)));
    }
}

impl Clock for DemoClock {
    fn now_ms(&self) -> u64 {
        match *self.live.lock().expect("demo clock") {
            Some((since, base)) => base + since.elapsed().as_millis() as u64,
            None => self.story_ms.load(Ordering::SeqCst),
        }
    }
}

/// One event of the story: who says what, when, under which idempotency key.
#[derive(Debug, Clone)]
pub struct StoryEvent {
    pub at_ms: u64,
    pub service: &'static str,
    pub idempotency_key: String,
    pub event: Value,
}

/// `amount` BTC with up to 8 decimals, in satoshi.
fn btc(whole: u64, sat: u64) -> String {
    (whole * 100_000_000 + sat).to_string()
}

/// A withdrawal of `account`, a private field (committed, not shown). Its public destination is
/// derived from the withdrawal id, which is public too: nothing in it names the account.
fn withdrawal(id: &str, stage: &str, asset: &str, amount: &str, account: &str, wallet: &str) -> Value {
    let destination = format!("addr-{}", &blake3::hash(id.as_bytes()).to_hex()[..16]);
    let mut v = json!({"kind": "withdrawal", "withdrawal_id": id, "stage": stage, "asset": asset, "amount": amount,
        "destination": destination, "wallet": wallet, "wallet_tier": "hot", "account": account});
    match stage {
        "executed" => v["tx_id"] = format!("tx-{id}").into(),
        "rejected" => v["reason"] = "failed the withdrawal risk check".into(),
        _ => {}
    }
    v
}

/// Ordinary traffic of one day: withdrawals (requested, then executed a few minutes later; a
/// few rejected) and the day's SAFU contribution, 10% of its trading fees.
fn ordinary_day(rng: &mut rand::rngs::StdRng, day_ms: u64, tag: &str, out: &mut Vec<StoryEvent>) {
    const ASSETS: [(&str, &str, u64); 3] =
        [("BTC", "hot-btc-1", 100_000_000), ("ETH", "hot-eth-1", 0), ("USDT", "hot-usdt-1", 1_000_000)];
    for n in 0..40 {
        let at = day_ms + rng.gen_range(0..DAY - HOUR);
        let (asset, wallet, unit) = ASSETS[rng.gen_range(0..ASSETS.len())];
        let amount = match asset {
            "ETH" => format!("{}{:016}", rng.gen_range(1..40u64), rng.gen_range(0..10_000_000_000_000_000u64)),
            _ => (rng.gen_range(1..500u64) * unit / 100).to_string(),
        };
        let account = format!("acct-{:04}", rng.gen_range(1000..9999));
        let id = format!("w-{tag}-{n:02}");
        out.push(StoryEvent {
            at_ms: at,
            service: "withdrawals",
            idempotency_key: format!("{id}-requested"),
            event: withdrawal(&id, "requested", asset, &amount, &account, wallet),
        });
        let stage = if rng.gen_range(0..25) == 0 { "rejected" } else { "executed" };
        out.push(StoryEvent {
            at_ms: at + rng.gen_range(1..30) * MIN,
            service: "withdrawals",
            idempotency_key: format!("{id}-{stage}"),
            event: withdrawal(&id, stage, asset, &amount, &account, wallet),
        });
    }
    // Fees of the day (BTC equivalent); 10% goes to the SAFU fund.
    let fees = rng.gen_range(18..36u64) * 100_000_000 + rng.gen_range(0..100_000_000);
    out.push(StoryEvent {
        at_ms: day_ms + DAY - MIN,
        service: "treasury",
        idempotency_key: format!("safu-{tag}"),
        event: json!({"kind": "safu_contribution", "asset": "BTC", "amount": (fees / 10).to_string(),
            "period_start_ms": day_ms, "period_end_ms": day_ms + DAY, "fee_share_bps": 1000}),
    });
}

/// The compromised accounts and what each withdrew; the amounts add up to 7,000 BTC.
fn attack_withdrawals() -> Vec<(String, String)> {
    let amounts = [
        btc(3600, 0),
        btc(612, 50_000_000),
        btc(480, 0),
        btc(455, 0),
        btc(402, 25_000_000),
        btc(350, 0),
        btc(300, 0),
        btc(280, 75_000_000),
        btc(200, 0),
        btc(150, 0),
        btc(100, 0),
        btc(69, 50_000_000),
    ];
    amounts.into_iter().enumerate().map(|(i, a)| (format!("acct-c{:02}", i + 1), a)).collect()
}

/// The whole story, in time order. Alarms carry `"refs": "attack"`: the seeder replaces it with
/// the sequence numbers the attack's executed withdrawals received.
pub fn story() -> Vec<StoryEvent> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(20190507);
    let start = DAY0_MS - WEEKS_BEFORE * 7 * DAY;
    let mut out = vec![StoryEvent {
        at_ms: start,
        service: "treasury",
        idempotency_key: "safu-opening-balance".into(),
        event: json!({"kind": "safu_contribution", "asset": "BTC", "amount": btc(8_500, 0),
            "period_start_ms": start - 300 * DAY, "period_end_ms": start, "fee_share_bps": 1000}),
    }];
    for d in 0..WEEKS_BEFORE * 7 {
        ordinary_day(&mut rng, start + d * DAY, &format!("d{d:02}"), &mut out);
    }
    let at = |h: u64, m: u64| DAY0_MS + h * HOUR + m * MIN;
    let mut ev = |at_ms: u64, service: &'static str, key: &str, event: Value| {
        out.push(StoryEvent { at_ms, service, idempotency_key: key.into(), event })
    };
    // The breach: every withdrawal passes the checks, then all leave in one transaction, to
    // the attacker's one wallet.
    for (i, (account, amount)) in attack_withdrawals().into_iter().enumerate() {
        let id = format!("w-attack-{:02}", i + 1);
        let t = at(17, 3) + i as u64 * 50_000;
        let to_the_attacker = |stage| {
            let mut w = withdrawal(&id, stage, "BTC", &amount, &account, "hot-btc-1");
            w["destination"] = ATTACKER_ADDRESS.into();
            w
        };
        ev(t, "withdrawals", &format!("{id}-requested"), to_the_attacker("requested"));
        ev(t + 20_000, "withdrawals", &format!("{id}-approved"), to_the_attacker("approved"));
        let mut executed = to_the_attacker("executed");
        executed["tx_id"] = ATTACK_TX.into();
        ev(at(17, 15), "withdrawals", &format!("{id}-executed"), executed);
    }
    let inc = INCIDENT;
    ev(
        at(17, 24),
        "risk",
        "alarm-outflow",
        json!({"kind": "alarm", "rule": "hot-wallet-outflow", "severity": "critical",
        "summary": "7,000 BTC left hot wallet hot-btc-1 in one transaction", "refs": "attack", "incident": inc}),
    );
    ev(
        at(17, 26),
        "risk",
        "alarm-api-keys",
        json!({"kind": "alarm", "rule": "api-key-anomaly", "severity": "high",
        "summary": "Withdrawals from 12 accounts used API keys and 2FA codes from unrecognised devices", "refs": "attack", "incident": inc}),
    );
    ev(
        at(17, 30),
        "operations",
        "incident-open",
        json!({"kind": "incident_open", "incident": inc,
        "title": "Hot wallet breach: 7,000 BTC withdrawn",
        "summary": "Attackers used stolen API keys and 2FA codes to withdraw 7,000 BTC from a hot wallet in one transaction.",
        "severity": "critical"}),
    );
    ev(
        at(17, 31),
        "operations",
        "freeze-withdrawals",
        json!({"kind": "freeze", "scope": {"target": "withdrawals"},
        "reason": "Hot wallet breach under investigation", "incident": inc}),
    );
    ev(
        at(17, 31),
        "operations",
        "freeze-deposits",
        json!({"kind": "freeze", "scope": {"target": "deposits"},
        "reason": "Hot wallet breach under investigation", "incident": inc}),
    );
    ev(
        at(17, 40),
        "operations",
        "maintenance",
        json!({"kind": "maintenance", "notice": "Unscheduled server maintenance",
        "starts_at_ms": at(17, 40), "ends_at_ms": DAY0_MS + 7 * DAY}),
    );
    let accounts: Vec<String> = attack_withdrawals().into_iter().map(|(a, _)| a).collect();
    ev(
        at(18, 0),
        "operations",
        "freeze-accounts",
        json!({"kind": "freeze", "scope": {"target": "accounts", "accounts": accounts},
        "reason": "Accounts used in the breach", "incident": inc}),
    );
    ev(
        at(19, 0),
        "operations",
        "credential-reset",
        json!({"kind": "credential_reset", "credentials": ["api_keys", "two_factor"],
        "scope": "all_users", "reason": "API keys and 2FA codes were stolen", "incident": inc}),
    );
    ev(
        at(22, 0),
        "operations",
        "update-1",
        json!({"kind": "incident_update", "incident": inc,
        "summary": "All other wallets are secure. Trading resumes; deposits and withdrawals stay suspended during the security review."}),
    );
    ev(
        at(26, 0),
        "operations",
        "update-2",
        json!({"kind": "incident_update", "incident": inc, "severity": "high",
        "summary": "The SAFU fund will cover the loss in full; no user balance is affected."}),
    );
    ev(
        at(34, 0),
        "treasury",
        "safu-payout",
        json!({"kind": "safu_payout", "incident": inc, "asset": "BTC",
        "amount": btc(7_000, 0), "covers": "The full 7,000 BTC taken from hot wallet hot-btc-1; no user bears the loss"}),
    );
    ev(
        at(7 * 24, 0),
        "operations",
        "unfreeze-withdrawals",
        json!({"kind": "unfreeze", "scope": {"target": "withdrawals"},
        "reason": "Security review complete", "incident": inc}),
    );
    ev(
        at(7 * 24, 0),
        "operations",
        "unfreeze-deposits",
        json!({"kind": "unfreeze", "scope": {"target": "deposits"},
        "reason": "Security review complete", "incident": inc}),
    );
    ev(
        at(7 * 24, 5),
        "operations",
        "incident-close",
        json!({"kind": "incident_close", "incident": inc,
        "summary": "Loss covered by SAFU; deposits and withdrawals restored."}),
    );
    out.sort_by_key(|e| e.at_ms);
    out
}

/// Where the seeder's batches go: the internal HTTP API, or an engine in process (tests).
pub trait Sink {
    /// Appends one batch; returns the sequence number of each event.
    fn append(&mut self, batch: &[Submission]) -> Result<Vec<u64>>;
}

impl Sink for AppendClient {
    fn append(&mut self, batch: &[Submission]) -> Result<Vec<u64>> {
        let receipts =
            AppendClient::append(self, batch).map_err(|e| anyhow::Error::new(e).context("append refused"))?;
        Ok(receipts.iter().map(|r| r.seq).collect())
    }
}

impl Sink for &Engine {
    fn append(&mut self, batch: &[Submission]) -> Result<Vec<u64>> {
        let subs = batch.iter().map(|s| s.clone().parse()).collect::<Result<Vec<_>, _>>()?;
        Ok(self.append_blocking(subs)?.into_iter().map(|r| r.seq).collect())
    }
}

/// The example service keys, by the story's service names.
pub struct DemoKeys(BTreeMap<&'static str, SignerKey>);

impl DemoKeys {
    pub fn load(keys_dir: &Path) -> Result<DemoKeys> {
        let mut m = BTreeMap::new();
        for name in ["withdrawals", "risk", "operations", "treasury", "custody"] {
            m.insert(name, read_signer(&keys_dir.join(format!("{name}.key")))?);
        }
        Ok(DemoKeys(m))
    }

    fn get(&self, service: &str) -> Result<&SignerKey> {
        self.0.get(service).ok_or_else(|| anyhow!("no demo key for {service}"))
    }
}

/// The demo's proof-of-reserves snapshots: (time, id, BTC reserves above the liabilities, BTC
/// in the hot wallet, both in whole BTC). A week before the breach the exchange holds 15,000 BTC
/// more than it owes, 7,500 of it in the hot wallet; the day after, the SAFU payout has made
/// every user whole, and the cushion is 7,000 BTC smaller: the hot wallet's loss (the cold
/// wallet holds what it held).
const SNAPSHOTS: [(u64, &str, u64, u64); 2] =
    [(DAY0_MS - 6 * DAY, "por-2019-05-01", 15_000, 7_500), (DAY0_MS + 36 * HOUR, "por-2019-05-08", 8_000, 500)];
/// Entries each demo snapshot adds: four wallet attestations and the snapshot.
pub const ENTRIES_PER_SNAPSHOT: usize = WALLETS.len() + 1;
/// The custody wallets each demo snapshot attests: (asset, wallet, address).
const WALLETS: [(&str, &str, &str); 4] = [
    ("BTC", "hot-btc-1", "bc1qhotwallet0demo"),
    ("BTC", "cold-btc-1", "bc1qcoldwallet0demo"),
    ("ETH", "cold-eth-1", "0xc01dc01dc01dc01d"),
    ("USDT", "cold-usdt-1", "0x05d7c01d05d7c01d"),
];
/// Entries the demo's snapshots add to the story.
pub const RESERVE_ENTRIES: usize = SNAPSHOTS.len() * ENTRIES_PER_SNAPSHOT;
/// Accounts in the demo's balances.
const DEMO_ACCOUNTS: u64 = 5_000;

/// The file that marks a folder as made by `vigil demo`: the demo uses, and with `--fresh`
/// deletes, only folders that hold it (or that it creates), never a folder of something else
/// given by mistake.
pub const MARKER: &str = "VIGIL-DEMO";

/// Whether the demo may use (and with `--fresh` delete) `dir`: it is absent, empty, or holds
/// the marker. Checked for every folder before any is deleted or created.
pub fn check_dir(dir: &Path) -> Result<()> {
    if std::fs::symlink_metadata(dir).is_err() || dir.join(MARKER).is_file() {
        return Ok(());
    }
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(not_the_demos(dir)),
        Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", dir.display()))),
    }
}

/// Makes `dir` the demo's: creates it, or marks it when empty (see [`check_dir`]).
pub fn claim_dir(dir: &Path) -> Result<()> {
    check_dir(dir)?;
    if dir.join(MARKER).is_file() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    mark(dir).with_context(|| format!("writing {}", dir.join(MARKER).display()))
}

/// Writes the marker into `dir`.
fn mark(dir: &Path) -> std::io::Result<()> {
    std::fs::write(
        dir.join(MARKER),
        "made by `vigil demo`, which uses or deletes (--fresh) only folders with this file\n",
    )
}

/// Deletes a folder the demo made (see [`check_dir`]); nothing when it is absent.
pub fn remove_dir(dir: &Path) -> Result<()> {
    check_dir(dir)?;
    if std::fs::symlink_metadata(dir).is_err() {
        return Ok(());
    }
    // A demo still running on it holds its RocksDB lock: never delete a log in use.
    if dir.join("LOCK").exists() {
        if let Err(e @ crate::store::StoreError::InUse(_)) = crate::store::Store::open(dir) {
            return Err(e.into());
        }
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("emptying {}", dir.display()))
}

/// A demo folder from before the marker: a vigil data dir without it whose checkpoint the
/// demo's own log key signed *and* that holds the demo's incident is the demo's (the example key
/// alone is not enough: anyone may configure a log with it). It gets the marker, and so do its
/// sibling folders that look like the demo's (a reserves folder of the demo's snapshots only, a
/// witness folder that is a RocksDB store). Returns whether the data dir was adopted.
pub fn adopt_earlier_demo(data_dir: &Path, siblings: &[&Path], log_key: &VerifierKey) -> bool {
    if data_dir.join(MARKER).exists() {
        return false;
    }
    let the_demos = crate::store::Store::open_read_only(data_dir).ok().is_some_and(|store| {
        let signed =
            store.checkpoint().ok().flatten().is_some_and(|n| vigil_core::checkpoint::verify(&n, log_key).is_ok());
        signed && store.by_incident(INCIDENT, None, 1).is_ok_and(|s| !s.is_empty())
    });
    if !the_demos || mark(data_dir).is_err() {
        return false;
    }
    for d in siblings.iter().filter(|d| d.is_dir() && !d.join(MARKER).exists()) {
        let names: Vec<String> = std::fs::read_dir(d)
            .map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let demo_reserves = names.iter().all(|n| SNAPSHOTS.iter().any(|(_, id, _, _)| n.starts_with(id)));
        let witness_store = crate::witness::Witness::store_exists(d);
        if demo_reserves || witness_store {
            let _ = mark(d);
        }
    }
    true
}

fn not_the_demos(dir: &Path) -> anyhow::Error {
    anyhow!(
        "{} was not made by `vigil demo` (it is not empty and has no {MARKER} file): the demo neither uses nor deletes it; choose another --data-dir, or remove it yourself (a demo folder from before the marker is adopted when its checkpoint is signed by the example log key and it holds the demo's incident; any other, such as one of an older store format, is removed by hand with its .reserves and .witness-N siblings)",
        dir.display()
    )
}

/// Whether an existing demo log of `size` entries tells the whole story: the bootstrap (the
/// operator and `services` keys), every event of [`story`] and the snapshots' entries, or more
/// (the ordinary traffic that follows). A log whose seeding was cut short (Ctrl-C, a failure)
/// holds fewer, and is not served as if it told the story.
pub fn check_story_told(data_dir: &Path, size: u64, services: usize) -> Result<()> {
    let told = (1 + services + story().len() + RESERVE_ENTRIES) as u64;
    if size < told {
        bail!(
            "the demo log in {} holds {size} entries, fewer than the {told} of its story: its seeding was cut short; `vigil demo --fresh` starts a new one in its place",
            data_dir.display()
        );
    }
    Ok(())
}

/// Where the demo keeps its liabilities trees and records: beside its data dir.
pub fn reserves_dir_of(data_dir: &Path) -> std::path::PathBuf {
    crate::files::with_suffix(data_dir, ".reserves")
}

/// The demo's balances at a cut-off (deterministic: the same every run), as CSV in `path`.
/// Returns the per-asset totals (BTC, ETH, USDT).
fn write_demo_balances(path: &Path) -> Result<[u128; 3]> {
    use std::io::Write;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20_190_501);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "account,BTC,ETH,USDT")?;
    let mut totals = [0u128; 3];
    for i in 0..DEMO_ACCOUNTS {
        // Most accounts hold little; a few hold a lot (BTC in satoshi, ETH in wei, USDT in 10^-6).
        let whale = rng.gen_ratio(1, 50);
        let btc =
            rng.gen_range(0..if whale { 2_000 } else { 40 }) as u128 * 100_000_000 + rng.gen_range(0..100_000_000u128);
        let eth = rng.gen_range(0..if whale { 20_000 } else { 300 }) as u128 * 1_000_000_000_000_000_000;
        let usdt = rng.gen_range(0..if whale { 50_000_000 } else { 500_000 }) as u128 * 1_000_000;
        writeln!(out, "acct-{i:05},{btc},{eth},{usdt}")?;
        for (t, v) in totals.iter_mut().zip([btc, eth, usdt]) {
            *t += v;
        }
    }
    out.flush()?;
    Ok(totals)
}

/// Publishes one of [`SNAPSHOTS`]: the custody service attests its wallets, the treasury logs
/// the snapshot. Its records (the users' record ids and secrets) go beside the tree.
fn publish_snapshot(
    sink: &mut dyn Sink,
    keys: &DemoKeys,
    reserves_dir: &Path,
    (at, id, cushion_btc, hot_btc): (u64, &str, u64, u64),
) -> Result<crate::reserves::Published> {
    std::fs::create_dir_all(reserves_dir)?;
    let balances = reserves_dir.join(format!("{id}.balances.csv"));
    let [btc, eth, usdt] = write_demo_balances(&balances)?;
    let hot = hot_btc as u128 * 100_000_000;
    // What each of WALLETS holds: the BTC cushion above the liabilities (in the hot wallet and
    // the cold one), 2% more ETH, 2.5% more USDT.
    let held = [hot, btc + cushion_btc as u128 * 100_000_000 - hot, eth + eth / 50, usdt + usdt / 40];
    let attestations = WALLETS
        .iter()
        .zip(held)
        .map(|((asset, wallet, address), balance)| {
            let event = Event::from_value(json!({"kind": "reserve_attestation", "asset": asset, "wallet": wallet,
                "address": address, "balance": balance.to_string(), "block_height": (574_000 + (at as i64 - DAY0_MS as i64) / 600_000) as u64,
                "as_of_ms": at}))
            .map_err(|e| anyhow!("{e}"))?;
            Ok(sign_event(keys.get("custody")?, event, &format!("{id}-{wallet}"), at)?)
        })
        .collect::<Result<Vec<_>>>()?;
    let records = reserves_dir.join(format!("{id}.records.csv"));
    let _ = std::fs::remove_file(&records);
    let _ = std::fs::remove_dir_all(crate::reserves::tree_dir(reserves_dir, id));
    let p = crate::reserves::publish(
        sink,
        crate::reserves::Publish {
            snapshot: id,
            cut_off_ms: at,
            assets: None,
            balances: &balances,
            attestations,
            key: keys.get("treasury")?,
            clock: &crate::engine::FixedClock::at(at),
            records: &records,
            reserves_dir,
            progress: false,
        },
    )?;
    std::fs::remove_file(&balances)?;
    Ok(p)
}

/// The account id, record id and secret of the first account in the latest demo snapshot's
/// records file.
pub fn sample_record(reserves_dir: &Path) -> Option<(String, String, String)> {
    let id = SNAPSHOTS[SNAPSHOTS.len() - 1].1;
    let text = std::fs::read_to_string(reserves_dir.join(format!("{id}.records.csv"))).ok()?;
    // The demo's account ids need no CSV quoting.
    let mut f = text.lines().nth(1)?.split(',');
    let (account, rid, secret) = (f.next()?, f.next()?, f.next()?);
    Some((account.to_string(), rid.to_string(), secret.to_string()))
}

/// Appends the story through `sink`, setting `clock` to each batch's time first (events at the
/// same time by the same service form one batch), and publishes the proof-of-reserves
/// snapshots at their times (trees and records in `reserves_dir`). Returns the number of
/// entries appended.
pub fn seed(sink: &mut dyn Sink, clock: &DemoClock, keys: &DemoKeys, reserves_dir: &Path) -> Result<usize> {
    let story = story();
    let mut attack_seqs: Vec<u64> = Vec::new();
    let mut appended = 0;
    let mut i = 0;
    let mut snapshots = SNAPSHOTS.iter().peekable();
    while i < story.len() || snapshots.peek().is_some() {
        if let Some(&&snap) = snapshots.peek().filter(|s| i == story.len() || s.0 <= story[i].at_ms) {
            clock.set(snap.0);
            let p = publish_snapshot(sink, keys, reserves_dir, snap)?;
            appended += p.attestations.len() + 1;
            snapshots.next();
            continue;
        }
        let (at, service) = (story[i].at_ms, story[i].service);
        let mut j = i;
        let mut batch = Vec::new();
        while j < story.len() && story[j].at_ms == at && story[j].service == service {
            let s = &story[j];
            let mut v = s.event.clone();
            if v["refs"] == "attack" {
                v["refs"] = json!(attack_seqs);
            }
            let event = Event::from_value(v).map_err(|e| anyhow!("story event {}: {e}", s.idempotency_key))?;
            batch.push(sign_event(keys.get(service)?, event, &s.idempotency_key, at)?);
            j += 1;
        }
        clock.set(at);
        let seqs = sink.append(&batch).with_context(|| format!("appending story events at {at} by {service}"))?;
        for (s, seq) in story[i..j].iter().zip(&seqs) {
            if s.event["tx_id"] == ATTACK_TX {
                attack_seqs.push(*seq);
            }
        }
        appended += seqs.len();
        i = j;
    }
    Ok(appended)
}

/// Ordinary traffic after the story: one withdrawal (requested, then executed) every
/// `every`, and a SAFU contribution every tenth time, until `stop` is set.
pub fn keep_growing(
    sink: &mut dyn Sink,
    clock: &DemoClock,
    keys: &DemoKeys,
    every: std::time::Duration,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<u64> {
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut n = 0u64;
    // Random, so a restarted demo never reuses an earlier run's idempotency keys.
    let tag: u64 = rng.gen();
    loop {
        // The first append comes one interval after the story, not at once: a watcher (or a
        // test) sees the story's checkpoint settle first.
        let until = Instant::now() + every;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let now = clock.now_ms();
        let id = format!("w-live-{tag}-{n}");
        let amount = (rng.gen_range(1..300u64) * 1_000_000).to_string();
        let account = format!("acct-{:04}", rng.gen_range(1000..9999));
        let mut batch = Vec::new();
        for stage in ["requested", "executed"] {
            let ev = Event::from_value(withdrawal(&id, stage, "BTC", &amount, &account, "hot-btc-1"))
                .map_err(|e| anyhow!("{e}"))?;
            batch.push(sign_event(keys.get("withdrawals")?, ev, &format!("{id}-{stage}"), now)?);
        }
        sink.append(&batch)?;
        if n % 10 == 9 {
            let ev = Event::from_value(json!({"kind": "safu_contribution", "asset": "BTC",
                "amount": rng.gen_range(10_000_000..90_000_000u64).to_string(),
                "period_start_ms": now.saturating_sub(10 * every.as_millis() as u64), "period_end_ms": now, "fee_share_bps": 1000}))
            .map_err(|e| anyhow!("{e}"))?;
            sink.append(&[sign_event(keys.get("treasury")?, ev, &format!("safu-live-{tag}-{n}"), now)?])?;
        }
        n += 1;
    }
    Ok(n)
}

/// The configuration of the demo: every example service key with the kinds it may append.
pub fn demo_config(keys_dir: &Path, data_dir: &Path) -> Result<Config> {
    let text = format!(
        r#"
data_dir = {data:?}
reserves_dir = {reserves:?}
web_dir = {web:?}
log_key = {log:?}
operator_key = {op:?}
auditors = [{a:?}]
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
kinds = ["safu_contribution", "safu_payout", "reserve_snapshot"]
[[services]]
vkey = {c:?}
kinds = ["reserve_attestation"]
"#,
        data = data_dir,
        reserves = reserves_dir_of(data_dir),
        web = keys_dir.parent().unwrap_or(Path::new(".")).join("web"),
        log = keys_dir.join("vigil.example_audit-log.key"),
        op = keys_dir.join("operator.key"),
        w = keys_dir.join("withdrawals.vkey"),
        r = keys_dir.join("risk.vkey"),
        o = keys_dir.join("operations.vkey"),
        t = keys_dir.join("treasury.vkey"),
        c = keys_dir.join("custody.vkey"),
        a = keys_dir.join("auditor.vkey"),
    );
    let mut c = Config::parse(&text).context("demo config")?;
    // Written here, not by the user: an error names the setting, not a line of this text.
    c.source = Default::default();
    // The demo's log lives in May 2019 and what follows it, while `vigil append` and `vigil
    // openings` sign with today's clock: a replay window of 20 years lets both in. Never
    // configure a real log like this.
    c.server.replay_window_ms = 20 * 365 * 24 * 60 * 60 * 1000;
    Ok(c)
}

/// The demo's witnesses: key names (files `keys-example/<name>.key` and `.vkey`).
pub const WITNESSES: [&str; 2] = ["witness-1.example", "witness-2.example"];

/// Witness `i`'s (from 1) own data dir, beside the log's: `<data_dir>.witness-<i>`.
pub fn witness_dir_of(data_dir: &Path, i: usize) -> std::path::PathBuf {
    crate::files::with_suffix(data_dir, &format!(".witness-{i}"))
}

/// Starts the demo's witnesses (`vigil witness`, in process) on `addrs`, each witnessing the
/// demo log, and returns how the log reaches them.
pub async fn start_witnesses(
    keys_dir: &Path,
    data_dir: &Path,
    addrs: &[std::net::SocketAddr],
) -> Result<Vec<crate::witnessing::WitnessConfig>> {
    let log = crate::config::read_verifier(&keys_dir.join("vigil.example_audit-log.vkey"))?;
    let mut out = Vec::new();
    for (i, (name, addr)) in WITNESSES.iter().zip(addrs).enumerate() {
        let key = crate::config::read_signer(&keys_dir.join(format!("{name}.key")))?;
        let dir = witness_dir_of(data_dir, i + 1);
        // The demo makes and removes its witnesses' folders with its log's: a witness is new
        // when its folder is (a real witness is created once, by `vigil witness --init`).
        let new = !crate::witness::Witness::store_exists(&dir);
        let w = std::sync::Arc::new(crate::witness::Witness::open(
            &dir,
            key,
            vec![log.clone()],
            std::sync::Arc::new(crate::engine::SystemClock),
            new,
        )?);
        let listener =
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding witness {name} to {addr}"))?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(crate::witness::serve(w, listener, std::future::pending()));
        out.push(crate::witnessing::WitnessConfig { url, vkey: keys_dir.join(format!("{name}.vkey")) });
    }
    Ok(out)
}

/// The clock a new demo log starts on: the story's first minute.
pub fn story_start_ms() -> u64 {
    DAY0_MS - WEEKS_BEFORE * 7 * DAY - MIN
}

/// The demo log written in process (no HTTP): for tests of the read side that want the story
/// without running servers. `vigil demo` appends the same story through the internal API.
pub fn write_demo_log(keys_dir: &Path, data_dir: &Path) -> Result<Engine> {
    let cfg = demo_config(keys_dir, data_dir)?;
    let clock = std::sync::Arc::new(DemoClock::new(story_start_ms()));
    let mut ec = crate::engine::EngineConfig::new(cfg.log_signer()?);
    ec.clock = clock.clone();
    let engine = crate::config::open_ledger(&cfg, ec)?;
    seed(&mut &engine, &clock, &DemoKeys::load(keys_dir)?, &cfg.reserves_dir)?;
    Ok(engine)
}
