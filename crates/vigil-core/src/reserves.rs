//! The liabilities sum tree of proof of reserves (docs/FORMAT.md §11): hashes, per-user
//! proofs and their verification. Pure: the builder that streams a tree to RocksDB lives in the
//! server crate and uses these functions.
//!
//! A binary tree over `padded_size` = 2^height leaves. Every node carries a hash and one sum
//! per asset (u128, minor units):
//! - an account's leaf: `derive_key(LEAF_CONTEXT, record_secret ‖ balances ‖ account)`, its
//!   balances (the account id binds the leaf to one user: two users with equal balances
//!   cannot be shown one leaf, whatever secret they are given);
//! - a padding leaf: `derive_key(PADDING_CONTEXT, padding_key ‖ u64 slot)`, zero sums;
//! - a node: `derive_key(NODE_CONTEXT, left.hash ‖ left.sums ‖ right.hash ‖ right.sums)`, the
//!   sums `left.sums + right.sums` (checked: an overflow is an error, never a wrap).
//!
//! Each sum is 16 bytes big-endian. A node commits to *both* children's sums, so no one can
//! make a parent's sum disagree with its children's (the flaw of the original Maxwell tree).

use crate::event::ReserveSnapshot;
use crate::hash::Digest;

pub const LEAF_CONTEXT: &str = "vigil 2026-11-25 liabilities leaf v2";
pub const PADDING_CONTEXT: &str = "vigil 2026-11-24 liabilities padding leaf v1";
pub const NODE_CONTEXT: &str = "vigil 2026-11-24 liabilities node v1";
pub const RECORD_SECRET_CONTEXT: &str = "vigil 2026-11-24 liabilities record secret v1";
pub const RECORD_ID_CONTEXT: &str = "vigil 2026-11-24 liabilities record id v1";
pub const PADDING_KEY_CONTEXT: &str = "vigil 2026-11-24 liabilities padding key v1";

/// At most this many assets per snapshot.
pub const MAX_ASSETS: usize = 64;
/// At most 2^MAX_HEIGHT leaves.
pub const MAX_HEIGHT: u32 = 40;
/// The first bytes of an encoded proof: "VLP" and the proof format version (2: leaves name
/// the account; docs/FORMAT.md §9).
pub const PROOF_MAGIC: [u8; 4] = *b"VLP\x02";

fn derive(context: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(context);
    for p in parts {
        h.update(p);
    }
    *h.finalize().as_bytes()
}

/// The secret a user gets for one snapshot: `derive_key(RECORD_SECRET_CONTEXT,
/// snapshot_secret ‖ account)`. Fresh per snapshot, so leaves cannot be linked across them.
pub fn record_secret(snapshot_secret: &[u8; 32], account: &str) -> [u8; 32] {
    derive(RECORD_SECRET_CONTEXT, &[snapshot_secret, account.as_bytes()])
}

/// The public handle of a record: the first 16 bytes of `derive_key(RECORD_ID_CONTEXT,
/// record_secret)`. Whoever holds it can fetch the proof (and so read the balances); only the
/// secret's holder can check that the leaf is theirs.
pub fn record_id(record_secret: &[u8; 32]) -> [u8; 16] {
    let d = derive(RECORD_ID_CONTEXT, &[record_secret]);
    d[..16].try_into().expect("16 of 32 bytes")
}

/// The key padding leaves are derived from: `derive_key(PADDING_KEY_CONTEXT, snapshot_secret)`.
pub fn padding_key(snapshot_secret: &[u8; 32]) -> [u8; 32] {
    derive(PADDING_KEY_CONTEXT, &[snapshot_secret])
}

fn put_sums(h: &mut blake3::Hasher, sums: &[u128]) {
    for s in sums {
        h.update(&s.to_be_bytes());
    }
}

/// Hashes of the tree, each with its context set up once (cloning a prepared hasher is
/// cheaper than deriving the context key for every node).
#[derive(Clone)]
pub struct Hashers {
    leaf: blake3::Hasher,
    padding: blake3::Hasher,
    node: blake3::Hasher,
    secret: blake3::Hasher,
    id: blake3::Hasher,
}

impl Default for Hashers {
    fn default() -> Self {
        Hashers {
            leaf: blake3::Hasher::new_derive_key(LEAF_CONTEXT),
            padding: blake3::Hasher::new_derive_key(PADDING_CONTEXT),
            node: blake3::Hasher::new_derive_key(NODE_CONTEXT),
            secret: blake3::Hasher::new_derive_key(RECORD_SECRET_CONTEXT),
            id: blake3::Hasher::new_derive_key(RECORD_ID_CONTEXT),
        }
    }
}

impl Hashers {
    /// [`record_secret`].
    pub fn record_secret(&self, snapshot_secret: &[u8; 32], account: &str) -> [u8; 32] {
        let mut h = self.secret.clone();
        h.update(snapshot_secret);
        h.update(account.as_bytes());
        *h.finalize().as_bytes()
    }

    /// [`record_id`].
    pub fn record_id(&self, record_secret: &[u8; 32]) -> [u8; 16] {
        let mut h = self.id.clone();
        h.update(record_secret);
        h.finalize().as_bytes()[..16].try_into().expect("16 of 32 bytes")
    }

    /// An account's leaf: `derive_key(LEAF_CONTEXT, record_secret ‖ balances ‖ account)`.
    pub fn leaf(&self, record_secret: &[u8; 32], balances: &[u128], account: &str) -> Digest {
        let mut h = self.leaf.clone();
        h.update(record_secret);
        put_sums(&mut h, balances);
        h.update(account.as_bytes());
        Digest(*h.finalize().as_bytes())
    }

    pub fn padding(&self, padding_key: &[u8; 32], slot: u64) -> Digest {
        let mut h = self.padding.clone();
        h.update(padding_key);
        h.update(&slot.to_be_bytes());
        Digest(*h.finalize().as_bytes())
    }

    pub fn node(&self, left: &Digest, left_sums: &[u128], right: &Digest, right_sums: &[u128]) -> Digest {
        let mut h = self.node.clone();
        h.update(&left.0);
        put_sums(&mut h, left_sums);
        h.update(&right.0);
        put_sums(&mut h, right_sums);
        Digest(*h.finalize().as_bytes())
    }
}

/// `a += b`, element by element; an overflow is an error (nothing is changed then).
pub fn add_sums(a: &mut [u128], b: &[u128]) -> Result<(), ProofError> {
    if a.len() != b.len() {
        return Err(ProofError::Malformed(format!("{} sums where {} were expected", b.len(), a.len())));
    }
    if a.iter().zip(b).any(|(x, y)| x.checked_add(*y).is_none()) {
        return Err(ProofError::Overflow);
    }
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
    Ok(())
}

/// One user's inclusion proof in a snapshot's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub snapshot: String,
    pub record_id: [u8; 16],
    /// The leaf's slot, 0 ≤ index < 2^height.
    pub index: u64,
    /// The leaf's balances, one per asset in the snapshot's order.
    pub balances: Vec<u128>,
    /// Sibling hash and sums at each level, from the leaf's sibling up to the root's child.
    pub siblings: Vec<(Digest, Vec<u128>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("malformed proof: {0}")]
    Malformed(String),
    #[error("a sum overflows 128 bits")]
    Overflow,
    #[error("this proof is for snapshot {proof:?}, not {snapshot:?}")]
    WrongSnapshot { proof: String, snapshot: String },
    #[error("the secret does not belong to record {0}: its record id is {1}")]
    WrongSecret(String, String),
    #[error("the proof has {got} levels; a tree of {padded} leaves has {want}")]
    WrongHeight { got: usize, want: u32, padded: u64 },
    #[error("the proof has {got} balances; the snapshot lists {want} assets")]
    WrongAssets { got: usize, want: usize },
    #[error(
        "with account {account:?} the proof leads to root {got}, but the snapshot's liabilities root is {want}: \
         the tree does not count this account with these balances (or the account id is not exactly the one \
         the exchange gave with the secret)"
    )]
    RootMismatch { account: String, got: String, want: String },
    #[error("the proof's sums give {asset} liabilities of {got}, but the snapshot states {want}")]
    TotalMismatch { asset: String, got: u128, want: u128 },
}

/// Appends an amount in the proof encoding: a length byte (0–16), then that many big-endian
/// bytes without a leading zero byte.
pub fn put_amount(out: &mut Vec<u8>, v: u128) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    out.push((16 - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// A bounds-checked reader over untrusted bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ProofError> {
        if self.0.len() < n {
            return Err(ProofError::Malformed(format!("truncated in {what}")));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self, what: &str) -> Result<u8, ProofError> {
        Ok(self.take(1, what)?[0])
    }
    fn amount(&mut self, what: &str) -> Result<u128, ProofError> {
        let n = self.u8(what)? as usize;
        if n > 16 {
            return Err(ProofError::Malformed(format!("{what}: an amount of {n} bytes (at most 16)")));
        }
        let b = self.take(n, what)?;
        if b.first() == Some(&0) {
            return Err(ProofError::Malformed(format!("{what}: an amount with a leading zero byte")));
        }
        let mut full = [0u8; 16];
        full[16 - n..].copy_from_slice(b);
        Ok(u128::from_be_bytes(full))
    }
}

impl Proof {
    /// The binary encoding (docs/FORMAT.md §11.4).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.siblings.len() * (32 + 8 * self.balances.len()));
        out.extend_from_slice(&PROOF_MAGIC);
        out.push(self.snapshot.len() as u8);
        out.extend_from_slice(self.snapshot.as_bytes());
        out.extend_from_slice(&self.record_id);
        out.push(self.balances.len() as u8);
        out.push(self.siblings.len() as u8);
        out.extend_from_slice(&self.index.to_be_bytes());
        for b in &self.balances {
            put_amount(&mut out, *b);
        }
        for (h, sums) in &self.siblings {
            out.extend_from_slice(&h.0);
            for s in sums {
                put_amount(&mut out, *s);
            }
        }
        out
    }

    /// Decodes untrusted bytes; never panics. Exactly one encoding per proof is accepted.
    pub fn decode(bytes: &[u8]) -> Result<Proof, ProofError> {
        let mut r = Reader(bytes);
        match r.take(4, "magic")? {
            m if m == PROOF_MAGIC => {}
            [b'V', b'L', b'P', v] => {
                return Err(ProofError::Malformed(format!(
                    "a liabilities proof of format version {v}; this build reads version {}",
                    PROOF_MAGIC[3]
                )))
            }
            _ => return Err(ProofError::Malformed("not a vigil liabilities proof (magic \"VLP\")".into())),
        }
        let n = r.u8("snapshot")? as usize;
        let snapshot = std::str::from_utf8(r.take(n, "snapshot")?)
            .map_err(|_| ProofError::Malformed("snapshot id is not UTF-8".into()))?
            .to_string();
        let record_id: [u8; 16] = r.take(16, "record id")?.try_into().expect("16 bytes");
        let assets = r.u8("asset count")? as usize;
        if assets == 0 || assets > MAX_ASSETS {
            return Err(ProofError::Malformed(format!("{assets} assets (1 to {MAX_ASSETS})")));
        }
        let height = r.u8("height")? as usize;
        if height == 0 || height > MAX_HEIGHT as usize {
            return Err(ProofError::Malformed(format!("height {height} (1 to {MAX_HEIGHT})")));
        }
        let index = u64::from_be_bytes(r.take(8, "index")?.try_into().expect("8 bytes"));
        if index >> height != 0 {
            return Err(ProofError::Malformed(format!("index {index} outside a tree of 2^{height} leaves")));
        }
        let balances = (0..assets).map(|_| r.amount("balances")).collect::<Result<Vec<_>, _>>()?;
        let mut siblings = Vec::with_capacity(height);
        for level in 0..height {
            let what = format!("sibling at level {level}");
            let h = Digest(r.take(32, &what)?.try_into().expect("32 bytes"));
            let sums = (0..assets).map(|_| r.amount(&what)).collect::<Result<Vec<_>, _>>()?;
            siblings.push((h, sums));
        }
        if !r.0.is_empty() {
            return Err(ProofError::Malformed(format!("{} bytes after the proof", r.0.len())));
        }
        Ok(Proof { snapshot, record_id, index, balances, siblings })
    }

    /// The root hash and sums this proof leads to, given the record's secret and account id.
    pub fn root(&self, record_secret: &[u8; 32], account: &str) -> Result<(Digest, Vec<u128>), ProofError> {
        let hs = Hashers::default();
        let mut hash = hs.leaf(record_secret, &self.balances, account);
        let mut sums = self.balances.clone();
        for (level, (sib, sib_sums)) in self.siblings.iter().enumerate() {
            if sib_sums.len() != sums.len() {
                return Err(ProofError::Malformed(format!("sibling at level {level} has the wrong number of sums")));
            }
            // `decode` and `verify` bound the height at 40; a proof built by hand may not be.
            let bit = self.index.checked_shr(level as u32).unwrap_or(0) & 1;
            hash = if bit == 0 { hs.node(&hash, &sums, sib, sib_sums) } else { hs.node(sib, sib_sums, &hash, &sums) };
            add_sums(&mut sums, sib_sums)?;
        }
        Ok((hash, sums))
    }

    /// Verifies this proof with the user's secret and account id against a snapshot entry:
    /// the secret gives the record id, the leaf (secret, balances, account) and the path give
    /// the snapshot's root and, summed level by level with checked arithmetic, exactly its
    /// per-asset liabilities. Amounts are unsigned, so no sum on the path can be negative.
    /// Returns the leaf's balances by asset.
    pub fn verify(
        &self,
        record_secret: &[u8; 32],
        account: &str,
        snapshot: &ReserveSnapshot,
    ) -> Result<Vec<(String, u128)>, ProofError> {
        if self.snapshot != snapshot.snapshot {
            return Err(ProofError::WrongSnapshot {
                proof: self.snapshot.clone(),
                snapshot: snapshot.snapshot.clone(),
            });
        }
        let id = record_id(record_secret);
        if id != self.record_id {
            return Err(ProofError::WrongSecret(hex::encode(self.record_id), hex::encode(id)));
        }
        let want = snapshot.padded_size.trailing_zeros();
        if !snapshot.padded_size.is_power_of_two() || self.siblings.len() != want as usize {
            return Err(ProofError::WrongHeight { got: self.siblings.len(), want, padded: snapshot.padded_size });
        }
        if self.balances.len() != snapshot.assets.len() {
            return Err(ProofError::WrongAssets { got: self.balances.len(), want: snapshot.assets.len() });
        }
        let (root, sums) = self.root(record_secret, account)?;
        if root.to_hex() != snapshot.liabilities_root.to_ascii_lowercase() {
            return Err(ProofError::RootMismatch {
                account: account.to_string(),
                got: root.to_hex(),
                want: snapshot.liabilities_root.clone(),
            });
        }
        for (a, got) in snapshot.assets.iter().zip(&sums) {
            if *got != a.liabilities.0 {
                return Err(ProofError::TotalMismatch { asset: a.asset.clone(), got: *got, want: a.liabilities.0 });
            }
        }
        Ok(snapshot.assets.iter().zip(&self.balances).map(|(a, b)| (a.asset.clone(), *b)).collect())
    }
}

/// The attestations snapshot entry `snapshot_seq` names, sorted, if it names each once and
/// each earlier than itself (the log's rule for every reference, §7, which only the whole
/// log's check sees otherwise): what the entry alone says, checked before any is fetched.
pub fn check_named(snapshot_seq: u64, snapshot: &ReserveSnapshot) -> Result<Vec<u64>, String> {
    let mut named = snapshot.attestations.clone();
    named.sort_unstable();
    if named.windows(2).any(|w| w[0] == w[1]) {
        return Err("the snapshot names an attestation twice".into());
    }
    if let Some(late) = named.iter().find(|&&n| n >= snapshot_seq) {
        return Err(format!("attestation {late} is not earlier than the snapshot's own entry {snapshot_seq}"));
    }
    Ok(named)
}

/// Checks a snapshot's reserves against its attestations: `attestations` are the entries the
/// snapshot names, as (sequence number, event); they must be exactly its `attestations`, each
/// earlier than the snapshot's own entry `snapshot_seq` ([`check_named`]), each a
/// `reserve_attestation` of one of its assets, and per asset their balances must add up to
/// exactly the stated reserves. (That no attestation serves two snapshots needs the whole log:
/// `vigil audit` checks it.)
pub fn check_attestations(
    snapshot_seq: u64,
    snapshot: &ReserveSnapshot,
    attestations: &[(u64, &crate::event::Event)],
) -> Result<(), String> {
    let named = check_named(snapshot_seq, snapshot)?;
    let mut given: Vec<u64> = attestations.iter().map(|(s, _)| *s).collect();
    given.sort_unstable();
    if named != given {
        return Err(format!("the attestations given are entries {given:?}; the snapshot names {named:?}"));
    }
    let mut sums = vec![0u128; snapshot.assets.len()];
    for (seq, ev) in attestations {
        let crate::event::Event::ReserveAttestation(a) = ev else {
            return Err(format!("entry {seq} is a {}, not a reserve_attestation", ev.kind()));
        };
        let i = snapshot
            .assets
            .iter()
            .position(|x| x.asset == a.asset)
            .ok_or_else(|| format!("entry {seq} attests {}, which the snapshot does not list", a.asset))?;
        sums[i] = sums[i].checked_add(a.balance.0).ok_or("attested balances overflow")?;
    }
    for (a, sum) in snapshot.assets.iter().zip(sums) {
        if sum != a.reserves.0 {
            return Err(format!(
                "{} reserves are stated as {}, but the attestations add up to {sum}",
                a.asset, a.reserves
            ));
        }
    }
    Ok(())
}

/// A node of a tree held in memory: its hash and sums.
#[cfg(test)]
pub type Node = (Digest, Vec<u128>);

/// A whole tree in memory, for tests and the worked example: `leaves` in slot order. Returns
/// every level, leaves first, root last.
#[cfg(test)]
pub fn levels(leaves: Vec<Node>) -> Result<Vec<Vec<Node>>, ProofError> {
    if leaves.len() < 2 || !leaves.len().is_power_of_two() {
        return Err(ProofError::Malformed(format!("{} leaves: a power of two, at least 2", leaves.len())));
    }
    let hs = Hashers::default();
    let mut out = vec![leaves];
    while out.last().expect("one level").len() > 1 {
        let below = out.last().expect("one level");
        let mut next = Vec::with_capacity(below.len() / 2);
        for pair in below.chunks(2) {
            let (l, r) = (&pair[0], &pair[1]);
            let mut sums = l.1.clone();
            add_sums(&mut sums, &r.1)?;
            next.push((hs.node(&l.0, &l.1, &r.0, &r.1), sums));
        }
        out.push(next);
    }
    Ok(out)
}

/// The proof of the leaf at `index` in a tree given by [`levels`] (panics on a bad index).
#[cfg(test)]
pub fn prove(levels: &[Vec<Node>], snapshot: &str, record_id: [u8; 16], index: u64) -> Proof {
    let siblings = (0..levels.len() - 1).map(|l| levels[l][((index >> l) ^ 1) as usize].clone()).collect();
    Proof { snapshot: snapshot.into(), record_id, index, balances: levels[0][index as usize].1.clone(), siblings }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Amount, AssetReserves};

    const S: [u8; 32] = [7; 32];

    /// A snapshot of `accounts` (name, balances) over `assets`, padded to `padded` leaves with
    /// the accounts in the first slots: returns the levels, the snapshot entry and each
    /// account's secret.
    fn tree(
        assets: &[&str],
        accounts: &[(&str, Vec<u128>)],
        padded: usize,
    ) -> (Vec<Vec<Node>>, ReserveSnapshot, Vec<[u8; 32]>) {
        let hs = Hashers::default();
        let secrets: Vec<[u8; 32]> = accounts.iter().map(|(a, _)| record_secret(&S, a)).collect();
        let mut leaves: Vec<_> =
            accounts.iter().zip(&secrets).map(|((a, b), s)| (hs.leaf(s, b, a), b.clone())).collect();
        let pk = padding_key(&S);
        for slot in leaves.len()..padded {
            leaves.push((hs.padding(&pk, slot as u64), vec![0; assets.len()]));
        }
        let lv = levels(leaves).unwrap();
        let (root, sums) = lv.last().unwrap()[0].clone();
        let snap = ReserveSnapshot {
            snapshot: "s1".into(),
            cut_off_ms: 1,
            liabilities_root: root.to_hex(),
            padded_size: padded as u64,
            assets: assets
                .iter()
                .zip(&sums)
                .map(|(a, s)| AssetReserves {
                    asset: a.to_string(),
                    liabilities: Amount(*s),
                    reserves: Amount(*s),
                    ratio: crate::event::ratio(*s, *s),
                })
                .collect(),
            attestations: vec![0],
        };
        (lv, snap, secrets)
    }

    #[test]
    fn every_account_verifies_its_balances() {
        let accounts = [("alice", vec![5, 0]), ("bob", vec![7, 3]), ("carol", vec![0, 9])];
        let (lv, snap, secrets) = tree(&["BTC", "ETH"], &accounts, 4);
        assert_eq!((snap.assets[0].liabilities.0, snap.assets[1].liabilities.0), (12, 12));
        for (i, ((account, bal), secret)) in accounts.iter().zip(&secrets).enumerate() {
            let p = prove(&lv, "s1", record_id(secret), i as u64);
            let p = Proof::decode(&p.encode()).unwrap();
            let got = p.verify(secret, account, &snap).unwrap();
            assert_eq!(got, vec![("BTC".to_string(), bal[0]), ("ETH".to_string(), bal[1])]);
        }
    }

    /// Tampering with a proof or checking it against the wrong inputs fails, each with its
    /// own error.
    #[test]
    fn a_tampered_proof_or_a_wrong_input_is_refused() {
        let accounts = [("alice", vec![5]), ("bob", vec![7]), ("carol", vec![1])];
        let (lv, snap, secrets) = tree(&["BTC"], &accounts, 4);
        let good = prove(&lv, "s1", record_id(&secrets[1]), 1);
        type Tamper = Box<dyn Fn(&mut Proof, &mut ReserveSnapshot, &mut [u8; 32], &mut String)>;
        let cases: Vec<(&str, Tamper, &str)> = vec![
            ("own balance lowered", Box::new(|p, _, _, _| p.balances[0] -= 1), "root"),
            ("sibling sum lowered", Box::new(|p, _, _, _| p.siblings[1].1[0] -= 1), "root"),
            ("sibling hash changed", Box::new(|p, _, _, _| p.siblings[0].0 .0[0] ^= 1), "root"),
            ("other slot", Box::new(|p, _, _, _| p.index = 0), "root"),
            ("another user's secret", Box::new(|_, _, s, _| *s = record_secret(&S, "alice")), "does not belong"),
            ("another account id", Box::new(|_, _, _, a| *a = "alice".into()), "with account \"alice\""),
            ("the account id spelt otherwise", Box::new(|_, _, _, a| *a = "Bob".into()), "not exactly the one"),
            ("stated total too low", Box::new(|_, s, _, _| s.assets[0].liabilities.0 -= 1), "states"),
            ("other snapshot", Box::new(|_, s, _, _| s.snapshot = "s2".into()), "not \"s2\""),
            ("taller tree", Box::new(|_, s, _, _| s.padded_size = 8), "levels"),
            ("sibling sum overflows", Box::new(|p, _, _, _| p.siblings[1].1[0] = u128::MAX), "overflows"),
        ];
        for (name, tamper, want) in cases {
            let (mut p, mut s, mut secret, mut account) = (good.clone(), snap.clone(), secrets[1], "bob".to_string());
            tamper(&mut p, &mut s, &mut secret, &mut account);
            let e = p.verify(&secret, &account, &s).expect_err(name).to_string();
            assert!(e.contains(want), "{name}: {e}");
        }
    }

    /// The attack on Maxwell's original tree (Ji & Chalkias): a node there hashes only its own
    /// sum, so the exchange can set a parent's sum to max(left, right) and hand each child a
    /// made-up sibling sum that "adds up". Both users accept under that construction; here a
    /// node commits to both children's sums, and the user whose sum was understated refuses.
    #[test]
    fn the_maxwell_max_attack_is_caught() {
        let (a, b) = (record_secret(&S, "alice"), record_secret(&S, "bob"));
        let (va, vb) = (5u128, 7u128);
        let hs = Hashers::default();
        let (la, lb) = (hs.leaf(&a, &[va], "alice"), hs.leaf(&b, &[vb], "bob"));
        // The cheating exchange publishes a total of max(5, 7) = 7: alice is told bob's
        // subtree holds 2, bob that alice's holds 0.
        let total = va.max(vb);
        let fake = [(la, va, lb, total - va), (la, total - vb, lb, vb)];

        // Maxwell's original: node hash = H(sum ‖ left hash ‖ right hash), sums unhashed below.
        let maxwell = |l: &Digest, r: &Digest, sum: u128| {
            let mut h = blake3::Hasher::new();
            h.update(&sum.to_be_bytes());
            h.update(&l.0);
            h.update(&r.0);
            *h.finalize().as_bytes()
        };
        let published = maxwell(&la, &lb, total);
        for (l, lsum, r, rsum) in fake {
            assert_eq!(maxwell(&l, &r, lsum + rsum), published, "under Maxwell's tree both users accept");
        }

        // The same attack on this tree: the exchange must publish one root committing to the
        // children's sums, so it commits to alice's view (alice 5, bob 2).
        let root = hs.node(&la, &[va], &lb, &[total - va]);
        let snap = ReserveSnapshot {
            snapshot: "s1".into(),
            cut_off_ms: 1,
            liabilities_root: root.to_hex(),
            padded_size: 2,
            assets: vec![AssetReserves {
                asset: "BTC".into(),
                liabilities: Amount(total),
                reserves: Amount(total),
                ratio: Some("1.0000".into()),
            }],
            attestations: vec![0],
        };
        let alice = Proof {
            snapshot: "s1".into(),
            record_id: record_id(&a),
            index: 0,
            balances: vec![va],
            siblings: vec![(lb, vec![total - va])],
        };
        let bob = Proof {
            snapshot: "s1".into(),
            record_id: record_id(&b),
            index: 1,
            balances: vec![vb],
            siblings: vec![(la, vec![total - vb])],
        };
        assert!(alice.verify(&a, "alice", &snap).is_ok(), "alice's view was committed");
        let e = bob.verify(&b, "bob", &snap).unwrap_err();
        assert!(matches!(e, ProofError::RootMismatch { .. }), "{e}");
        // And bob given alice's real sibling data sees the true total, which the exchange did not state.
        let honest = Proof { siblings: vec![(la, vec![va])], ..bob };
        assert!(matches!(honest.verify(&b, "bob", &snap).unwrap_err(), ProofError::RootMismatch { .. }));
    }

    /// The shared-leaf attack: two users with equal balances are both shown one leaf (the same
    /// record id and secret), and the second user's balance is left out of the totals. Were a
    /// leaf only `record_secret ‖ balances` (format version 1), both would accept the same proof.
    /// A leaf names its account, and each user checks with their own account id, so the user
    /// left out refuses.
    #[test]
    fn two_users_with_equal_balances_cannot_share_one_leaf() {
        let accounts = [("alice", vec![1000, 0]), ("carol", vec![5, 5])];
        // The exchange leaves bob (1000, 0) out: his balance is missing from the totals.
        let (lv, snap, secrets) = tree(&["BTC", "ETH"], &accounts, 2);
        assert_eq!(snap.assets[0].liabilities.0, 1005, "bob's 1000 are not counted");
        let shared = prove(&lv, "s1", record_id(&secrets[0]), 0);
        assert_eq!(shared.verify(&secrets[0], "alice", &snap).unwrap()[0].1, 1000);
        // Bob is given alice's record: the same balances, the same secret, the same proof.
        let e = shared.verify(&secrets[0], "bob", &snap).unwrap_err();
        assert!(matches!(e, ProofError::RootMismatch { .. }), "{e}");
    }

    #[test]
    fn reserves_must_be_what_the_attestations_add_up_to() {
        use crate::event::Event;
        let att = |asset: &str, bal: &str| {
            Event::from_value(serde_json::json!({"kind": "reserve_attestation", "asset": asset, "wallet": "w",
                "address": "a", "balance": bal, "block_height": 1, "as_of_ms": 1}))
            .unwrap()
        };
        let (_, mut snap, _) = tree(&["BTC"], &[("alice", vec![5])], 2);
        snap.assets[0].reserves = Amount(7);
        snap.attestations = vec![3, 4];
        let (a, b, eth) = (att("BTC", "3"), att("BTC", "4"), att("ETH", "4"));
        let other =
            Event::from_value(serde_json::json!({"kind": "incident_close", "incident": "i", "summary": "s"})).unwrap();
        assert_eq!(check_attestations(5, &snap, &[(3, &a), (4, &b)]), Ok(()));
        for (at, given, want) in [
            (5, vec![(3, &a)], "the snapshot names [3, 4]"),
            (5, vec![(3, &a), (4, &a)], "add up to 6"),
            (5, vec![(3, &a), (4, &eth)], "does not list"),
            (5, vec![(3, &a), (4, &other)], "not a reserve_attestation"),
            (4, vec![(3, &a), (4, &b)], "attestation 4 is not earlier than the snapshot's own entry 4"),
            (2, vec![(3, &a), (4, &b)], "attestation 3 is not earlier"),
        ] {
            let e = check_attestations(at, &snap, &given).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn prepared_hashers_derive_what_the_functions_derive() {
        let hs = Hashers::default();
        let s = record_secret(&S, "alice");
        assert_eq!(hs.record_secret(&S, "alice"), s);
        assert_eq!(hs.record_id(&s), record_id(&s));
    }

    #[test]
    fn overflowing_sums_are_an_error_not_a_wrap() {
        let hs = Hashers::default();
        let leaves = vec![(hs.leaf(&S, &[u128::MAX], "a"), vec![u128::MAX]), (hs.leaf(&S, &[1], "b"), vec![1])];
        assert_eq!(levels(leaves).unwrap_err(), ProofError::Overflow);
    }

    #[test]
    fn decoding_refuses_every_truncation_and_non_canonical_amounts() {
        let accounts = [("alice", vec![5, 300]), ("bob", vec![7, 0])];
        let (lv, _, secrets) = tree(&["BTC", "ETH"], &accounts, 2);
        let bytes = prove(&lv, "s1", record_id(&secrets[0]), 0).encode();
        for n in 0..bytes.len() {
            assert!(Proof::decode(&bytes[..n]).is_err(), "truncated to {n}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(Proof::decode(&long).unwrap_err().to_string().contains("after the proof"));
        // Balance 5 as two bytes 00 05 instead of one: refused.
        let at = 4 + 1 + 2 + 16 + 2 + 8;
        assert_eq!(&bytes[at..at + 2], &[1, 5]);
        let mut padded = bytes[..at].to_vec();
        padded.extend_from_slice(&[2, 0, 5]);
        padded.extend_from_slice(&bytes[at + 2..]);
        assert!(Proof::decode(&padded).unwrap_err().to_string().contains("leading zero"));
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = Proof::decode(&bytes);
        }

        /// Random bytes rarely get past the magic: these are valid proofs with bytes flipped,
        /// cut or inserted, which reach every field's decoding.
        #[test]
        fn decoding_a_damaged_proof_never_panics(
            at in 0usize..200,
            byte in proptest::prelude::any::<u8>(),
            how in 0u8..3,
        ) {
            let accounts = [("alice", vec![5, 300]), ("bob", vec![7, 0]), ("carol", vec![1, 1])];
            let (lv, _, secrets) = tree(&["BTC", "ETH"], &accounts, 4);
            let mut bytes = prove(&lv, "s1", record_id(&secrets[0]), 0).encode();
            let at = at % bytes.len();
            match how {
                0 => bytes[at] ^= byte | 1,
                1 => bytes.truncate(at),
                _ => bytes.insert(at, byte),
            }
            if let Ok(p) = Proof::decode(&bytes) {
                let _ = p.root(&secrets[0], "alice");
            }
        }
    }

    #[test]
    fn ratios_are_exact_and_rounded_down() {
        use crate::event::ratio;
        let max = 99_999_999_999_999_999_999_999_999_999_999_999_999u128;
        for (r, l, want) in [
            (1, 1, Some("1.0000")),
            (2, 3, Some("0.6666")),
            (0, 5, Some("0.0000")),
            (10_250, 10_000, Some("1.0250")),
            (5, 0, None),
            (max, max - 1, Some("1.0000")),
            (max - 1, max, Some("0.9999")),
            (max, 3, Some("33333333333333333333333333333333333333.0000")),
        ] {
            assert_eq!(ratio(r, l).as_deref(), want, "{r} / {l}");
        }
    }
}
