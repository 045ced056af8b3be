//! Semantic checks of what a verified log says happened (`vigil audit`). Feed every entry in
//! log order to [`Auditor::push`]; [`Auditor::finish`] returns the findings, each pointing at
//! the sequence numbers it rests on.
//!
//! Rules (docs/FORMAT.md §3.8):
//! - `withdrawal_during_freeze`: no withdrawal is `executed` while a freeze covering it is in
//!   force — a `withdrawals` freeze covers all, a `wallets` freeze the listed wallets, until an
//!   `unfreeze` with the same target (and, for wallets, naming them). Freezes of `accounts`
//!   name salted commitments, which cannot be matched to a withdrawal's own commitment without
//!   the openings: they are counted in `unmatched_account_freezes`, not checked;
//! - `payout_without_open_incident`: every `safu_payout` names an incident opened earlier and
//!   not closed;
//! - `safu_negative`: per asset, payouts never exceed contributions so far;
//! - `incident_lifecycle`: an incident is opened once, before anything else names it; closed
//!   once; after its close only `incident_update` (a correction) may name it;
//! - `reserves_uncovered`: in every `reserve_snapshot`, each asset's reserves are at least its
//!   liabilities;
//! - `reserves_unattested`: a snapshot's `attestations` are `reserve_attestation` entries,
//!   each used by one snapshot at most, naming only the snapshot's assets, and per asset their
//!   balances add up to exactly the stated reserves;
//! - `snapshot_id_reused`: no two `reserve_snapshot` entries share a snapshot id (a second one
//!   would let different users be shown different trees under one name).

use crate::event::{Event, Scope, WithdrawalStage};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    WithdrawalDuringFreeze,
    PayoutWithoutOpenIncident,
    SafuNegative,
    IncidentLifecycle,
    ReservesUncovered,
    ReservesUnattested,
    SnapshotIdReused,
}

impl Rule {
    pub const ALL: [Rule; 7] = [
        Rule::WithdrawalDuringFreeze,
        Rule::PayoutWithoutOpenIncident,
        Rule::SafuNegative,
        Rule::IncidentLifecycle,
        Rule::ReservesUncovered,
        Rule::ReservesUnattested,
        Rule::SnapshotIdReused,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Rule::WithdrawalDuringFreeze => "withdrawal_during_freeze",
            Rule::PayoutWithoutOpenIncident => "payout_without_open_incident",
            Rule::SafuNegative => "safu_negative",
            Rule::IncidentLifecycle => "incident_lifecycle",
            Rule::ReservesUncovered => "reserves_uncovered",
            Rule::ReservesUnattested => "reserves_unattested",
            Rule::SnapshotIdReused => "snapshot_id_reused",
        }
    }
}

/// One broken rule: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    /// The entries it rests on, the offending one last.
    pub seqs: Vec<u64>,
    pub detail: String,
}

#[derive(Debug, Default, Clone)]
struct Incident {
    opened: Option<u64>,
    closed: Option<u64>,
}

/// Exact sums of minor units: a 128-bit sum and how many times it wrapped, compared as one
/// number (an amount is below 2^127, so no count of entries wraps the count).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Sum {
    wraps: u128,
    low: u128,
}

impl Sum {
    fn add(&mut self, amount: u128) {
        let (low, wrapped) = self.low.overflowing_add(amount);
        (self.low, self.wraps) = (low, self.wraps + u128::from(wrapped));
    }
}

impl std::fmt::Display for Sum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.wraps {
            0 => write!(f, "{}", self.low),
            w => write!(f, "{w}·2^128 + {}", self.low),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct SafuSums {
    contributed: Sum,
    paid: Sum,
}

#[derive(Debug, Default, Clone)]
pub struct Auditor {
    /// The entry of the `withdrawals` freeze in force.
    all_frozen: Option<u64>,
    /// Frozen wallets and the entry that froze each.
    wallets: BTreeMap<String, u64>,
    account_freezes: u64,
    incidents: BTreeMap<String, Incident>,
    /// Per asset: contributions and payouts so far.
    safu: BTreeMap<String, SafuSums>,
    /// Reserve attestations by entry: asset, balance, and the snapshot that used it.
    attestations: BTreeMap<u64, (String, u128, Option<u64>)>,
    /// Snapshot ids and the entry that first used each.
    snapshot_ids: BTreeMap<String, u64>,
    findings: Vec<Finding>,
}

/// What an audit found.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub findings: Vec<Finding>,
    /// Freezes of accounts, which need openings to be checked.
    pub unmatched_account_freezes: u64,
}

impl AuditReport {
    pub fn count(&self, rule: Rule) -> usize {
        self.findings.iter().filter(|f| f.rule == rule).count()
    }
}

impl Auditor {
    pub fn new() -> Self {
        Self::default()
    }

    fn find(&mut self, rule: Rule, seqs: Vec<u64>, detail: String) {
        self.findings.push(Finding { rule, seqs, detail });
    }

    fn snapshot(&mut self, seq: u64, r: &crate::event::ReserveSnapshot) {
        if let Some(&first) = self.snapshot_ids.get(&r.snapshot) {
            self.find(Rule::SnapshotIdReused, vec![first, seq], format!("snapshot id {} logged again", r.snapshot));
        } else {
            self.snapshot_ids.insert(r.snapshot.clone(), seq);
        }
        for a in &r.assets {
            if a.reserves.0 < a.liabilities.0 {
                self.find(
                    Rule::ReservesUncovered,
                    vec![seq],
                    format!(
                        "snapshot {}: {} reserves {} do not cover liabilities {}",
                        r.snapshot, a.asset, a.reserves, a.liabilities
                    ),
                );
            }
        }
        // Per asset, the attested sum; `None` past 2^128 − 1 (never equal to a stated amount).
        let mut attested: BTreeMap<String, Option<u128>> = BTreeMap::new();
        let mut problems = Vec::new();
        for &at in &r.attestations {
            match self.attestations.get_mut(&at) {
                None => problems.push((vec![at, seq], format!("entry {at} is not a reserve attestation"))),
                Some((_, _, Some(used))) => problems
                    .push((vec![*used, at, seq], format!("attestation {at} was already counted by entry {used}"))),
                Some((asset, balance, used)) => {
                    *used = Some(seq);
                    if !r.assets.iter().any(|a| a.asset == *asset) {
                        problems.push((
                            vec![at, seq],
                            format!("attestation {at} is of {asset}, which the snapshot does not list"),
                        ));
                    }
                    let t = attested.entry(asset.clone()).or_insert(Some(0));
                    *t = t.and_then(|t| t.checked_add(*balance));
                }
            }
        }
        for a in &r.assets {
            let sum = attested.get(a.asset.as_str()).copied().unwrap_or(Some(0));
            if sum != Some(a.reserves.0) {
                let sum = sum.map_or("more than 2^128 − 1".to_string(), |s| s.to_string());
                problems.push((
                    vec![seq],
                    format!("{} reserves are stated as {}, but its attestations add up to {sum}", a.asset, a.reserves),
                ));
            }
        }
        for (seqs, detail) in problems {
            self.find(Rule::ReservesUnattested, seqs, format!("snapshot {}: {detail}", r.snapshot));
        }
    }

    /// Takes the next entry of the log (in order).
    pub fn push(&mut self, seq: u64, event: &Event) {
        // Incident lifecycle: anything naming an incident.
        if let Some(id) = event.incident() {
            let inc = self.incidents.get(id).cloned().unwrap_or_default();
            match (event, inc.opened, inc.closed) {
                (Event::IncidentOpen(_), Some(o), _) => {
                    self.find(Rule::IncidentLifecycle, vec![o, seq], format!("incident {id} opened again"));
                }
                // Alarms may name an incident before anyone opens it (they fire first).
                (_, None, _) if !matches!(event, Event::Alarm(_) | Event::IncidentOpen(_)) => {
                    self.find(
                        Rule::IncidentLifecycle,
                        vec![seq],
                        format!("{} names incident {id} before it was opened", event.kind()),
                    );
                }
                (Event::IncidentClose(_), _, Some(c)) => {
                    self.find(Rule::IncidentLifecycle, vec![c, seq], format!("incident {id} closed again"));
                }
                (Event::IncidentUpdate(_), _, _) => {}
                (_, _, Some(c)) => {
                    self.find(
                        Rule::IncidentLifecycle,
                        vec![c, seq],
                        format!("{} names incident {id} after it was closed", event.kind()),
                    );
                }
                _ => {}
            }
            let inc = self.incidents.entry(id.to_string()).or_default();
            match event {
                Event::IncidentOpen(_) => {
                    inc.opened.get_or_insert(seq);
                }
                Event::IncidentClose(_) => {
                    inc.closed.get_or_insert(seq);
                }
                _ => {}
            }
        }
        match event {
            Event::Freeze(f) => match &f.scope {
                Scope::Withdrawals {} => {
                    self.all_frozen.get_or_insert(seq);
                }
                Scope::Wallets { wallets } => {
                    for w in wallets {
                        self.wallets.entry(w.clone()).or_insert(seq);
                    }
                }
                Scope::Accounts { .. } => self.account_freezes += 1,
                Scope::Deposits {} | Scope::Trading {} => {}
            },
            Event::Unfreeze(f) => match &f.scope {
                Scope::Withdrawals {} => self.all_frozen = None,
                Scope::Wallets { wallets } => {
                    for w in wallets {
                        self.wallets.remove(w);
                    }
                }
                _ => {}
            },
            Event::Withdrawal(w) if w.stage == WithdrawalStage::Executed => {
                if let Some(f) = self.all_frozen {
                    self.find(
                        Rule::WithdrawalDuringFreeze,
                        vec![f, seq],
                        format!(
                            "withdrawal {} executed while the withdrawal freeze of entry {f} was in force",
                            w.withdrawal_id
                        ),
                    );
                } else if let Some(&f) = self.wallets.get(&w.wallet) {
                    self.find(
                        Rule::WithdrawalDuringFreeze,
                        vec![f, seq],
                        format!("withdrawal {} executed from wallet {} frozen by entry {f}", w.withdrawal_id, w.wallet),
                    );
                }
            }
            Event::ReserveAttestation(a) => {
                self.attestations.insert(seq, (a.asset.clone(), a.balance.0, None));
            }
            Event::ReserveSnapshot(r) => self.snapshot(seq, r),
            Event::SafuContribution(c) => self.safu.entry(c.asset.clone()).or_default().contributed.add(c.amount.0),
            Event::SafuPayout(p) => {
                let inc = self.incidents.get(&p.incident).cloned().unwrap_or_default();
                // A payout is itself an entry naming the incident: `inc` is the state after it.
                let open = inc.opened.is_some_and(|o| o < seq) && inc.closed.is_none();
                if !open {
                    self.find(
                        Rule::PayoutWithoutOpenIncident,
                        vec![seq],
                        format!("SAFU payout names incident {}, which was not open", p.incident),
                    );
                }
                let t = self.safu.entry(p.asset.clone()).or_default();
                t.paid.add(p.amount.0);
                if t.paid > t.contributed {
                    let (c, paid) = (t.contributed, t.paid);
                    self.find(
                        Rule::SafuNegative,
                        vec![seq],
                        format!("the SAFU fund's {} balance goes negative: {c} contributed, {paid} paid out", p.asset),
                    );
                }
            }
            _ => {}
        }
    }

    pub fn finish(self) -> AuditReport {
        AuditReport { findings: self.findings, unmatched_account_freezes: self.account_freezes }
    }

    /// The incidents seen so far (ids).
    pub fn incidents(&self) -> BTreeSet<String> {
        self.incidents.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(v: serde_json::Value) -> Event {
        Event::from_value(v).unwrap()
    }

    fn withdrawal(wallet: &str) -> Event {
        ev(serde_json::json!({"kind": "withdrawal", "withdrawal_id": "w", "stage": "executed", "asset": "BTC",
            "amount": "5", "destination": "d", "tx_id": "t", "wallet": wallet, "wallet_tier": "hot",
            "account": {"commitment": "00".repeat(32)}}))
    }
    fn freeze(kind: &str, scope: serde_json::Value) -> Event {
        ev(serde_json::json!({"kind": kind, "scope": scope, "reason": "r"}))
    }
    fn open(id: &str) -> Event {
        ev(
            serde_json::json!({"kind": "incident_open", "incident": id, "title": "t", "summary": "s", "severity": "high"}),
        )
    }
    fn close(id: &str) -> Event {
        ev(serde_json::json!({"kind": "incident_close", "incident": id, "summary": "s"}))
    }
    fn update(id: &str) -> Event {
        ev(serde_json::json!({"kind": "incident_update", "incident": id, "summary": "s"}))
    }
    fn contribution(amount: &str) -> Event {
        ev(
            serde_json::json!({"kind": "safu_contribution", "asset": "BTC", "amount": amount, "period_start_ms": 0, "period_end_ms": 1, "fee_share_bps": 1000}),
        )
    }
    fn attestation(asset: &str, balance: &str) -> Event {
        ev(serde_json::json!({"kind": "reserve_attestation", "asset": asset, "wallet": "cold-1", "address": "bc1q",
            "balance": balance, "block_height": 1, "as_of_ms": 1}))
    }
    /// Snapshot `s` of BTC only: (liabilities, reserves), attested by `refs`.
    fn snapshot(liabilities: u128, reserves: u128, refs: &[u64]) -> Event {
        snapshot_of("s", "BTC", liabilities, reserves, refs)
    }
    /// Snapshot `id` of `asset` only.
    fn snapshot_of(id: &str, asset: &str, liabilities: u128, reserves: u128, refs: &[u64]) -> Event {
        ev(serde_json::json!({"kind": "reserve_snapshot", "snapshot": id, "cut_off_ms": 1,
            "liabilities_root": "00".repeat(32), "padded_size": 2, "attestations": refs,
            "assets": [{"asset": asset, "liabilities": liabilities.to_string(), "reserves": reserves.to_string(),
                "ratio": crate::event::ratio(reserves, liabilities)}]}))
    }
    fn payout(id: &str, amount: &str) -> Event {
        ev(serde_json::json!({"kind": "safu_payout", "incident": id, "asset": "BTC", "amount": amount, "covers": "c"}))
    }

    #[test]
    fn each_rule_is_caught_at_its_entries() {
        let all = serde_json::json!({"target": "withdrawals"});
        let hot = serde_json::json!({"target": "wallets", "wallets": ["hot-1"]});
        // (case, log, expected findings as (rule, seqs))
        type Findings = Vec<(Rule, Vec<u64>)>;
        let cases: Vec<(&str, Vec<Event>, Findings)> = vec![
            (
                "clean",
                vec![
                    contribution("10"),
                    open("I"),
                    freeze("freeze", all.clone()),
                    payout("I", "4"),
                    freeze("unfreeze", all.clone()),
                    withdrawal("hot-1"),
                    close("I"),
                ],
                vec![],
            ),
            (
                "reserves attested and covering",
                vec![attestation("BTC", "6"), attestation("BTC", "4"), snapshot(9, 10, &[0, 1])],
                vec![],
            ),
            (
                "a snapshot id used twice",
                vec![attestation("BTC", "10"), snapshot(9, 10, &[0]), attestation("BTC", "10"), snapshot(9, 10, &[2])],
                vec![(Rule::SnapshotIdReused, vec![1, 3])],
            ),
            (
                "reserves below liabilities",
                vec![attestation("BTC", "6"), snapshot(9, 6, &[0])],
                vec![(Rule::ReservesUncovered, vec![1])],
            ),
            (
                "reserves stated above what was attested",
                vec![attestation("BTC", "6"), snapshot(9, 10, &[0])],
                vec![(Rule::ReservesUnattested, vec![1])],
            ),
            (
                "an attestation counted twice",
                vec![attestation("BTC", "10"), snapshot(9, 10, &[0]), snapshot(9, 10, &[0])],
                vec![
                    (Rule::SnapshotIdReused, vec![1, 2]),
                    (Rule::ReservesUnattested, vec![1, 0, 2]),
                    (Rule::ReservesUnattested, vec![2]),
                ],
            ),
            (
                // Counted by the snapshot that reused an id: a later one cannot count it again.
                "an attestation counted by a snapshot whose id was used before",
                vec![
                    attestation("BTC", "10"),
                    snapshot(9, 10, &[0]),
                    attestation("BTC", "10"),
                    snapshot(9, 10, &[2]),
                    snapshot_of("t", "BTC", 9, 10, &[2]),
                ],
                vec![
                    (Rule::SnapshotIdReused, vec![1, 3]),
                    (Rule::ReservesUnattested, vec![3, 2, 4]),
                    (Rule::ReservesUnattested, vec![4]),
                ],
            ),
            (
                // Counted where its asset is not listed: not free for the snapshot of its asset.
                "an attestation counted by a snapshot that does not list its asset",
                vec![attestation("ETH", "10"), snapshot(0, 0, &[0]), snapshot_of("t", "ETH", 10, 10, &[0])],
                vec![
                    (Rule::ReservesUnattested, vec![0, 1]),
                    (Rule::ReservesUnattested, vec![1, 0, 2]),
                    (Rule::ReservesUnattested, vec![2]),
                ],
            ),
            (
                // Listed twice, added once: the reserves match the one balance.
                "an attestation listed twice in one snapshot",
                vec![attestation("BTC", "5"), snapshot(4, 5, &[0, 0])],
                vec![(Rule::ReservesUnattested, vec![1, 0, 1])],
            ),
            (
                "a reference that is not an attestation, and an asset not listed",
                vec![contribution("10"), attestation("ETH", "10"), snapshot(0, 0, &[0, 1])],
                vec![(Rule::ReservesUnattested, vec![0, 2]), (Rule::ReservesUnattested, vec![1, 2])],
            ),
            (
                "withdrawal during a global freeze",
                vec![freeze("freeze", all.clone()), withdrawal("hot-1")],
                vec![(Rule::WithdrawalDuringFreeze, vec![0, 1])],
            ),
            (
                "withdrawal from a frozen wallet",
                vec![freeze("freeze", hot.clone()), withdrawal("cold-1"), withdrawal("hot-1")],
                vec![(Rule::WithdrawalDuringFreeze, vec![0, 2])],
            ),
            (
                "after the unfreeze",
                vec![freeze("freeze", hot.clone()), freeze("unfreeze", hot), withdrawal("hot-1")],
                vec![],
            ),
            (
                "payout without incident",
                vec![contribution("10"), payout("none", "1")],
                vec![(Rule::IncidentLifecycle, vec![1]), (Rule::PayoutWithoutOpenIncident, vec![1])],
            ),
            (
                "payout after close",
                vec![contribution("10"), open("I"), close("I"), payout("I", "1")],
                vec![(Rule::IncidentLifecycle, vec![2, 3]), (Rule::PayoutWithoutOpenIncident, vec![3])],
            ),
            (
                "negative SAFU",
                vec![contribution("3"), open("I"), payout("I", "2"), payout("I", "2")],
                vec![(Rule::SafuNegative, vec![3])],
            ),
            ("opened twice", vec![open("I"), open("I")], vec![(Rule::IncidentLifecycle, vec![0, 1])]),
            (
                "opened after it was closed",
                vec![close("I"), open("I")],
                vec![(Rule::IncidentLifecycle, vec![0]), (Rule::IncidentLifecycle, vec![0, 1])],
            ),
            (
                // Sums past 128 bits stay exact: payouts over contributions by one are caught.
                "negative SAFU beyond 128 bits",
                [
                    vec![open("I")],
                    vec![contribution(&"9".repeat(38)); 4],
                    vec![payout("I", &"9".repeat(38)); 4],
                    vec![payout("I", "1")],
                ]
                .concat(),
                vec![(Rule::SafuNegative, vec![9])],
            ),
            (
                "a fund beyond 128 bits paid out exactly",
                [vec![open("I")], vec![contribution(&"9".repeat(38)); 4], vec![payout("I", &"9".repeat(38)); 4]]
                    .concat(),
                vec![],
            ),
            (
                // A close before the open closes the incident for good: the payout is not to an
                // open incident.
                "payout after a close logged before the open",
                vec![contribution("10"), close("I"), open("I"), payout("I", "1")],
                vec![
                    (Rule::IncidentLifecycle, vec![1]),
                    (Rule::IncidentLifecycle, vec![1, 2]),
                    (Rule::IncidentLifecycle, vec![1, 3]),
                    (Rule::PayoutWithoutOpenIncident, vec![3]),
                ],
            ),
            (
                "no reopening: payout after a second open",
                vec![contribution("10"), open("I"), close("I"), open("I"), payout("I", "1")],
                vec![
                    (Rule::IncidentLifecycle, vec![1, 3]),
                    (Rule::IncidentLifecycle, vec![2, 4]),
                    (Rule::PayoutWithoutOpenIncident, vec![4]),
                ],
            ),
            ("closed twice", vec![open("I"), close("I"), close("I")], vec![(Rule::IncidentLifecycle, vec![1, 2])]),
            ("update before open", vec![update("I")], vec![(Rule::IncidentLifecycle, vec![0])]),
            ("correction after close", vec![open("I"), close("I"), update("I")], vec![]),
        ];
        for (case, log, want) in cases {
            let got: Vec<(Rule, Vec<u64>)> = findings(&log).into_iter().map(|f| (f.rule, f.seqs)).collect();
            assert_eq!(got, want, "{case}");
        }
    }

    /// The findings of a log of `events`, numbered from 0.
    fn findings(events: &[Event]) -> Vec<Finding> {
        let mut a = Auditor::new();
        for (seq, e) in events.iter().enumerate() {
            a.push(seq as u64, e);
        }
        a.finish().findings
    }

    /// Attested balances past 128 bits are said to be so, not a saturated figure.
    #[test]
    fn attested_sums_past_128_bits_are_said_so() {
        let max = "9".repeat(38);
        let mut log = vec![attestation("BTC", &max); 5];
        log.push(snapshot(1, max.parse().unwrap(), &[0, 1, 2, 3, 4]));
        let details: Vec<String> = findings(&log).into_iter().map(|f| f.detail).collect();
        assert_eq!(
            details,
            [format!(
                "snapshot s: BTC reserves are stated as {max}, but its attestations add up to more than 2^128 − 1"
            )]
        );
    }
}
