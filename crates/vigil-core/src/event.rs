//! The event model: what internal services may say happened, typed and validated.
//!
//! An event is JSON with a `kind` tag. Unknown kinds and unknown fields are refused by the
//! parser; [`Event::validate`] then checks every value and names the field that is wrong.
//! Amounts are integers of minor units carried as decimal strings ([`Amount`]), never floats.
//! Values that must not be public (account ids) are [`Private`]: a service sends them in clear
//! to its own client library, which replaces them by a salted BLAKE3 commitment before signing.

use crate::hash::{commitment, Digest};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// Why an event is invalid: the field (a JSON path; empty for the event as a whole) and what
/// is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", if field.is_empty() { format!("event: {reason}") } else { format!("{field}: {reason}") })]
pub struct EventError {
    pub field: String,
    pub reason: String,
}

fn err<T>(field: impl Into<String>, reason: impl Into<String>) -> Result<T, EventError> {
    Err(EventError { field: field.into(), reason: reason.into() })
}

macro_rules! kinds {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// The kind of an event, as its `kind` tag spells it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum EventKind { $($variant),* }

        impl EventKind {
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $name),* }
            }
            pub fn parse(s: &str) -> Option<EventKind> {
                match s { $($name => Some(EventKind::$variant),)* _ => None }
            }
        }
    };
}

kinds! {
    Withdrawal => "withdrawal",
    Alarm => "alarm",
    Freeze => "freeze",
    Unfreeze => "unfreeze",
    CredentialReset => "credential_reset",
    Maintenance => "maintenance",
    SafuContribution => "safu_contribution",
    SafuPayout => "safu_payout",
    IncidentOpen => "incident_open",
    IncidentUpdate => "incident_update",
    IncidentClose => "incident_close",
    ReserveAttestation => "reserve_attestation",
    ReserveSnapshot => "reserve_snapshot",
    KeyRegistered => "key_registered",
    KeyRevoked => "key_revoked",
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount in an asset's minor units (satoshi for BTC). On the wire: a decimal string of
/// digits without sign, leading zeros or fraction, at most 38 digits (fits u128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(pub u128);

impl Amount {
    pub fn parse(s: &str) -> Result<Amount, String> {
        if s.is_empty() || s.len() > 38 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "amount {s:?} must be a string of 1 to 38 decimal digits (minor units, no sign, no fraction)"
            ));
        }
        if s.len() > 1 && s.starts_with('0') {
            return Err(format!("amount {s:?} has a leading zero"));
        }
        s.parse::<u128>().map(Amount).map_err(|e| format!("amount {s:?}: {e}"))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string of decimal digits (minor units)")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Amount, E> {
                Amount::parse(s).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Amount, E> {
                Err(E::custom("amounts are strings of minor units, e.g. \"700000000000\", not JSON numbers"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Amount, E> {
                Err(E::custom("amounts are non-negative strings of minor units, not JSON numbers"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Amount, E> {
                Err(E::custom("amounts are strings of minor units, never floating-point numbers"))
            }
        }
        d.deserialize_any(V)
    }
}

/// A value that is private: in clear only before it is committed by the submitting service;
/// in a logged entry always `{"commitment": "<64 hex>"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Private {
    Clear(String),
    Committed(Digest),
}

impl Serialize for Private {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Private::Clear(v) => s.serialize_str(v),
            Private::Committed(d) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("commitment", &d.to_hex())?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Private {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // By hand rather than an untagged enum, which buffers the value to try each form.
        enum P<'de> {
            Clear(String),
            Committed(Cow<'de, str>),
        }
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = P<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an object")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<P<'de>, E> {
                Ok(P::Clear(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<P<'de>, E> {
                Ok(P::Clear(v))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<P<'de>, A::Error> {
                let mut commitment = None;
                while let Some(CowStr(key)) = map.next_key()? {
                    if key != "commitment" || commitment.is_some() {
                        return Err(de::Error::custom("not a commitment"));
                    }
                    commitment = Some(map.next_value::<CowStr>()?.0);
                }
                commitment.map(P::Committed).ok_or_else(|| de::Error::custom("not a commitment"))
            }
        }
        match d
            .deserialize_any(V)
            .map_err(|_| de::Error::custom("a private value is a string, or {\"commitment\": \"<64 hex digits>\"}"))?
        {
            P::Clear(s) => Ok(Private::Clear(s)),
            P::Committed(c) => Digest::from_hex(&c).map(Private::Committed).map_err(de::Error::custom),
        }
    }
}

/// A string read in place where the input allows (no escapes), copied where it does not.
struct CowStr<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<CowStr<'de>, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CowStr<'de>, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<CowStr<'de>, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// What an auditor needs to check one commitment: the field it stands in and salt + value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Opening {
    pub field: String,
    pub salt: String,
    pub value: String,
}

impl Opening {
    /// Checks this opening against a commitment.
    pub fn opens(&self, c: &Digest) -> bool {
        let mut salt = [0u8; 32];
        hex::decode_to_slice(&self.salt, &mut salt).is_ok() && commitment(&salt, &self.value) == *c
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawalStage {
    Requested,
    Approved,
    Executed,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WalletTier {
    Hot,
    Cold,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Withdrawal {
    /// Correlates the stages of one withdrawal.
    pub withdrawal_id: String,
    pub stage: WithdrawalStage,
    pub asset: String,
    pub amount: Amount,
    /// Destination address on the asset's chain.
    pub destination: String,
    /// Chain transaction id; required when executed, absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_id: Option<String>,
    pub wallet: String,
    pub wallet_tier: WalletTier,
    pub account: Private,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alarm {
    pub rule: String,
    pub severity: Severity,
    pub summary: String,
    /// Sequence numbers of earlier entries this alarm is about.
    #[serde(default)]
    pub refs: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
}

/// What a freeze (or unfreeze) covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "target", rename_all = "snake_case", deny_unknown_fields)]
pub enum Scope {
    // Struct variants, not unit ones: serde lets a unit variant of an internally tagged enum
    // ignore unknown fields, and a scope must refuse them as every other object does.
    Withdrawals {},
    Deposits {},
    Trading {},
    Wallets { wallets: Vec<String> },
    Accounts { accounts: Vec<Private> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    pub scope: Scope,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    ApiKeys,
    TwoFactor,
    Password,
    WithdrawalAllowlist,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetScope {
    AllUsers,
    AffectedAccounts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialReset {
    pub credentials: Vec<Credential>,
    pub scope: ResetScope,
    /// How many accounts must reset (counts only; which ones is private).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected_accounts: Option<u64>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    pub notice: String,
    pub starts_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafuContribution {
    pub asset: String,
    pub amount: Amount,
    pub period_start_ms: u64,
    pub period_end_ms: u64,
    /// Share of trading fees paid in, in basis points (1000 = 10%).
    pub fee_share_bps: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafuPayout {
    pub incident: String,
    pub asset: String,
    pub amount: Amount,
    /// What the payout covers, in words.
    pub covers: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentOpen {
    pub incident: String,
    pub title: String,
    pub summary: String,
    pub severity: Severity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentUpdate {
    pub incident: String,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentClose {
    pub incident: String,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetReserves {
    pub asset: String,
    /// The sum of every account's balance of this asset (the sum tree's root sum).
    pub liabilities: Amount,
    /// The sum of the attested balances of this asset.
    pub reserves: Amount,
    /// `reserves / liabilities`, rounded down, as a fixed-point string with four decimals
    /// ("1.0250"); absent when the liabilities are zero. See [`ratio`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<String>,
}

/// A custody service's statement of what one wallet held (docs/FORMAT.md §11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveAttestation {
    pub asset: String,
    pub wallet: String,
    /// The on-chain address the balance was read from.
    pub address: String,
    pub balance: Amount,
    /// The block the balance was read at, and that block's time.
    pub block_height: u64,
    pub as_of_ms: u64,
}

/// A proof-of-reserves snapshot: the root and totals of the liabilities sum tree
/// ([`crate::reserves`]), and the reserves attested by earlier `reserve_attestation` entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveSnapshot {
    pub snapshot: String,
    pub cut_off_ms: u64,
    /// Root hash of the liabilities sum tree, 64 hex digits.
    pub liabilities_root: String,
    /// Leaves of the tree, accounts and padding: a power of two, at least 2.
    pub padded_size: u64,
    /// One item per asset, in the order of the tree's sums.
    pub assets: Vec<AssetReserves>,
    /// The `reserve_attestation` entries the reserves add up (sequence numbers, each earlier
    /// than this entry).
    pub attestations: Vec<u64>,
}

/// `reserves / liabilities` rounded down to four decimals, as "I.FFFF"; `None` when
/// `liabilities` is zero. Exact integer long division; no step can overflow.
pub fn ratio(reserves: u128, liabilities: u128) -> Option<String> {
    if liabilities == 0 {
        return None;
    }
    let (int, mut rem) = (reserves / liabilities, reserves % liabilities);
    let mut frac = String::with_capacity(4);
    for _ in 0..4 {
        // digit = floor(10 * rem / liabilities) by ten steps of `acc += rem (mod liabilities)`,
        // written so that nothing exceeds `liabilities` (rem < liabilities throughout).
        let (mut acc, mut digit) = (0u128, 0u8);
        for _ in 0..10 {
            if acc >= liabilities - rem {
                acc -= liabilities - rem;
                digit += 1;
            } else {
                acc += rem;
            }
        }
        frac.push((b'0' + digit) as char);
        rem = acc;
    }
    Some(format!("{int}.{frac}"))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRegistered {
    /// The service key, as a signed-note verifier key string `name+hexid+base64(0x01‖pubkey)`.
    pub key: String,
    /// The kinds this key may append. A key allowed `key_registered`/`key_revoked` is an
    /// operator key.
    pub kinds: Vec<EventKind>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRevoked {
    /// The revoked key, as `name+hexid`.
    pub key: String,
    pub reason: String,
}

/// One event, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Withdrawal(Withdrawal),
    Alarm(Alarm),
    Freeze(Freeze),
    Unfreeze(Freeze),
    CredentialReset(CredentialReset),
    Maintenance(Maintenance),
    SafuContribution(SafuContribution),
    SafuPayout(SafuPayout),
    IncidentOpen(IncidentOpen),
    IncidentUpdate(IncidentUpdate),
    IncidentClose(IncidentClose),
    ReserveAttestation(ReserveAttestation),
    ReserveSnapshot(ReserveSnapshot),
    KeyRegistered(KeyRegistered),
    KeyRevoked(KeyRevoked),
}

const MAX_TEXT: usize = 4096;
const MAX_ID: usize = 128;
const MAX_LIST: usize = 1024;

/// The rule of every identifier an event carries (a withdrawal, incident or snapshot id):
/// 1 to 128 characters of letters, digits and `. _ : / -` (docs/FORMAT.md §3.3).
pub fn check_id(field: &str, v: &str) -> Result<(), EventError> {
    if v.is_empty() || v.len() > MAX_ID {
        return err(field, format!("must be 1 to {MAX_ID} characters"));
    }
    if !v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b)) {
        return err(field, "may contain only letters, digits and . _ : / -");
    }
    Ok(())
}

fn check_text(field: &str, v: &str) -> Result<(), EventError> {
    if v.trim().is_empty() {
        return err(field, "must not be empty");
    }
    if v.len() > MAX_TEXT {
        return err(field, format!("is longer than {MAX_TEXT} bytes"));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return err(field, "must not contain control characters other than newline");
    }
    Ok(())
}

fn check_asset(field: &str, v: &str) -> Result<(), EventError> {
    if v.len() < 2 || v.len() > 16 || !v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return err(field, format!("asset {v:?} must be 2 to 16 upper-case letters or digits, e.g. BTC"));
    }
    Ok(())
}

fn check_positive(field: &str, a: Amount) -> Result<(), EventError> {
    if a.0 == 0 {
        return err(field, "must be greater than zero");
    }
    Ok(())
}

fn check_opt_id(field: &str, v: &Option<String>) -> Result<(), EventError> {
    v.as_deref().map_or(Ok(()), |v| check_id(field, v))
}

fn check_private(field: &str, p: &Private) -> Result<(), EventError> {
    match p {
        Private::Clear(v) => check_id(field, v),
        Private::Committed(_) => Ok(()),
    }
}

fn check_list<T>(field: &str, v: &[T]) -> Result<(), EventError> {
    if v.is_empty() {
        return err(field, "must not be empty");
    }
    if v.len() > MAX_LIST {
        return err(field, format!("has more than {MAX_LIST} items"));
    }
    Ok(())
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Withdrawal(_) => EventKind::Withdrawal,
            Event::Alarm(_) => EventKind::Alarm,
            Event::Freeze(_) => EventKind::Freeze,
            Event::Unfreeze(_) => EventKind::Unfreeze,
            Event::CredentialReset(_) => EventKind::CredentialReset,
            Event::Maintenance(_) => EventKind::Maintenance,
            Event::SafuContribution(_) => EventKind::SafuContribution,
            Event::SafuPayout(_) => EventKind::SafuPayout,
            Event::IncidentOpen(_) => EventKind::IncidentOpen,
            Event::IncidentUpdate(_) => EventKind::IncidentUpdate,
            Event::IncidentClose(_) => EventKind::IncidentClose,
            Event::ReserveAttestation(_) => EventKind::ReserveAttestation,
            Event::ReserveSnapshot(_) => EventKind::ReserveSnapshot,
            Event::KeyRegistered(_) => EventKind::KeyRegistered,
            Event::KeyRevoked(_) => EventKind::KeyRevoked,
        }
    }

    /// Parses event JSON, with an error that names what is wrong.
    pub fn from_json(bytes: &[u8]) -> Result<Event, EventError> {
        let v = crate::canonical::parse_json(bytes)
            .map_err(|e| EventError { field: String::new(), reason: e.to_string() })?;
        Self::from_value(v)
    }

    pub fn from_value(mut v: serde_json::Value) -> Result<Event, EventError> {
        let Some(obj) = v.as_object_mut() else {
            return err("event", "must be a JSON object");
        };
        let kind = match obj.remove("kind") {
            Some(serde_json::Value::String(k)) => EventKind::parse(&k).ok_or_else(|| {
                let all: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                EventError {
                    field: "kind".into(),
                    reason: format!("unknown kind {k:?}; known kinds: {}", all.join(", ")),
                }
            })?,
            _ => return err("kind", "missing: every event has a string \"kind\""),
        };
        // Each kind is read into its own struct so errors carry the field's path (serde
        // loses paths inside internally tagged enums).
        fn de<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, EventError> {
            serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                EventError { field: if path == "." { String::new() } else { path }, reason: e.into_inner().to_string() }
            })
        }
        let ev = match kind {
            EventKind::Withdrawal => Event::Withdrawal(de(v)?),
            EventKind::Alarm => Event::Alarm(de(v)?),
            EventKind::Freeze => Event::Freeze(de(v)?),
            EventKind::Unfreeze => Event::Unfreeze(de(v)?),
            EventKind::CredentialReset => Event::CredentialReset(de(v)?),
            EventKind::Maintenance => Event::Maintenance(de(v)?),
            EventKind::SafuContribution => Event::SafuContribution(de(v)?),
            EventKind::SafuPayout => Event::SafuPayout(de(v)?),
            EventKind::IncidentOpen => Event::IncidentOpen(de(v)?),
            EventKind::IncidentUpdate => Event::IncidentUpdate(de(v)?),
            EventKind::IncidentClose => Event::IncidentClose(de(v)?),
            EventKind::ReserveAttestation => Event::ReserveAttestation(de(v)?),
            EventKind::ReserveSnapshot => Event::ReserveSnapshot(de(v)?),
            EventKind::KeyRegistered => Event::KeyRegistered(de(v)?),
            EventKind::KeyRevoked => Event::KeyRevoked(de(v)?),
        };
        ev.validate()?;
        Ok(ev)
    }

    /// The earlier entries this event points at: an alarm's `refs`, a snapshot's
    /// `attestations`. Each must be smaller than the event's own sequence number.
    pub fn refs(&self) -> &[u64] {
        match self {
            Event::Alarm(a) => &a.refs,
            Event::ReserveSnapshot(r) => &r.attestations,
            _ => &[],
        }
    }

    /// [`Event::refs`] checked against the event's own sequence number.
    pub fn check_refs(&self, seq: u64) -> Result<(), String> {
        match self.refs().iter().find(|&&r| r >= seq) {
            Some(r) => {
                Err(format!("{} refers to entry {r}, which is not earlier than its own entry {seq}", self.kind()))
            }
            None => Ok(()),
        }
    }

    /// The incident this event belongs to, if it names one.
    pub fn incident(&self) -> Option<&str> {
        match self {
            Event::Withdrawal(w) => w.incident.as_deref(),
            Event::Alarm(a) => a.incident.as_deref(),
            Event::Freeze(f) | Event::Unfreeze(f) => f.incident.as_deref(),
            Event::CredentialReset(c) => c.incident.as_deref(),
            Event::SafuPayout(p) => Some(&p.incident),
            Event::IncidentOpen(i) => Some(&i.incident),
            Event::IncidentUpdate(i) => Some(&i.incident),
            Event::IncidentClose(i) => Some(&i.incident),
            _ => None,
        }
    }

    /// Every private field with its path, for checking openings.
    pub fn private_fields(&self) -> Vec<(String, &Private)> {
        match self {
            Event::Withdrawal(w) => vec![("account".into(), &w.account)],
            Event::Freeze(f) | Event::Unfreeze(f) => match &f.scope {
                Scope::Accounts { accounts } => {
                    accounts.iter().enumerate().map(|(i, p)| (format!("scope.accounts[{i}]"), p)).collect()
                }
                _ => vec![],
            },
            _ => vec![],
        }
    }

    /// Every private field with its path, for committing.
    pub fn private_fields_mut(&mut self) -> Vec<(String, &mut Private)> {
        match self {
            Event::Withdrawal(w) => vec![("account".into(), &mut w.account)],
            Event::Freeze(f) | Event::Unfreeze(f) => match &mut f.scope {
                Scope::Accounts { accounts } => {
                    accounts.iter_mut().enumerate().map(|(i, p)| (format!("scope.accounts[{i}]"), p)).collect()
                }
                _ => vec![],
            },
            _ => vec![],
        }
    }

    /// Replaces every clear private value by its commitment, with salts from `salt`
    /// (the caller supplies fresh randomness: the core draws none). Returns the openings.
    pub fn commit_private(&mut self, mut salt: impl FnMut() -> [u8; 32]) -> Vec<Opening> {
        let mut openings = Vec::new();
        for (field, p) in self.private_fields_mut() {
            if let Private::Clear(v) = p {
                let s = salt();
                openings.push(Opening { field, salt: hex::encode(s), value: v.clone() });
                *p = Private::Committed(commitment(&s, v));
            }
        }
        openings
    }

    /// Whether every private value is committed, as a logged event requires.
    pub fn check_committed(&self) -> Result<(), EventError> {
        for (field, p) in self.private_fields() {
            if matches!(p, Private::Clear(_)) {
                return err(field, "private value in clear: it must be committed before signing");
            }
        }
        Ok(())
    }

    /// Checks every value; the error names the field.
    pub fn validate(&self) -> Result<(), EventError> {
        match self {
            Event::Withdrawal(w) => {
                check_id("withdrawal_id", &w.withdrawal_id)?;
                check_asset("asset", &w.asset)?;
                check_positive("amount", w.amount)?;
                check_id("destination", &w.destination)?;
                check_id("wallet", &w.wallet)?;
                check_private("account", &w.account)?;
                check_opt_id("incident", &w.incident)?;
                if let Some(r) = &w.reason {
                    check_text("reason", r)?;
                }
                match (w.stage, &w.tx_id) {
                    (WithdrawalStage::Executed, None) => err("tx_id", "required when stage is executed")?,
                    (WithdrawalStage::Executed, Some(t)) => check_id("tx_id", t)?,
                    (_, Some(_)) => err("tx_id", "only an executed withdrawal has a chain transaction id")?,
                    _ => {}
                }
                if w.stage == WithdrawalStage::Rejected && w.reason.is_none() {
                    err("reason", "required when stage is rejected")?;
                }
                Ok(())
            }
            Event::Alarm(a) => {
                check_id("rule", &a.rule)?;
                check_text("summary", &a.summary)?;
                if a.refs.len() > MAX_LIST {
                    err("refs", format!("has more than {MAX_LIST} items"))?;
                }
                check_opt_id("incident", &a.incident)
            }
            Event::Freeze(f) | Event::Unfreeze(f) => {
                match &f.scope {
                    Scope::Wallets { wallets } => {
                        check_list("scope.wallets", wallets)?;
                        for (i, w) in wallets.iter().enumerate() {
                            check_id(&format!("scope.wallets[{i}]"), w)?;
                        }
                    }
                    Scope::Accounts { accounts } => {
                        check_list("scope.accounts", accounts)?;
                        for (i, a) in accounts.iter().enumerate() {
                            check_private(&format!("scope.accounts[{i}]"), a)?;
                        }
                    }
                    _ => {}
                }
                check_text("reason", &f.reason)?;
                check_opt_id("incident", &f.incident)
            }
            Event::CredentialReset(c) => {
                check_list("credentials", &c.credentials)?;
                check_text("reason", &c.reason)?;
                if c.scope == ResetScope::AllUsers && c.affected_accounts.is_some() {
                    err("affected_accounts", "only with scope affected_accounts")?;
                }
                check_opt_id("incident", &c.incident)
            }
            Event::Maintenance(m) => {
                check_text("notice", &m.notice)?;
                if m.ends_at_ms.is_some_and(|e| e < m.starts_at_ms) {
                    err("ends_at_ms", "is before starts_at_ms")?;
                }
                Ok(())
            }
            Event::SafuContribution(s) => {
                check_asset("asset", &s.asset)?;
                check_positive("amount", s.amount)?;
                if s.period_end_ms < s.period_start_ms {
                    err("period_end_ms", "is before period_start_ms")?;
                }
                if s.fee_share_bps == 0 || s.fee_share_bps > 10_000 {
                    err("fee_share_bps", "must be 1 to 10000 basis points")?;
                }
                Ok(())
            }
            Event::SafuPayout(p) => {
                check_id("incident", &p.incident)?;
                check_asset("asset", &p.asset)?;
                check_positive("amount", p.amount)?;
                check_text("covers", &p.covers)
            }
            Event::IncidentOpen(i) => {
                check_id("incident", &i.incident)?;
                check_text("title", &i.title)?;
                if i.title.len() > 200 {
                    err("title", "is longer than 200 bytes")?;
                }
                check_text("summary", &i.summary)
            }
            Event::IncidentUpdate(i) => {
                check_id("incident", &i.incident)?;
                check_text("summary", &i.summary)
            }
            Event::IncidentClose(i) => {
                check_id("incident", &i.incident)?;
                check_text("summary", &i.summary)
            }
            Event::ReserveAttestation(a) => {
                check_asset("asset", &a.asset)?;
                check_id("wallet", &a.wallet)?;
                check_id("address", &a.address)
            }
            Event::ReserveSnapshot(r) => {
                check_id("snapshot", &r.snapshot)?;
                let root = Digest::from_hex(&r.liabilities_root)
                    .map_err(|e| EventError { field: "liabilities_root".into(), reason: e.to_string() })?;
                // Signed bytes hold one spelling of a value (§2): lower-case hex.
                if root.to_hex() != r.liabilities_root {
                    err("liabilities_root", "must be written in lower-case hex")?;
                }
                if !r.padded_size.is_power_of_two()
                    || r.padded_size < 2
                    || r.padded_size > 1 << crate::reserves::MAX_HEIGHT
                {
                    err("padded_size", format!("must be a power of two from 2 to 2^{}", crate::reserves::MAX_HEIGHT))?;
                }
                check_list("assets", &r.assets)?;
                if r.assets.len() > crate::reserves::MAX_ASSETS {
                    err("assets", format!("has more than {} items", crate::reserves::MAX_ASSETS))?;
                }
                for (i, a) in r.assets.iter().enumerate() {
                    check_asset(&format!("assets[{i}].asset"), &a.asset)?;
                    if r.assets[..i].iter().any(|b| b.asset == a.asset) {
                        err(format!("assets[{i}].asset"), format!("{} is listed twice", a.asset))?;
                    }
                    let want = ratio(a.reserves.0, a.liabilities.0);
                    if a.ratio != want {
                        err(
                            format!("assets[{i}].ratio"),
                            match want {
                                Some(w) => {
                                    format!("must be {w:?}: reserves / liabilities rounded down to four decimals")
                                }
                                None => "must be absent when the liabilities are zero".to_string(),
                            },
                        )?;
                    }
                }
                check_list("attestations", &r.attestations)
            }
            Event::KeyRegistered(k) => {
                let v = crate::keys::VerifierKey::parse(&k.key)
                    .map_err(|e| EventError { field: "key".into(), reason: e.to_string() })?;
                if v.to_vkey() != k.key {
                    err("key", "must be written as `vigil keygen` writes it: name+id in lower-case hex+base64, nothing around it")?;
                }
                check_list("kinds", &k.kinds)
            }
            Event::KeyRevoked(k) => {
                let r = crate::keys::KeyRef::parse(&k.key)
                    .map_err(|e| EventError { field: "key".into(), reason: e.to_string() })?;
                if r.to_string() != k.key {
                    err("key", "must be written name+id, the id in lower-case hex")?;
                }
                check_text("reason", &k.reason)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn withdrawal() -> serde_json::Value {
        json!({"kind": "withdrawal", "withdrawal_id": "w-1", "stage": "executed", "asset": "BTC",
               "amount": "700000000000", "destination": "bc1qxyz", "tx_id": "tx-1",
               "wallet": "hot-btc-1", "wallet_tier": "hot", "account": "acct-1"})
    }

    fn with(mut v: serde_json::Value, key: &str, val: serde_json::Value) -> serde_json::Value {
        if val.is_null() {
            v.as_object_mut().unwrap().remove(key);
        } else {
            v[key] = val;
        }
        v
    }

    /// One helper walks the table: `None` means accepted, `Some(s)` means refused with an
    /// error mentioning `s`.
    fn check(input: serde_json::Value, want: Option<&str>) {
        let got = Event::from_value(input.clone());
        match (want, got) {
            (None, Ok(_)) => {}
            (Some(w), Err(e)) => assert!(e.to_string().contains(w), "{input}: error {e:?} should mention {w:?}"),
            (w, g) => panic!("{input}: wanted {w:?}, got {g:?}"),
        }
    }

    #[test]
    fn event_validation_table() {
        let w = withdrawal;
        let cases: Vec<(serde_json::Value, Option<&str>)> = vec![
            (w(), None),
            (with(w(), "amount", json!(7)), Some("not JSON numbers")),
            (with(w(), "amount", json!(7.5)), Some("floating-point")),
            (with(w(), "amount", json!("-7")), Some("decimal digits")),
            (with(w(), "amount", json!("1.5")), Some("decimal digits")),
            (with(w(), "amount", json!("007")), Some("leading zero")),
            (with(w(), "amount", json!("0")), Some("amount: must be greater than zero")),
            (with(w(), "amount", json!("1".repeat(39))), Some("1 to 38")),
            (with(w(), "asset", json!("btc")), Some("asset")),
            (with(w(), "tx_id", serde_json::Value::Null), Some("tx_id: required when stage is executed")),
            (with(with(w(), "stage", json!("requested")), "tx_id", json!("t")), Some("only an executed")),
            (
                with(
                    with(with(w(), "stage", json!("rejected")), "tx_id", serde_json::Value::Null),
                    "reason",
                    serde_json::Value::Null,
                ),
                Some("reason: required"),
            ),
            (with(w(), "surprise", json!(1)), Some("unknown field `surprise`")),
            (with(w(), "kind", json!("teleport")), Some("unknown kind \"teleport\"")),
            (with(w(), "kind", serde_json::Value::Null), Some("kind: missing")),
            (with(w(), "wallet", json!("hot wallet")), Some("wallet: may contain only")),
            (with(w(), "account", json!({"commitment": "00"})), Some("account: bad hash: expected 64 hex digits")),
            (with(w(), "account", json!({"commitment": "ab".repeat(32)})), None),
            // The two forms and no other: an array of the commitment, a second member, a number.
            (with(w(), "account", json!(["ab".repeat(32)])), Some("account: a private value is a string, or")),
            (
                with(w(), "account", json!({"commitment": "ab".repeat(32), "salt": "x"})),
                Some("account: a private value is a string, or"),
            ),
            (with(w(), "account", json!({})), Some("account: a private value is a string, or")),
            (with(w(), "account", json!(7)), Some("account: a private value is a string, or")),
            (with(w(), "wallet_tier", json!("lukewarm")), Some("unknown variant")),
            (json!({"kind": "alarm", "rule": "r", "severity": "critical", "summary": "s"}), None),
            (
                json!({"kind": "alarm", "rule": "r", "severity": "critical", "summary": " "}),
                Some("summary: must not be empty"),
            ),
            (json!({"kind": "alarm", "rule": "r", "severity": "apocalyptic", "summary": "s"}), Some("unknown variant")),
            (json!({"kind": "freeze", "scope": {"target": "withdrawals"}, "reason": "r"}), None),
            (
                json!({"kind": "freeze", "scope": {"target": "wallets", "wallets": []}, "reason": "r"}),
                Some("scope.wallets: must not be empty"),
            ),
            (
                json!({"kind": "freeze", "scope": {"target": "accounts", "accounts": ["a", "b c"]}, "reason": "r"}),
                Some("scope.accounts[1]"),
            ),
            (json!({"kind": "freeze", "scope": {"target": "moon"}, "reason": "r"}), Some("unknown variant")),
            // A scope with no fields of its own refuses fields too, as the others do.
            (
                json!({"kind": "freeze", "scope": {"target": "withdrawals", "wallets": ["x"]}, "reason": "r"}),
                Some("unknown field `wallets`"),
            ),
            (
                json!({"kind": "unfreeze", "scope": {"target": "trading", "note": 1}, "reason": "r"}),
                Some("unknown field `note`"),
            ),
            (
                json!({"kind": "freeze", "scope": {"target": "wallets", "wallets": ["w"], "accounts": []}, "reason": "r"}),
                Some("unknown field `accounts`"),
            ),
            (
                json!({"kind": "credential_reset", "credentials": ["api_keys", "two_factor"], "scope": "all_users", "reason": "r"}),
                None,
            ),
            (
                json!({"kind": "credential_reset", "credentials": [], "scope": "all_users", "reason": "r"}),
                Some("credentials: must not be empty"),
            ),
            (
                json!({"kind": "credential_reset", "credentials": ["password"], "scope": "all_users", "affected_accounts": 5, "reason": "r"}),
                Some("affected_accounts"),
            ),
            (
                json!({"kind": "maintenance", "notice": "n", "starts_at_ms": 10, "ends_at_ms": 5}),
                Some("ends_at_ms: is before"),
            ),
            (
                json!({"kind": "safu_contribution", "asset": "BTC", "amount": "5", "period_start_ms": 1, "period_end_ms": 2, "fee_share_bps": 1000}),
                None,
            ),
            (
                json!({"kind": "safu_contribution", "asset": "BTC", "amount": "5", "period_start_ms": 1, "period_end_ms": 2, "fee_share_bps": 10001}),
                Some("fee_share_bps"),
            ),
            (json!({"kind": "safu_payout", "incident": "i-1", "asset": "BTC", "amount": "5", "covers": "loss"}), None),
            (
                json!({"kind": "incident_open", "incident": "i-1", "title": "t", "summary": "s", "severity": "high"}),
                None,
            ),
            (
                json!({"kind": "incident_open", "incident": "i-1", "title": "t".repeat(201), "summary": "s", "severity": "high"}),
                Some("title: is longer"),
            ),
            (json!({"kind": "incident_close", "incident": "i 1", "summary": "s"}), Some("incident: may contain only")),
            (
                json!({"kind": "reserve_snapshot", "snapshot": "s1", "cut_off_ms": 1, "liabilities_root": "00".repeat(32), "padded_size": 8, "assets": [{"asset": "BTC", "liabilities": "3", "reserves": "2", "ratio": "0.6666"}], "attestations": [4]}),
                None,
            ),
            (
                json!({"kind": "reserve_snapshot", "snapshot": "s1", "cut_off_ms": 1, "liabilities_root": "00".repeat(32), "padded_size": 6, "assets": [{"asset": "BTC", "liabilities": "1", "reserves": "2", "ratio": "2.0000"}], "attestations": [4]}),
                Some("power of two"),
            ),
            (
                json!({"kind": "reserve_snapshot", "snapshot": "s1", "cut_off_ms": 1, "liabilities_root": "00".repeat(32), "padded_size": 1, "assets": [{"asset": "BTC", "liabilities": "1", "reserves": "2", "ratio": "2.0000"}], "attestations": [4]}),
                Some("padded_size: must be a power of two from 2"),
            ),
            (
                json!({"kind": "reserve_snapshot", "snapshot": "s1", "cut_off_ms": 1, "liabilities_root": "00".repeat(32), "padded_size": 2, "assets": [{"asset": "BTC", "liabilities": "3", "reserves": "2", "ratio": "0.6667"}], "attestations": [4]}),
                Some("assets[0].ratio: must be \"0.6666\""),
            ),
            (
                json!({"kind": "reserve_snapshot", "snapshot": "s1", "cut_off_ms": 1, "liabilities_root": "00".repeat(32), "padded_size": 2, "assets": [{"asset": "BTC", "liabilities": "0", "reserves": "2", "ratio": "1.0000"}], "attestations": [4]}),
                Some("assets[0].ratio: must be absent"),
            ),
            (
                json!({"kind": "reserve_snapshot", "snapshot": "s1", "cut_off_ms": 1, "liabilities_root": "00".repeat(32), "padded_size": 2, "assets": [{"asset": "BTC", "liabilities": "0", "reserves": "2"}, {"asset": "BTC", "liabilities": "0", "reserves": "2"}], "attestations": [4]}),
                Some("assets[1].asset: BTC is listed twice"),
            ),
            (
                json!({"kind": "reserve_snapshot", "snapshot": "s1", "cut_off_ms": 1, "liabilities_root": "00".repeat(32), "padded_size": 2, "assets": [{"asset": "BTC", "liabilities": "0", "reserves": "2"}], "attestations": []}),
                Some("attestations: must not be empty"),
            ),
            (
                json!({"kind": "reserve_attestation", "asset": "BTC", "wallet": "cold-btc-1", "address": "bc1qcold", "balance": "0", "block_height": 575000, "as_of_ms": 1}),
                None,
            ),
            (
                json!({"kind": "reserve_attestation", "asset": "BTC", "wallet": "cold btc", "address": "bc1qcold", "balance": "1", "block_height": 575000, "as_of_ms": 1}),
                Some("wallet: may contain only"),
            ),
            (
                json!({"kind": "reserve_attestation", "asset": "BTC", "wallet": "cold-btc-1", "address": "bc1qcold", "balance": "-1", "block_height": 575000, "as_of_ms": 1}),
                Some("balance"),
            ),
            (
                json!({"kind": "key_registered", "key": "not-a-key", "kinds": ["alarm"]}),
                Some("key: malformed verifier key"),
            ),
            (json!({"kind": "key_revoked", "key": "risk+zzzzzzzz", "reason": "r"}), Some("key: bad key reference")),
            // One spelling only (§2): lower-case hex, no white space around a key.
            (
                json!({"kind": "key_revoked", "key": "risk+0A0B0C0D", "reason": "r"}),
                Some("key: must be written name+id"),
            ),
            (json!({"kind": "key_revoked", "key": "risk+0a0b0c0d", "reason": "r"}), None),
            (
                json!({"kind": "key_registered", "key": format!(" {}", crate::format_example::example().service_vkey), "kinds": ["alarm"]}),
                Some("key: must be written as `vigil keygen` writes it"),
            ),
            (
                json!({"kind": "key_registered", "key": upper_id(&crate::format_example::example().service_vkey), "kinds": ["alarm"]}),
                Some("key: must be written as `vigil keygen` writes it"),
            ),
            (
                json!({"kind": "key_registered", "key": crate::format_example::example().service_vkey, "kinds": ["alarm"]}),
                None,
            ),
            (
                json!({"kind": "reserve_snapshot", "snapshot": "s1", "cut_off_ms": 1, "liabilities_root": "AB".repeat(32), "padded_size": 2, "assets": [{"asset": "BTC", "liabilities": "0", "reserves": "2"}], "attestations": [4]}),
                Some("liabilities_root: must be written in lower-case hex"),
            ),
        ];
        for (input, want) in cases {
            check(input, want);
        }
    }

    /// A verifier key string with its id in upper case.
    fn upper_id(vkey: &str) -> String {
        let (name, rest) = vkey.split_once('+').unwrap();
        let (id, key) = rest.split_once('+').unwrap();
        format!("{name}+{}+{key}", id.to_uppercase())
    }

    #[test]
    fn commit_then_open() {
        let mut ev = Event::from_value(withdrawal()).unwrap();
        let mut n = 0u8;
        let openings = ev.commit_private(|| {
            n += 1;
            [n; 32]
        });
        assert_eq!(openings.len(), 1);
        assert_eq!(openings[0].field, "account");
        assert_eq!(openings[0].value, "acct-1");
        let Event::Withdrawal(w) = &ev else { panic!() };
        let Private::Committed(c) = &w.account else { panic!("still in clear") };
        assert!(openings[0].opens(c));
        let mut wrong = openings[0].clone();
        wrong.value = "acct-2".into();
        assert!(!wrong.opens(c));
        assert!(ev.clone().check_committed().is_ok());
        assert!(Event::from_value(withdrawal()).unwrap().check_committed().is_err());
    }
}
