//! Who may append what: the key registry, replayed from the log's own
//! `key_registered` / `key_revoked` entries.
//!
//! The sequencer and every verifier run this same code, so they cannot disagree about whether
//! an entry was authorized. Rules (docs/FORMAT.md §7):
//! - genesis: entry 0 is a `key_registered` that registers the very key signing it, with
//!   `key_registered` among its kinds (the first operator key);
//! - afterwards a key may append a kind only if it is registered, not revoked, and allowed
//!   that kind; `key_registered`/`key_revoked` are just kinds, so operator keys are keys that
//!   are allowed them;
//! - a revocation takes effect from the next entry on.

use crate::event::{Event, EventKind};
use crate::keys::{KeyRef, VerifierKey};
use crate::statement::Statement;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("unknown key {0}: it was never registered in this log")]
    UnknownKey(String),
    #[error("key {key} was revoked at entry {seq}")]
    Revoked { key: String, seq: u64 },
    #[error("key {key} may not append {kind} (allowed: {allowed})")]
    KindNotAllowed { key: String, kind: EventKind, allowed: String },
    #[error("the first entry must be a key_registered of the key that signs it, allowed key_registered")]
    Genesis,
    #[error("key {0} is already registered with different key material")]
    Conflict(String),
    #[error("key {0} is not registered, so it cannot be revoked")]
    RevokeUnknown(String),
    #[error("signature by {0} does not verify")]
    BadSignature(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredKey {
    pub key: VerifierKey,
    pub kinds: BTreeSet<EventKind>,
    pub registered_at: u64,
    pub revoked_at: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRegistry {
    keys: BTreeMap<KeyRef, RegisteredKey>,
    /// Number of entries applied.
    next_seq: u64,
}

impl KeyRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, key: &KeyRef) -> Option<&RegisteredKey> {
        self.keys.get(key)
    }

    /// Every key ever registered, with its state.
    pub fn keys(&self) -> impl Iterator<Item = &RegisteredKey> {
        self.keys.values()
    }

    /// Rebuilds a registry saved with [`KeyRegistry::keys`] and [`KeyRegistry::next_seq`].
    pub fn from_parts(keys: Vec<RegisteredKey>, next_seq: u64) -> KeyRegistry {
        KeyRegistry { keys: keys.into_iter().map(|k| (k.key.key_ref.clone(), k)).collect(), next_seq }
    }

    /// The key allowed to sign `statement` as entry number `seq` (the next one), or why not.
    /// For the genesis entry the key comes from the statement itself.
    pub fn authorize(&self, statement: &Statement) -> Result<Cow<'_, VerifierKey>, AuthError> {
        let kind = statement.event.kind();
        if self.next_seq == 0 {
            let Event::KeyRegistered(k) = &statement.event else {
                return Err(AuthError::Genesis);
            };
            let v = VerifierKey::parse(&k.key).map_err(|_| AuthError::Genesis)?;
            if v.key_ref != statement.key || !k.kinds.contains(&EventKind::KeyRegistered) {
                return Err(AuthError::Genesis);
            }
            return Ok(Cow::Owned(v));
        }
        self.authorize_kind(&statement.key, kind).map(Cow::Borrowed)
    }

    /// [`Self::authorize`] from the signing key and the event's kind alone, which is all it
    /// looks at after the genesis entry. Before it, the answer is [`AuthError::Genesis`]:
    /// the genesis rule needs the event itself.
    pub fn authorize_kind(&self, key: &KeyRef, kind: EventKind) -> Result<&VerifierKey, AuthError> {
        if self.next_seq == 0 {
            return Err(AuthError::Genesis);
        }
        let name = || key.to_string();
        let r = self.keys.get(key).ok_or_else(|| AuthError::UnknownKey(name()))?;
        if let Some(seq) = r.revoked_at {
            return Err(AuthError::Revoked { key: name(), seq });
        }
        if !r.kinds.contains(&kind) {
            let allowed: Vec<_> = r.kinds.iter().map(|k| k.as_str()).collect();
            return Err(AuthError::KindNotAllowed { key: name(), kind, allowed: allowed.join(", ") });
        }
        Ok(&r.key)
    }

    /// Checks that applying `statement` next would be consistent (no conflicting
    /// registration, no revocation of an unknown key). Call after [`Self::authorize`].
    pub fn check_effect(&self, statement: &Statement) -> Result<(), AuthError> {
        match &statement.event {
            Event::KeyRegistered(k) => {
                let v = VerifierKey::parse(&k.key).map_err(|_| AuthError::Conflict(k.key.clone()))?;
                match self.keys.get(&v.key_ref) {
                    Some(old) if old.key != v => Err(AuthError::Conflict(v.key_ref.to_string())),
                    _ => Ok(()),
                }
            }
            Event::KeyRevoked(k) => {
                let r = KeyRef::parse(&k.key).map_err(|_| AuthError::RevokeUnknown(k.key.clone()))?;
                if self.keys.contains_key(&r) {
                    Ok(())
                } else {
                    Err(AuthError::RevokeUnknown(k.key.clone()))
                }
            }
            _ => Ok(()),
        }
    }

    /// Applies an accepted entry's effect and advances to the next sequence number.
    /// (Re-)registering a known key replaces its kinds and lifts a revocation.
    pub fn apply(&mut self, statement: &Statement) {
        let seq = self.next_seq;
        match &statement.event {
            Event::KeyRegistered(k) => {
                if let Ok(v) = VerifierKey::parse(&k.key) {
                    self.keys.insert(
                        v.key_ref.clone(),
                        RegisteredKey {
                            key: v,
                            kinds: k.kinds.iter().copied().collect(),
                            registered_at: seq,
                            revoked_at: None,
                        },
                    );
                }
            }
            Event::KeyRevoked(k) => {
                if let Ok(r) = KeyRef::parse(&k.key) {
                    if let Some(e) = self.keys.get_mut(&r) {
                        e.revoked_at = Some(seq);
                    }
                }
            }
            _ => {}
        }
        self.next_seq += 1;
    }

    /// Entries applied so far.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Skips a non-key entry without looking at it (used when rebuilding from the key index).
    pub fn skip_to(&mut self, seq: u64) {
        self.next_seq = self.next_seq.max(seq);
    }
}
