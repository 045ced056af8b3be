//! `vigil audit`: a full verification of the log (the same as `vigil verify`), then the
//! semantic rules of `vigil_core::audit` over every entry, and each incident's figures
//! (`vigil_core::facts`). Exit 1 when the log does not verify or a rule is broken.

use crate::store::Store;
use crate::verify::{split_bundle, verify_data_dir_with, verify_url_with, Remote, Report, VerifyFailure};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use vigil_core::audit::{AuditReport, Auditor};
use vigil_core::entry::Entry;
use vigil_core::event::Event;
use vigil_core::facts::{self, IncidentFacts};
use vigil_core::hash::Digest;
use vigil_core::keys::VerifierKey;
use vigil_core::merkle::{leaf_hash, InclusionProof, TilePath};

/// Where the log comes from.
pub enum Source<'a> {
    DataDir(&'a Path),
    Url(&'a str),
}

#[derive(Debug, serde::Serialize)]
pub struct AuditOutput {
    pub verified: Report,
    pub audit: AuditReport,
    pub incidents: Vec<IncidentFacts>,
    /// Incidents whose figures cannot be stated (their amounts sum past 128 bits, which
    /// docs/FORMAT.md §3.6 refuses to state), each with why. The rules are checked all the same.
    pub unstatable: Vec<Unstatable>,
}

#[derive(Debug, serde::Serialize)]
pub struct Unstatable {
    pub incident: String,
    pub error: String,
}

/// `policy` applies to a URL's checkpoint (a data dir holds no cosignatures).
pub fn audit(
    source: Source<'_>,
    log_key: &VerifierKey,
    policy: &vigil_core::witness::Policy,
) -> Result<AuditOutput, VerifyFailure> {
    let mut auditor = Auditor::new();
    // Entries naming an incident, by incident (a log of many incidents is not scanned once per
    // incident), and the entries alarms of an incident refer to (fetched after).
    let mut naming: BTreeMap<String, Vec<(u64, u64, Event)>> = BTreeMap::new();
    let mut referenced: BTreeSet<u64> = BTreeSet::new();
    let mut on_entry = |e: &Entry, st: &vigil_core::statement::Statement| {
        auditor.push(e.seq, &st.event);
        if let Some(id) = st.event.incident() {
            naming.entry(id.to_string()).or_default().push((e.seq, e.time_ms, st.event.clone()));
            referenced.extend(facts::brings_in(&st.event).iter().copied());
        }
    };
    let verified = match &source {
        Source::DataDir(p) => verify_data_dir_with(p, log_key, &mut on_entry)?,
        Source::Url(u) => verify_url_with(u, log_key, policy, None, &mut on_entry, &mut || Ok(()))?,
    };
    let extra = fetch_entries(&source, &referenced, &verified)?;
    let (mut incidents, mut unstatable) = (Vec::new(), Vec::new());
    for id in auditor.incidents() {
        let of_id: BTreeMap<u64, (u64, &Event)> =
            naming.get(&id).into_iter().flatten().map(|(seq, time_ms, ev)| (*seq, (*time_ms, ev))).collect();
        let members = facts::members(of_id.iter().map(|(seq, (_, ev))| (*seq, *ev)), verified.size);
        // A member missing here (not fetched) is named by `incident_facts`' own check.
        let items: Vec<_> = members
            .keys()
            .filter_map(|seq| {
                let (time_ms, event) = of_id.get(seq).copied().or_else(|| extra.get(seq).map(|(t, e)| (*t, e)))?;
                Some(facts::Item { seq: *seq, time_ms, event })
            })
            .collect();
        match facts::incident_facts(&id, &items) {
            Ok(f) => incidents.push(f),
            Err(e @ facts::FactsError::Overflow { .. }) => {
                unstatable.push(Unstatable { incident: id.clone(), error: e.to_string() })
            }
            Err(e) => return Err(VerifyFailure::Failed(e.to_string())),
        }
    }
    Ok(AuditOutput { verified, audit: auditor.finish(), incidents, unstatable })
}

/// The entries `seqs`, read again from the source: (time, event) by seq. From a server, each is
/// proven again in the verified tree: the server could answer the second read otherwise.
fn fetch_entries(
    source: &Source<'_>,
    seqs: &BTreeSet<u64>,
    verified: &Report,
) -> Result<BTreeMap<u64, (u64, Event)>, VerifyFailure> {
    let size = verified.size;
    let decode = |seq: u64, bytes: &[u8]| -> Result<(u64, Event), VerifyFailure> {
        let (e, st) = Entry::decode(bytes).map_err(|e| VerifyFailure::Failed(format!("entry {seq}: {e}")))?;
        if e.seq != seq {
            return Err(VerifyFailure::Failed(format!("entry {seq}: carries sequence number {}", e.seq)));
        }
        Ok((e.time_ms, st.event))
    };
    let mut out = BTreeMap::new();
    match source {
        Source::DataDir(p) => {
            let store = Store::open_read_only(p).map_err(|e| VerifyFailure::CouldNotRun(e.to_string()))?;
            for &seq in seqs.iter().filter(|&&s| s < size) {
                let bytes = store
                    .entry(seq)
                    .map_err(|e| VerifyFailure::CouldNotRun(e.to_string()))?
                    .ok_or_else(|| VerifyFailure::Failed(format!("entry {seq}: missing")))?;
                out.insert(seq, decode(seq, &bytes)?);
            }
        }
        Source::Url(u) => {
            // The server whose checkpoint the first pass verified.
            let server = Remote::new(u).answered_before();
            let root = Digest::from_hex(&verified.root).map_err(|e| VerifyFailure::CouldNotRun(e.to_string()))?;
            let bundles: BTreeSet<u64> = seqs.iter().filter(|&&s| s < size).map(|s| s / 256).collect();
            for n in bundles {
                let path = TilePath { entries: true, level: 0, index: n, width: (size - n * 256).min(256) }.to_path();
                let bundle = server.fetch(&format!("tile/{path}"))?;
                let entries = split_bundle(&bundle).map_err(|e| VerifyFailure::Failed(format!("tile/{path}: {e}")))?;
                for &seq in seqs.range(n * 256..(n + 1) * 256) {
                    if let Some(bytes) = entries.get((seq - n * 256) as usize) {
                        let proof: InclusionProof = serde_json::from_slice(
                            &server.fetch(&format!("v1/proofs/inclusion?seq={seq}&size={size}"))?,
                        )
                        .map_err(|e| VerifyFailure::Failed(format!("the inclusion proof of entry {seq}: {e}")))?;
                        proof.verify_in(&leaf_hash(bytes), seq, size, &root).map_err(|e| {
                            VerifyFailure::Failed(format!(
                                "entry {seq}, read again for the incident figures, is not the entry verified: {e}"
                            ))
                        })?;
                        out.insert(seq, decode(seq, bytes)?);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The human form: the rules with their findings, then each incident's figures.
pub fn render(o: &AuditOutput) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "verified {} entries of {}; root {}\n", o.verified.size, o.verified.origin, o.verified.root);
    let _ = writeln!(s, "{:<32} {:>8}", "rule", "findings");
    for rule in vigil_core::audit::Rule::ALL {
        let _ = writeln!(s, "{:<32} {:>8}", rule.as_str(), o.audit.count(rule));
    }
    for f in &o.audit.findings {
        let seqs: Vec<String> = f.seqs.iter().map(u64::to_string).collect();
        let at = if seqs.len() == 1 { "entry" } else { "entries" };
        let _ = writeln!(s, "  {} at {at} {}: {}", f.rule.as_str(), seqs.join(", "), f.detail);
    }
    if o.audit.unmatched_account_freezes > 0 {
        let _ = writeln!(
            s,
            "({} account freezes name their accounts by salted commitment, which this audit cannot match to withdrawals: that takes the openings, which only auditors hold)",
            o.audit.unmatched_account_freezes
        );
    }
    let minutes = |ms: Option<u64>| ms.map_or("—".to_string(), |ms| format!("{:.1} min", ms as f64 / 60_000.0));
    let amounts = |m: &BTreeMap<String, vigil_core::event::Amount>| {
        if m.is_empty() {
            "none".to_string()
        } else {
            m.iter().map(|(a, v)| units(v.0, a)).collect::<Vec<_>>().join(", ")
        }
    };
    for f in &o.incidents {
        let _ = match &f.title {
            Some(title) => writeln!(s, "\nincident {}: {title}", f.incident),
            // Never opened: the next line says so.
            None => writeln!(s, "\nincident {}", f.incident),
        };
        let _ = writeln!(s, "  first alarm to freeze: {}", minutes(f.alarm_to_freeze_ms));
        let _ = match f.opened_ms {
            None => writeln!(s, "  never opened"),
            Some(opened) => {
                // The opening against the first alarm (either may come first), the close
                // against the opening.
                let alarm = f.first_alarm_ms.map_or(String::new(), |a| match opened.checked_sub(a) {
                    Some(d) => format!(" {} after the first alarm", minutes(Some(d))),
                    None => format!(" {} before the first alarm", minutes(Some(a - opened))),
                });
                let close = f.closed_ms.map_or("still open".to_string(), |c| {
                    format!("closed {} after it was opened", minutes(Some(c.saturating_sub(opened))))
                });
                writeln!(s, "  opened{alarm}; {close}")
            }
        };
        let _ = writeln!(
            s,
            "  lost: {}; covered by SAFU: {}; uncovered: {}",
            amounts(&f.lost),
            amounts(&f.covered),
            amounts(&f.uncovered)
        );
    }
    for u in &o.unstatable {
        let _ = writeln!(s, "\nincident {}\n  its figures cannot be stated: {}", u.incident, u.error);
    }
    s
}

/// Minor units as a decimal amount of the asset, exactly (integers only), for the assets whose
/// decimals are known (as the page shows them); others in minor units.
pub fn units(v: u128, asset: &str) -> String {
    let decimals = match asset {
        "BTC" => 8,
        "ETH" => 18,
        "USDT" => 6,
        _ => return format!("{v} {asset} (minor units)"),
    };
    let base = 10u128.pow(decimals);
    let frac = format!("{:0width$}", v % base, width = decimals as usize);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{} {asset}", v / base)
    } else {
        format!("{}.{frac} {asset}", v / base)
    }
}
