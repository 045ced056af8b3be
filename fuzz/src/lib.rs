//! Fixtures shared by the fuzz targets and the seed generator (`examples/seed_corpus.rs`): fixed
//! keys, a Merkle tree with its tiles, a fork of it, and a proof-of-reserves snapshot. The
//! targets check what they parse against these, so the seeds must be made from them too.

use std::sync::LazyLock;
use vigil_core::checkpoint::{self, Checkpoint, CosignatureVerifier};
use vigil_core::event::{ratio, Amount, AssetReserves, ReserveSnapshot};
use vigil_core::hash::Digest;
use vigil_core::keys::SignerKey;
use vigil_core::merkle::{leaf_hash, MemoryTiles, TileTree};
use vigil_core::reserves::{padding_key, record_id, record_secret, Hashers, Proof};
use vigil_core::witness::Policy;

/// Leaves of the fixed tree: enough for two full level-0 tiles and a partial one.
pub const TREE_SIZE: u64 = 600;
/// A timestamp for signatures (Unix seconds).
pub const NOW_S: u64 = 1_700_000_000;

pub fn key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, [seed; 32]).expect("valid key name")
}

/// The log's key: signs every checkpoint of the fixtures.
pub static LOG_KEY: LazyLock<SignerKey> = LazyLock::new(|| key("log.example/fuzz", 1));
/// Two witnesses (cosigner keys) and the policy "one of them".
pub static WITNESSES: LazyLock<[SignerKey; 2]> = LazyLock::new(|| [key("w1.example", 11), key("w2.example", 12)]);
pub static POLICY: LazyLock<Policy> = LazyLock::new(|| {
    Policy::new(WITNESSES.iter().map(CosignatureVerifier::from_signer).collect(), 1).expect("valid policy")
});
/// Statement keys: the operator (genesis), a service, and one never registered.
pub static OPERATOR: LazyLock<SignerKey> = LazyLock::new(|| key("operator", 2));
pub static SERVICE: LazyLock<SignerKey> = LazyLock::new(|| key("withdrawals", 3));
pub static STRANGER: LazyLock<SignerKey> = LazyLock::new(|| key("stranger", 4));

/// The signer of a statement key reference, if it is one of the fixed keys.
pub fn signer_of(key: &vigil_core::keys::KeyRef) -> Option<&'static SignerKey> {
    [&*OPERATOR, &*SERVICE, &*STRANGER].into_iter().find(|k| k.key_ref == *key)
}

/// A tree of [`TREE_SIZE`] leaves with its tiles.
pub struct Tree {
    pub tree: TileTree,
    pub tiles: MemoryTiles,
    pub leaves: Vec<Digest>,
}

impl Tree {
    fn new(salt: u8) -> Tree {
        let leaves: Vec<Digest> =
            (0..TREE_SIZE).map(|i| leaf_hash(&[&[salt][..], &i.to_be_bytes()].concat())).collect();
        let mut tree = TileTree::new();
        let mut tiles = MemoryTiles::default();
        for chunk in leaves.chunks(97) {
            tiles.store(tree.append(chunk));
        }
        Tree { tree, tiles, leaves }
    }

    pub fn root(&self, size: u64) -> Digest {
        self.tree.root(size, &self.tiles).expect("size within the tree")
    }

    pub fn checkpoint(&self, size: u64) -> Checkpoint {
        Checkpoint::new(LOG_KEY.name(), size, self.root(size))
    }

    /// The checkpoint of `size`, signed by the log.
    pub fn signed(&self, size: u64) -> Vec<u8> {
        checkpoint::sign(&self.checkpoint(size), &LOG_KEY, NOW_S).expect("origin is the key name")
    }
}

/// The log's tree, and a fork of it (other leaves, so other roots at every size).
pub static TREE: LazyLock<Tree> = LazyLock::new(|| Tree::new(0));
pub static FORK: LazyLock<Tree> = LazyLock::new(|| Tree::new(1));

/// The latest checkpoint a witness cosigned in the witness target: size 5 of [`TREE`].
pub const WITNESS_LATEST: u64 = 5;
/// The log's signed checkpoint of size [`WITNESS_LATEST`].
pub static NOTE5: LazyLock<Vec<u8>> = LazyLock::new(|| TREE.signed(WITNESS_LATEST));

/// A proof-of-reserves snapshot: four slots (alice, bob, carol, one padding leaf), two assets.
pub struct Reserves {
    pub snapshot: ReserveSnapshot,
    /// Per account: its id, its record secret and its proof.
    pub accounts: Vec<(&'static str, [u8; 32], Proof)>,
}

pub static RESERVES: LazyLock<Reserves> = LazyLock::new(|| {
    let secret = [0x44; 32];
    let hs = Hashers::default();
    let accounts = [("alice", [500u128, 0]), ("bob", [250, 7]), ("carol", [1, u128::from(u64::MAX)])];
    let mut nodes: Vec<(Digest, Vec<u128>)> = Vec::new();
    let mut secrets = Vec::new();
    for (name, balances) in accounts {
        let s = record_secret(&secret, name);
        nodes.push((hs.leaf(&s, &balances, name), balances.to_vec()));
        secrets.push(s);
    }
    nodes.push((hs.padding(&padding_key(&secret), 3), vec![0, 0]));
    let parent = |l: &(Digest, Vec<u128>), r: &(Digest, Vec<u128>)| {
        let sums = l.1.iter().zip(&r.1).map(|(a, b)| a + b).collect::<Vec<_>>();
        (hs.node(&l.0, &l.1, &r.0, &r.1), sums)
    };
    let level1 = [parent(&nodes[0], &nodes[1]), parent(&nodes[2], &nodes[3])];
    let root = parent(&level1[0], &level1[1]);
    let snapshot = ReserveSnapshot {
        snapshot: "snap-1".into(),
        cut_off_ms: 1,
        liabilities_root: root.0.to_hex(),
        padded_size: 4,
        assets: ["BTC", "ETH"]
            .iter()
            .zip(&root.1)
            .map(|(asset, &l)| AssetReserves {
                asset: asset.to_string(),
                liabilities: Amount(l),
                reserves: Amount(l + 1),
                ratio: ratio(l + 1, l),
            })
            .collect(),
        attestations: vec![0],
    };
    let accounts = secrets
        .iter()
        .zip(accounts)
        .enumerate()
        .map(|(i, (s, (name, _)))| {
            let proof = Proof {
                snapshot: "snap-1".into(),
                record_id: record_id(s),
                index: i as u64,
                balances: nodes[i].1.clone(),
                siblings: vec![nodes[i ^ 1].clone(), level1[(i >> 1) ^ 1].clone()],
            };
            (name, *s, proof)
        })
        .collect();
    Reserves { snapshot, accounts }
});

/// Splits `data` at the first `sep`: (before, after); all of it and nothing without one.
pub fn split<'a>(data: &'a [u8], sep: &[u8]) -> (&'a [u8], &'a [u8]) {
    match data.windows(sep.len()).position(|w| w == sep) {
        Some(i) => (&data[..i], &data[i + sep.len()..]),
        None => (data, &[]),
    }
}

/// A deterministic "random" source for batch verification (the coefficients need not be secret
/// here: nothing is at stake but agreement with the single checks).
pub struct CountingRng(pub u64);

impl rand_core::RngCore for CountingRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for CountingRng {}
