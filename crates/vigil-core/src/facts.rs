//! Facts derived from what the log says: an incident's timeline and figures, the SAFU fund's
//! balance. The server computes them for its API and the browser recomputes them from the
//! verified entries with this same code, so a reader never has to trust a derived number.
//!
//! **Incident membership** (docs/FORMAT.md §3.6): an entry belongs to incident `I` when its
//! event names `I` (the `incident` field), or when an alarm that names `I` refers to it
//! (`refs`). Alarms fire before anyone opens an incident, and the withdrawals that set them off
//! happened before that: the alarm's `refs` are how those earlier entries join the timeline.
//!
//! Amounts add up with checked arithmetic: an overflow is an error, never a wrap.

use crate::event::{Amount, Event, Severity, WithdrawalStage};
use serde::Serialize;
use std::collections::BTreeMap;

/// One entry of a timeline: its position, its log time and its event.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    pub seq: u64,
    pub time_ms: u64,
    pub event: &'a Event,
}

/// Why an entry is in an incident's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "via")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Membership {
    /// The event names the incident.
    Names,
    /// An alarm of the incident (entry `alarm`) refers to it.
    ReferencedBy { alarm: u64 },
}

/// Whether `event` names `incident`, and the entries it brings into that incident's timeline
/// (an alarm's `refs`).
pub fn names(event: &Event, incident: &str) -> bool {
    event.incident() == Some(incident)
}

/// The sequence numbers an entry of the incident brings in besides itself.
pub fn brings_in(event: &Event) -> &[u64] {
    match event {
        Event::Alarm(a) => &a.refs,
        _ => &[],
    }
}

/// The members of an incident's timeline below `size`, each with why it is there, in log order:
/// the entries `naming` it (given in log order, each naming the incident) and the entries their
/// alarms refer to. An entry that names the incident is there because it names it, even if an
/// alarm also refers to it; one referred to by several alarms is there by the first.
pub fn members<'a>(naming: impl IntoIterator<Item = (u64, &'a Event)>, size: u64) -> BTreeMap<u64, Membership> {
    let naming: Vec<(u64, &Event)> = naming.into_iter().filter(|&(seq, _)| seq < size).collect();
    let mut out: BTreeMap<u64, Membership> = naming.iter().map(|&(seq, _)| (seq, Membership::Names)).collect();
    for &(alarm, event) in &naming {
        for &r in brings_in(event).iter().filter(|&&r| r < size) {
            out.entry(r).or_insert(Membership::ReferencedBy { alarm });
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactsError {
    #[error("the {what} of {asset} overflows 128 bits")]
    Overflow { what: &'static str, asset: String },
    #[error("entry {0} is given twice")]
    Repeated(u64),
    #[error("entry {seq} is not of incident {incident:?}: it does not name it, and no alarm of it refers to it")]
    NotAMember { seq: u64, incident: String },
    #[error("entry {seq}, which alarm {alarm} of the incident refers to, is missing from the timeline")]
    Missing { seq: u64, alarm: u64 },
}

/// The items sorted by sequence number; an entry given twice is an error (it would count twice).
fn in_log_order<'a>(items: &[Item<'a>]) -> Result<Vec<Item<'a>>, FactsError> {
    let mut items = items.to_vec();
    items.sort_by_key(|i| i.seq);
    match items.windows(2).find(|w| w[0].seq == w[1].seq) {
        Some(w) => Err(FactsError::Repeated(w[0].seq)),
        None => Ok(items),
    }
}

/// What a reader wants to know about an incident, derived from its timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentFacts {
    pub incident: String,
    /// From `incident_open`; `None` when the log has no opening for it.
    pub title: Option<String>,
    /// The latest severity (open, or an update that sets one).
    pub severity: Option<Severity>,
    pub opened_ms: Option<u64>,
    pub closed_ms: Option<u64>,
    pub first_alarm_ms: Option<u64>,
    /// The first freeze of the incident *at or after* its first alarm.
    pub first_freeze_ms: Option<u64>,
    /// From the first alarm to the first freeze: how long the exchange took to react.
    pub alarm_to_freeze_ms: Option<u64>,
    /// Executed withdrawals in the timeline, per asset (minor units, decimal strings).
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub lost: BTreeMap<String, Amount>,
    /// SAFU payouts for the incident, per asset (minor units, decimal strings).
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub covered: BTreeMap<String, Amount>,
    /// Per asset, `lost` minus `covered` when positive: what the fund has not covered.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub uncovered: BTreeMap<String, Amount>,
}

fn add(map: &mut BTreeMap<String, Amount>, asset: &str, amount: Amount, what: &'static str) -> Result<(), FactsError> {
    let slot = map.entry(asset.to_string()).or_default();
    slot.0 = slot.0.checked_add(amount.0).ok_or_else(|| FactsError::Overflow { what, asset: asset.to_string() })?;
    Ok(())
}

/// Derives the facts of `incident` from its timeline (any order; log order is used). The
/// timeline must hold only the incident's entries (module doc), each once, and every entry an
/// alarm of the incident refers to: a timeline padded with another entry (an executed
/// withdrawal that would count as lost) or missing a referred one is an error, not a figure.
/// Entries that name the incident but were left out cannot be told from here.
pub fn incident_facts(incident: &str, items: &[Item<'_>]) -> Result<IncidentFacts, FactsError> {
    let items = in_log_order(items)?;
    let members = members(items.iter().filter(|i| names(i.event, incident)).map(|i| (i.seq, i.event)), u64::MAX);
    if let Some(i) = items.iter().find(|i| !members.contains_key(&i.seq)) {
        return Err(FactsError::NotAMember { seq: i.seq, incident: incident.to_string() });
    }
    for (&seq, m) in &members {
        if let Membership::ReferencedBy { alarm } = *m {
            if items.binary_search_by_key(&seq, |i| i.seq).is_err() {
                return Err(FactsError::Missing { seq, alarm });
            }
        }
    }
    let mut f = IncidentFacts { incident: incident.to_string(), ..Default::default() };
    for i in &items {
        match i.event {
            // The first open only: a second is a lifecycle fault (the audit's), not news.
            Event::IncidentOpen(o) if o.incident == incident && f.opened_ms.is_none() => {
                f.title = Some(o.title.clone());
                f.severity = Some(o.severity);
                f.opened_ms = Some(i.time_ms);
            }
            Event::IncidentUpdate(u) if u.incident == incident => {
                if let Some(s) = u.severity {
                    f.severity = Some(s);
                }
            }
            Event::IncidentClose(c) if c.incident == incident => {
                f.closed_ms = Some(i.time_ms);
            }
            Event::Alarm(a) if a.incident.as_deref() == Some(incident) => {
                f.first_alarm_ms.get_or_insert(i.time_ms);
            }
            Event::Freeze(z)
                if z.incident.as_deref() == Some(incident)
                    && f.first_freeze_ms.is_none()
                    && f.first_alarm_ms.is_some_and(|a| i.time_ms >= a) =>
            {
                f.first_freeze_ms = Some(i.time_ms);
            }
            Event::Withdrawal(w) if w.stage == WithdrawalStage::Executed => {
                add(&mut f.lost, &w.asset, w.amount, "amount lost")?;
            }
            Event::SafuPayout(p) if p.incident == incident => {
                add(&mut f.covered, &p.asset, p.amount, "amount covered")?;
            }
            _ => {}
        }
    }
    f.alarm_to_freeze_ms = match (f.first_alarm_ms, f.first_freeze_ms) {
        (Some(a), Some(z)) => Some(z - a),
        _ => None,
    };
    for (asset, lost) in &f.lost {
        let covered = f.covered.get(asset).copied().unwrap_or_default();
        if lost.0 > covered.0 {
            f.uncovered.insert(asset.clone(), Amount(lost.0 - covered.0));
        }
    }
    Ok(f)
}

/// One movement of the SAFU fund and the balance after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SafuPoint {
    pub seq: u64,
    pub time_ms: u64,
    /// `contribution` or `payout`.
    pub kind: &'static str,
    pub asset: String,
    /// Minor units, a decimal string.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub amount: Amount,
    /// The incident a payout covers.
    pub incident: Option<String>,
    /// The asset's balance after this movement, as a signed decimal string (negative when
    /// payouts exceeded contributions: reported, never hidden).
    pub balance: String,
}

/// The SAFU fund's history: every contribution and payout in log order with running balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct SafuHistory {
    /// Final balance per asset (signed decimal strings).
    pub balances: BTreeMap<String, String>,
    /// Assets whose balance went below zero at some point.
    pub went_negative: Vec<String>,
    pub history: Vec<SafuPoint>,
}

/// Replays contributions and payouts (other events are ignored) in log order.
pub fn safu_history(items: &[Item<'_>]) -> Result<SafuHistory, FactsError> {
    let items = in_log_order(items)?;
    // Balances as (sign, magnitude) in i128 would overflow for u128 amounts: keep
    // contributions and payouts separately and compare.
    let mut totals: BTreeMap<String, (u128, u128)> = BTreeMap::new();
    let mut h = SafuHistory::default();
    for i in &items {
        let (kind, asset, amount, incident) = match i.event {
            Event::SafuContribution(c) => ("contribution", &c.asset, c.amount, None),
            Event::SafuPayout(p) => ("payout", &p.asset, p.amount, Some(p.incident.clone())),
            _ => continue,
        };
        let t = totals.entry(asset.clone()).or_default();
        let overflow = |what| FactsError::Overflow { what, asset: asset.clone() };
        if kind == "contribution" {
            t.0 = t.0.checked_add(amount.0).ok_or_else(|| overflow("SAFU contributions"))?;
        } else {
            t.1 = t.1.checked_add(amount.0).ok_or_else(|| overflow("SAFU payouts"))?;
        }
        let balance = signed_difference(t.0, t.1);
        if t.1 > t.0 && !h.went_negative.contains(asset) {
            h.went_negative.push(asset.clone());
        }
        h.history.push(SafuPoint {
            seq: i.seq,
            time_ms: i.time_ms,
            kind,
            asset: asset.clone(),
            amount,
            incident,
            balance,
        });
    }
    h.balances = totals.into_iter().map(|(a, (c, p))| (a, signed_difference(c, p))).collect();
    Ok(h)
}

fn signed_difference(plus: u128, minus: u128) -> String {
    if plus >= minus {
        (plus - minus).to_string()
    } else {
        format!("-{}", minus - plus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(v: serde_json::Value) -> Event {
        Event::from_value(v).unwrap()
    }

    fn withdrawal(amount: &str, stage: &str) -> Event {
        let mut v = serde_json::json!({"kind": "withdrawal", "withdrawal_id": "w", "stage": stage, "asset": "BTC",
            "amount": amount, "destination": "bc1q", "wallet": "hot", "wallet_tier": "hot",
            "account": {"commitment": "00".repeat(32)}});
        if stage == "executed" {
            v["tx_id"] = "tx".into();
        }
        ev(v)
    }

    #[test]
    fn members_are_the_naming_entries_and_what_their_alarms_refer_to() {
        let alarm = |refs: &[u64]| {
            ev(
                serde_json::json!({"kind": "alarm", "rule": "r", "severity": "high", "summary": "s", "refs": refs, "incident": "I"}),
            )
        };
        let open = ev(
            serde_json::json!({"kind": "incident_open", "incident": "I", "title": "t", "severity": "high", "summary": "s"}),
        );
        let (a1, a2, a3) = (alarm(&[1, 2]), alarm(&[2, 3, 9]), alarm(&[4]));
        use Membership::{Names, ReferencedBy};
        /// (what the case shows, the entries naming the incident, the log's size, the members)
        type Case<'a> = (&'a str, Vec<(u64, &'a Event)>, u64, Vec<(u64, Membership)>);
        let cases: Vec<Case> = vec![
            ("nothing names it", vec![], 10, vec![]),
            ("an opening alone", vec![(5, &open)], 10, vec![(5, Names)]),
            (
                "alarms bring in what they refer to, the first alarm wins",
                vec![(4, &a1), (6, &a2)],
                10,
                vec![
                    (1, ReferencedBy { alarm: 4 }),
                    (2, ReferencedBy { alarm: 4 }),
                    (3, ReferencedBy { alarm: 6 }),
                    (4, Names),
                    (6, Names),
                    (9, ReferencedBy { alarm: 6 }),
                ],
            ),
            (
                "a naming entry referred to stays a naming one",
                vec![(5, &a3), (4, &open)],
                10,
                vec![(4, Names), (5, Names)],
            ),
            (
                "nothing at or past the size",
                vec![(6, &a2), (8, &open)],
                8,
                vec![(2, ReferencedBy { alarm: 6 }), (3, ReferencedBy { alarm: 6 }), (6, Names)],
            ),
        ];
        for (name, naming, size, want) in cases {
            assert_eq!(members(naming, size).into_iter().collect::<Vec<_>>(), want, "{name}");
        }
    }

    #[test]
    fn incident_facts_follow_the_timeline() {
        let events = [
            (10, 1_000, withdrawal("700000000000", "executed")),
            (11, 1_500, withdrawal("5", "requested")),
            (
                12,
                2_000,
                ev(
                    serde_json::json!({"kind": "alarm", "rule": "r", "severity": "high", "summary": "s", "refs": [10, 11], "incident": "I"}),
                ),
            ),
            (
                13,
                2_500,
                ev(
                    serde_json::json!({"kind": "incident_open", "incident": "I", "title": "Hot wallet", "summary": "s", "severity": "high"}),
                ),
            ),
            (
                14,
                9_000,
                ev(
                    serde_json::json!({"kind": "freeze", "scope": {"target": "withdrawals"}, "reason": "r", "incident": "I"}),
                ),
            ),
            (
                15,
                9_500,
                ev(
                    serde_json::json!({"kind": "incident_update", "incident": "I", "summary": "s", "severity": "critical"}),
                ),
            ),
            (
                16,
                10_000,
                ev(
                    serde_json::json!({"kind": "safu_payout", "incident": "I", "asset": "BTC", "amount": "600000000000", "covers": "c"}),
                ),
            ),
            (17, 11_000, ev(serde_json::json!({"kind": "incident_close", "incident": "I", "summary": "s"}))),
        ];
        let items: Vec<Item> = events.iter().map(|(s, t, e)| Item { seq: *s, time_ms: *t, event: e }).collect();
        let f = incident_facts("I", &items).unwrap();
        assert_eq!(f.title.as_deref(), Some("Hot wallet"));
        assert_eq!(f.severity, Some(Severity::Critical));
        assert_eq!((f.opened_ms, f.closed_ms), (Some(2_500), Some(11_000)));
        assert_eq!(
            (f.first_alarm_ms, f.first_freeze_ms, f.alarm_to_freeze_ms),
            (Some(2_000), Some(9_000), Some(7_000))
        );
        // Only the executed withdrawal is lost; the requested one is not.
        assert_eq!(f.lost.get("BTC"), Some(&Amount(700_000_000_000)));
        assert_eq!(f.covered.get("BTC"), Some(&Amount(600_000_000_000)));
        assert_eq!(f.uncovered.get("BTC"), Some(&Amount(100_000_000_000)));

        // A timeline a server padded, repeated or cut is refused, never summed.
        let other = withdrawal("1", "executed");
        let cases: Vec<(Vec<Item>, FactsError)> = vec![
            (
                [items.clone(), vec![Item { seq: 30, time_ms: 12_000, event: &other }]].concat(),
                FactsError::NotAMember { seq: 30, incident: "I".into() },
            ),
            ([items.clone(), vec![items[0]]].concat(), FactsError::Repeated(10)),
            (items[1..].to_vec(), FactsError::Missing { seq: 10, alarm: 12 }),
        ];
        for (given, want) in cases {
            assert_eq!(incident_facts("I", &given), Err(want));
        }

        // A second open changes neither the title, the severity nor the time opened: the
        // severity is the first open's, then each update's that sets one.
        let again = ev(
            serde_json::json!({"kind": "incident_open", "incident": "I", "title": "Other", "summary": "s", "severity": "low"}),
        );
        let first = &events[3].2;
        let reopened =
            [Item { seq: 13, time_ms: 2_500, event: first }, Item { seq: 14, time_ms: 2_600, event: &again }];
        let g = incident_facts("I", &reopened).unwrap();
        assert_eq!(
            (g.title.as_deref(), g.severity, g.opened_ms),
            (Some("Hot wallet"), Some(Severity::High), Some(2_500))
        );
    }

    #[test]
    fn amounts_that_overflow_are_errors() {
        // The largest amount (38 nines) four times exceeds u128.
        let max = "9".repeat(38);
        let mut events: Vec<_> = (0..4).map(|i| (i, i, withdrawal(&max, "executed"))).collect();
        let alarm = serde_json::json!({"kind": "alarm", "rule": "r", "severity": "high", "summary": "s", "refs": [0, 1, 2, 3], "incident": "I"});
        events.push((4, 4, ev(alarm)));
        let items: Vec<Item> = events.iter().map(|(s, t, e)| Item { seq: *s, time_ms: *t, event: e }).collect();
        assert!(matches!(incident_facts("I", &items), Err(FactsError::Overflow { .. })));
    }

    #[test]
    fn safu_balance_is_contributions_minus_payouts_and_shows_a_deficit() {
        let c = |a: &str| {
            ev(serde_json::json!({"kind": "safu_contribution", "asset": "BTC", "amount": a,
            "period_start_ms": 0, "period_end_ms": 1, "fee_share_bps": 1000}))
        };
        let p = |a: &str| {
            ev(serde_json::json!({"kind": "safu_payout", "incident": "I", "asset": "BTC", "amount": a, "covers": "c"}))
        };
        let events = [(1, 1, c("10")), (5, 5, p("4")), (3, 3, c("5")), (7, 7, p("20"))];
        let items: Vec<Item> = events.iter().map(|(s, t, e)| Item { seq: *s, time_ms: *t, event: e }).collect();
        let h = safu_history(&items).unwrap();
        let balances: Vec<&str> = h.history.iter().map(|p| p.balance.as_str()).collect();
        assert_eq!(balances, ["10", "15", "11", "-9"]);
        assert_eq!(h.balances.get("BTC").map(String::as_str), Some("-9"));
        assert_eq!(h.went_negative, ["BTC"]);
        // A contribution listed twice would count twice: refused.
        assert_eq!(safu_history(&[items.clone(), vec![items[0]]].concat()), Err(FactsError::Repeated(1)));
    }
}
