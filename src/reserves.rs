//! Proof of reserves, the exchange's side: reading the balances, building a snapshot's
//! liabilities sum tree (`vigil_core::reserves`, docs/FORMAT.md §11) onto RocksDB, writing
//! each user's record id and secret, and serving proofs from the stored tree.
//!
//! **Tree store.** One RocksDB per snapshot, `<reserves_dir>/<snapshot>/`, written once by
//! [`build`] (sorted SST files ingested at once, so a half-built tree is never visible: the
//! meta key goes last) and then only read. Keys:
//! - `t` ‖ u8 level ‖ u64be tile: a *tile*, the up to 16 consecutive nodes of `level` (0, 4,
//!   8, …) under one node of `level + 4`, each `hash ‖ A × amount` (the proof's compact
//!   amount encoding). Level-0 tiles start with a 2-byte bitmap of their padding slots and
//!   hold only the accounts' nodes (padding leaves are derived again from the padding key in
//!   the meta); a proof reads ⌈h/4⌉ tiles and recomputes the levels between;
//! - `r` ‖ 16-byte record id: the record's slot, u64be;
//! - `meta`: JSON [`TreeMeta`].
//!
//! The snapshot secret is used while building and then dropped: the tree store holds no user
//! secret, only balances, hashes and the padding key (it is private all the same: it holds
//! every balance).

use crate::files::with_suffix;
use anyhow::{anyhow, bail, Context, Result};
use rand::{seq::SliceRandom, SeedableRng};
use rayon::prelude::*;
use rocksdb::{Options, SstFileWriter, DB};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use vigil_core::balances::{parse_block, parse_header, Format};
use vigil_core::event::{Amount, Event, ReserveAttestation};
use vigil_core::hash::Digest;
use vigil_core::keys::SignerKey;
use vigil_core::reserves::{self as core, add_sums, put_amount, Hashers, Proof, MAX_ASSETS, MAX_HEIGHT};
use vigil_core::statement::Submission;

/// Nodes per tile, and levels per tile.
const TILE: usize = 16;
const TILE_LEVELS: u32 = 4;
const META: &[u8] = b"meta";

/// What a built tree is: written last, read by the server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TreeMeta {
    pub snapshot: String,
    pub assets: Vec<String>,
    pub height: u32,
    pub accounts: u64,
    pub root: String,
    /// Per asset, the root's sum (decimal strings).
    pub liabilities: Vec<Amount>,
    /// The key padding leaves are derived from (hex): level-0 tiles do not store them. It
    /// tells padding from accounts, as the record index of this private store does anyway.
    pub padding_key: String,
    /// The proof format version its leaves were hashed under (docs/FORMAT.md §9; absent, 1):
    /// a tree of another version is not served, since its proofs would not verify.
    #[serde(default = "proof_version_1")]
    pub proof_version: u8,
}

fn proof_version_1() -> u8 {
    1
}

impl TreeMeta {
    pub fn padded_size(&self) -> u64 {
        1 << self.height
    }
}

/// Reads a balances file, CSV (`account,BTC,ETH,…` header, one row per account) or JSON lines
/// (`{"account": "…", "balances": {"BTC": "…"}}`, an asset left out is zero), detected by its
/// first byte. Blocks of whole lines go through `process` in parallel (each block's accounts
/// via [`parse_block`]); `each` takes the results in file order. Any bad row stops it with an
/// error naming its line (the first in its batch of blocks). A field may not span lines.
fn read_balances<T: Send>(
    path: &Path,
    assets: &[String],
    process: impl Fn(&[u8], u64, Format, &[usize]) -> Result<T> + Sync,
    mut each: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    use std::io::{BufRead, Read};
    let file = std::fs::File::open(path).with_context(|| format!("opening balances {}", path.display()))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let format = Format::detect(reader.fill_buf()?);
    let (cols, mut line_no) = if format == Format::JsonLines {
        (Vec::new(), 1u64)
    } else {
        let mut header = String::new();
        reader.read_line(&mut header).with_context(|| format!("reading {}", path.display()))?;
        (parse_header(&header, assets)?, 2u64)
    };
    const BLOCK: usize = 4 << 20;
    let batch_blocks = rayon::current_num_threads() * 2;
    let mut carry: Vec<u8> = Vec::new();
    let mut done = false;
    while !done {
        // A batch of blocks, each ending at a line end, with the number of its first line.
        let mut blocks: Vec<(Vec<u8>, u64)> = Vec::with_capacity(batch_blocks);
        while blocks.len() < batch_blocks && !done {
            let mut block = std::mem::take(&mut carry);
            let have = block.len();
            block.resize(have + BLOCK, 0);
            let mut filled = have;
            while filled < block.len() {
                let k = reader.read(&mut block[filled..]).with_context(|| format!("reading {}", path.display()))?;
                if k == 0 {
                    done = true;
                    break;
                }
                filled += k;
            }
            block.truncate(filled);
            if !done {
                match block.iter().rposition(|&b| b == b'\n') {
                    Some(end) => {
                        carry = block[end + 1..].to_vec();
                        block.truncate(end + 1);
                    }
                    None => {
                        // A line longer than a block: read on.
                        carry = block;
                        continue;
                    }
                }
            }
            let lines = block.iter().filter(|&&b| b == b'\n').count() as u64;
            blocks.push((block, line_no));
            line_no += lines;
        }
        let results: Vec<Result<T>> = blocks.par_iter().map(|(b, first)| process(b, *first, format, &cols)).collect();
        for r in results {
            each(r?)?;
        }
    }
    Ok(())
}

/// What one block of accounts contributes, in order.
#[derive(Default)]
struct BlockOut {
    ids: Vec<[u8; 16]>,
    leaves: Vec<Digest>,
    sums: Vec<u128>,
    lines: Vec<u64>,
    /// Its lines of the records file.
    text: Vec<u8>,
}

fn tile_key(level: u32, index: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = b't';
    k[1] = level as u8;
    k[2..].copy_from_slice(&index.to_be_bytes());
    k
}

fn record_key(id: &[u8; 16]) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = b'r';
    k[1..].copy_from_slice(id);
    k
}

/// Nodes of one level of a tile: hashes and their sums, `a` per node.
struct Nodes {
    a: usize,
    hashes: Vec<Digest>,
    sums: Vec<u128>,
}

impl Nodes {
    fn new(a: usize, cap: usize) -> Nodes {
        Nodes { a, hashes: Vec::with_capacity(cap), sums: Vec::with_capacity(cap * a) }
    }
    fn push(&mut self, h: Digest, sums: &[u128]) {
        self.hashes.push(h);
        self.sums.extend_from_slice(sums);
    }
    fn sums(&self, i: usize) -> &[u128] {
        &self.sums[i * self.a..(i + 1) * self.a]
    }
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.hashes.len() * (32 + 6 * self.a));
        for (i, h) in self.hashes.iter().enumerate() {
            out.extend_from_slice(&h.0);
            for s in self.sums(i) {
                put_amount(&mut out, *s);
            }
        }
        out
    }
    fn decode(bytes: &[u8], a: usize) -> Result<Nodes> {
        let mut n = Nodes::new(a, TILE);
        let mut rest = bytes;
        let take = |rest: &mut &[u8], k: usize| -> Result<Vec<u8>> {
            if rest.len() < k {
                bail!("truncated tile");
            }
            let (x, y) = rest.split_at(k);
            *rest = y;
            Ok(x.to_vec())
        };
        while !rest.is_empty() {
            let h = Digest(take(&mut rest, 32)?.try_into().expect("32 bytes"));
            n.hashes.push(h);
            for _ in 0..a {
                let k = take(&mut rest, 1)?[0] as usize;
                if k > 16 {
                    bail!("corrupt tile: an amount of {k} bytes");
                }
                let b = take(&mut rest, k)?;
                let mut full = [0u8; 16];
                full[16 - b.len()..].copy_from_slice(&b);
                n.sums.push(u128::from_be_bytes(full));
            }
        }
        Ok(n)
    }
    /// Decodes a level-0 tile: the padding bitmap, then the accounts' nodes; padding leaves
    /// are derived again from the padding key.
    fn decode_leaves(bytes: &[u8], a: usize, first: u64, count: usize, pk: &[u8; 32], hs: &Hashers) -> Result<Nodes> {
        if bytes.len() < 2 {
            bail!("truncated tile");
        }
        let padding = u16::from_be_bytes([bytes[0], bytes[1]]);
        let accounts = Nodes::decode(&bytes[2..], a)?;
        let mut n = Nodes::new(a, count);
        let mut k = 0;
        let zero = vec![0u128; a];
        for j in 0..count {
            if padding >> j & 1 == 1 {
                n.push(hs.padding(pk, first + j as u64), &zero);
            } else {
                let h = *accounts.hashes.get(k).ok_or_else(|| anyhow!("tile holds too few nodes"))?;
                n.push(h, accounts.sums(k));
                k += 1;
            }
        }
        if k != accounts.hashes.len() {
            bail!("corrupt tile: {} account nodes where the bitmap has {k}", accounts.hashes.len());
        }
        Ok(n)
    }

    /// The level above (pairs hashed, sums added).
    fn up(&self, hs: &Hashers) -> Result<Nodes> {
        let mut next = Nodes::new(self.a, self.hashes.len() / 2);
        let mut sums = vec![0u128; self.a];
        for i in (0..self.hashes.len()).step_by(2) {
            sums.copy_from_slice(self.sums(i));
            add_sums(&mut sums, self.sums(i + 1)).map_err(|_| anyhow!("a sum exceeds 2^128"))?;
            next.push(hs.node(&self.hashes[i], self.sums(i), &self.hashes[i + 1], self.sums(i + 1)), &sums);
        }
        Ok(next)
    }
}

/// Folds a power of two of nodes to their root, in place (position 0).
fn fold(hashes: &mut [Digest], sums: &mut [u128], a: usize, hs: &Hashers) -> Result<()> {
    let mut len = hashes.len();
    let mut s = [0u128; MAX_ASSETS];
    while len > 1 {
        for i in 0..len / 2 {
            let (l, r) = (2 * i, 2 * i + 1);
            let h = hs.node(&hashes[l], &sums[l * a..(l + 1) * a], &hashes[r], &sums[r * a..(r + 1) * a]);
            for k in 0..a {
                s[k] = sums[l * a + k].checked_add(sums[r * a + k]).ok_or_else(|| anyhow!("a sum exceeds 2^128"))?;
            }
            hashes[i] = h;
            sums[i * a..(i + 1) * a].copy_from_slice(&s[..a]);
        }
        len /= 2;
    }
    Ok(())
}

/// What [`build`] produced.
#[derive(Debug, Clone)]
pub struct Built {
    pub meta: TreeMeta,
    pub root: Digest,
    pub sums: Vec<u128>,
    /// Wall time of each phase, for the benchmark.
    pub phases: Vec<(&'static str, std::time::Duration)>,
}

/// Builds the tree of one snapshot from a balances file: writes each account's record id
/// and secret to `records` (CSV `account,record_id,record_secret`, created new, mode 0600)
/// and the tree to a new RocksDB at `tree_dir`. `snapshot_secret` must be fresh and random
/// for every snapshot. On any error (a bad row, a full disk) neither exists afterwards.
#[allow(clippy::too_many_arguments)]
pub fn build(
    snapshot: &str,
    assets: &[String],
    snapshot_secret: &[u8; 32],
    balances: &Path,
    records: &Path,
    tree_dir: &Path,
    progress: bool,
) -> Result<Built> {
    build_with(snapshot, assets, snapshot_secret, balances, records, tree_dir, progress, &mut || Ok(()))
}

/// [`build`], calling `valid` once the whole balances file has been read and found good (every
/// row, no account twice, every total within 38 digits), before the tree is written: what is
/// left to fail after it is the machine (a full disk), not the input. An error from `valid`
/// fails the build, which then leaves nothing, as on any other error.
#[allow(clippy::too_many_arguments)]
pub fn build_with(
    snapshot: &str,
    assets: &[String],
    snapshot_secret: &[u8; 32],
    balances: &Path,
    records: &Path,
    tree_dir: &Path,
    progress: bool,
    valid: &mut dyn FnMut() -> Result<()>,
) -> Result<Built> {
    // Checked first, as the snapshot's entry will be: a tree under an id the log refuses
    // would be of no use, and proofs encode the id's length in one byte.
    vigil_core::event::check_id("snapshot", snapshot).map_err(|e| anyhow!("snapshot id {snapshot:?}: {}", e.reason))?;
    if records.exists() {
        bail!("the records file {} already exists; it is never overwritten", records.display());
    }
    if tree_dir.exists() {
        bail!("{} already exists: a snapshot's tree is written once", tree_dir.display());
    }
    let tmp = with_suffix(records, ".partial");
    let r = build_inner(snapshot, assets, snapshot_secret, balances, tree_dir, progress, &tmp, valid).and_then(|b| {
        std::fs::rename(&tmp, records).context("renaming the records file")?;
        // The rename is durable only once its folder is synced: the records file is the
        // users' only copy of their secrets, and the snapshot is logged next.
        sync_parent(records)?;
        Ok(b)
    });
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_dir_all(with_suffix(tree_dir, ".staging"));
        let _ = std::fs::remove_dir_all(tree_dir);
    }
    r
}

#[allow(clippy::too_many_arguments)]
fn build_inner(
    snapshot: &str,
    assets: &[String],
    snapshot_secret: &[u8; 32],
    balances: &Path,
    tree_dir: &Path,
    progress: bool,
    records_tmp: &Path,
    valid: &mut dyn FnMut() -> Result<()>,
) -> Result<Built> {
    let a = assets.len();
    if a == 0 || a > MAX_ASSETS {
        bail!("a snapshot has 1 to {MAX_ASSETS} assets, not {a}");
    }
    let mut phases = Vec::new();
    let t = std::time::Instant::now();
    let out = {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        o.open(records_tmp).with_context(|| format!("creating {}", records_tmp.display()))?
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    writeln!(out, "account,record_id,record_secret")?;
    let pb = bar(progress, None, "accounts read and hashed");
    // Per account, in input order: its leaf hash, balances (a per account), and record id.
    let mut leaves: Vec<Digest> = Vec::new();
    let mut sums: Vec<u128> = Vec::new();
    let mut ids: Vec<([u8; 16], u32)> = Vec::new();
    let mut lines: Vec<u64> = Vec::new();
    let mut totals = vec![0u128; a];
    let hs = Hashers::default();
    let process = |block: &[u8], first: u64, format: Format, cols: &[usize]| -> Result<BlockOut> {
        let mut o = BlockOut::default();
        let mut hexbuf = [0u8; 64];
        parse_block(block, first, format, cols, assets, &mut |line, account, balances| {
            let secret = hs.record_secret(snapshot_secret, account);
            let id = hs.record_id(&secret);
            o.leaves.push(hs.leaf(&secret, balances, account));
            o.ids.push(id);
            o.sums.extend_from_slice(balances);
            o.lines.push(line);
            if account.contains([',', '"']) {
                o.text.push(b'"');
                o.text.extend_from_slice(account.replace('"', "\"\"").as_bytes());
                o.text.push(b'"');
            } else {
                o.text.extend_from_slice(account.as_bytes());
            }
            o.text.push(b',');
            hex::encode_to_slice(id, &mut hexbuf[..32]).expect("32 hex digits");
            o.text.extend_from_slice(&hexbuf[..32]);
            o.text.push(b',');
            hex::encode_to_slice(secret, &mut hexbuf).expect("64 hex digits");
            o.text.extend_from_slice(&hexbuf);
            o.text.push(b'\n');
        })?;
        Ok(o)
    };
    read_balances(balances, assets, process, |o: BlockOut| {
        if leaves.len() + o.leaves.len() >= u32::MAX as usize {
            bail!("more than 2^32 - 1 accounts");
        }
        out.write_all(&o.text)?;
        ids.extend(o.ids.iter().enumerate().map(|(k, id)| (*id, (leaves.len() + k) as u32)));
        leaves.extend_from_slice(&o.leaves);
        for (row, line) in o.sums.chunks_exact(a).zip(&o.lines) {
            for ((t, v), asset) in totals.iter_mut().zip(row).zip(assets) {
                *t = t.checked_add(*v).filter(|&t| t < 10u128.pow(38)).ok_or_else(|| {
                    anyhow!("line {line}: the {asset} total of the balances up to here has more than 38 digits")
                })?;
            }
        }
        sums.extend_from_slice(&o.sums);
        lines.extend_from_slice(&o.lines);
        pb.inc(o.leaves.len() as u64);
        Ok(())
    })?;
    pb.finish_and_clear();
    out.flush()?;
    // Synced at the end, so that its writeback overlaps the tree's construction.
    let out = out.into_inner().map_err(|e| anyhow!("writing the records: {e}"))?;
    let n = leaves.len();
    if n == 0 {
        bail!("{} lists no accounts", balances.display());
    }
    let height = (n.max(2).next_power_of_two().trailing_zeros()).max(1);
    if height > MAX_HEIGHT.min(32) {
        bail!("{n} accounts are too many for one tree");
    }
    let padded = 1usize << height;
    phases.push(("read, hash leaves, write records", t.elapsed()));

    // A secret shuffle of the slots: account i takes slot[i]; the other slots are padding.
    let t = std::time::Instant::now();
    let seed = blake3::derive_key("vigil 2026-11-24 liabilities slot shuffle v1", snapshot_secret);
    let mut slots: Vec<u32> = (0..padded as u64).map(|s| s as u32).collect();
    slots.shuffle(&mut rand_chacha::ChaCha20Rng::from_seed(seed));
    let mut account_at = vec![u32::MAX; padded];
    for (i, &s) in slots[..n].iter().enumerate() {
        account_at[s as usize] = i as u32;
    }
    // Record ids, sorted: a repeated account gives a repeated record id.
    ids.par_sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0].0 == w[1].0) {
        let (x, y) = (lines[w[0].1 as usize], lines[w[1].1 as usize]);
        bail!("line {}: the account of line {} appears again", x.max(y), x.min(y));
    }
    drop(lines);
    phases.push(("shuffle slots, sort record ids", t.elapsed()));
    valid()?;

    let t = std::time::Instant::now();
    let staging = with_suffix(tree_dir, ".staging");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let mut opts = Options::default();
    opts.create_if_missing(true);
    let mut files: Vec<PathBuf> = Vec::new();
    // The record index: sorted ids in parallel ranges, each its own SST file.
    let per = ids.len().div_ceil(rayon::current_num_threads() * 2).max(1);
    let written: Vec<Result<PathBuf>> = ids
        .par_chunks(per)
        .enumerate()
        .map(|(k, chunk)| {
            let path = staging.join(format!("records-{k:06}.sst"));
            let mut w = SstFileWriter::create(&opts);
            w.open(&path)?;
            for (id, i) in chunk {
                w.put(record_key(id), (slots[*i as usize] as u64).to_be_bytes())?;
            }
            w.finish()?;
            Ok(path)
        })
        .collect();
    for f in written {
        files.push(f?);
    }
    drop(ids);
    drop(slots);

    // Level-0 tiles, in parallel ranges, each range its own sorted SST file.
    let pk = core::padding_key(snapshot_secret);
    let tiles0 = padded.div_ceil(TILE);
    let per_tile = padded.min(TILE);
    let parts = (rayon::current_num_threads() * 4).min(tiles0).max(1);
    let pb = bar(progress, Some(tiles0 as u64), "leaf tiles written");
    let ranges: Vec<(usize, usize)> =
        (0..parts).map(|p| (tiles0 * p / parts, tiles0 * (p + 1) / parts)).filter(|(x, y)| x < y).collect();
    let results: Vec<Result<(PathBuf, Nodes)>> = ranges
        .par_iter()
        .map(|&(from, to)| {
            let path = staging.join(format!("leaves-{from:012}.sst"));
            let mut w = SstFileWriter::create(&opts);
            w.open(&path)?;
            let mut above = Nodes::new(a, to - from);
            let (mut hashes, mut tsums, mut buf) = ([Digest::ZERO; TILE], vec![0u128; TILE * a], Vec::new());
            for tile in from..to {
                // A bitmap of the padding slots, then each account's node; padding leaves are
                // recomputed from the padding key when read.
                buf.clear();
                buf.extend_from_slice(&[0, 0]);
                let mut padding = 0u16;
                let first = tile * per_tile;
                for (j, &at) in account_at[first..first + per_tile].iter().enumerate() {
                    let s = &mut tsums[j * a..(j + 1) * a];
                    if at == u32::MAX {
                        padding |= 1 << j;
                        hashes[j] = hs.padding(&pk, (first + j) as u64);
                        s.fill(0);
                    } else {
                        let i = at as usize;
                        hashes[j] = leaves[i];
                        s.copy_from_slice(&sums[i * a..(i + 1) * a]);
                        buf.extend_from_slice(&hashes[j].0);
                        for v in s.iter() {
                            put_amount(&mut buf, *v);
                        }
                    }
                }
                buf[..2].copy_from_slice(&padding.to_be_bytes());
                w.put(tile_key(0, tile as u64), &buf)?;
                fold(&mut hashes[..per_tile], &mut tsums[..per_tile * a], a, &hs)?;
                above.push(hashes[0], &tsums[..a]);
                if tile % 1024 == 0 {
                    pb.inc(1024.min(to - tile) as u64);
                }
            }
            w.finish()?;
            Ok((path, above))
        })
        .collect();
    pb.finish_and_clear();
    drop(account_at);
    drop(leaves);
    drop(sums);
    let mut level_nodes = Nodes::new(a, tiles0);
    for r in results {
        let (path, above) = r?;
        files.push(path);
        level_nodes.hashes.extend(above.hashes);
        level_nodes.sums.extend(above.sums);
    }
    phases.push(("leaf tiles (hash, write SST)", t.elapsed()));

    // The upper tiles, one SST file in key order.
    let t = std::time::Instant::now();
    let (root, root_sums) = if padded <= TILE {
        (level_nodes.hashes[0], level_nodes.sums.clone())
    } else {
        let path = staging.join("upper.sst");
        let mut w = SstFileWriter::create(&opts);
        w.open(&path)?;
        let mut level = TILE_LEVELS;
        let mut cur = level_nodes;
        let root = loop {
            let per = cur.hashes.len().min(TILE);
            let mut next = Nodes::new(a, cur.hashes.len() / per);
            for t in 0..cur.hashes.len() / per {
                let mut tile = Nodes::new(a, per);
                for i in t * per..(t + 1) * per {
                    tile.push(cur.hashes[i], cur.sums(i));
                }
                w.put(tile_key(level, t as u64), tile.encode())?;
                fold(&mut tile.hashes, &mut tile.sums, a, &hs)?;
                next.push(tile.hashes[0], tile.sums(0));
            }
            if next.hashes.len() == 1 {
                break (next.hashes[0], next.sums);
            }
            cur = next;
            level += TILE_LEVELS;
        };
        w.finish()?;
        files.push(path);
        root
    };
    let meta = TreeMeta {
        snapshot: snapshot.to_string(),
        assets: assets.to_vec(),
        height,
        accounts: n as u64,
        root: root.to_hex(),
        liabilities: root_sums.iter().map(|s| Amount(*s)).collect(),
        padding_key: hex::encode(pk),
        proof_version: vigil_core::reserves::PROOF_MAGIC[3],
    };
    debug_assert_eq!(root_sums, totals, "the root's sums are the totals read");
    let db = DB::open(&opts, staging.join("db")).context("creating the tree store")?;
    let mut ingest = rocksdb::IngestExternalFileOptions::default();
    ingest.set_move_files(true);
    db.ingest_external_file_opts(&ingest, files.clone()).context("ingesting the tree")?;
    let mut wo = rocksdb::WriteOptions::default();
    wo.set_sync(true);
    db.put_opt(META, serde_json::to_vec(&meta)?, &wo)?;
    drop(db);
    out.sync_all().context("syncing the records file")?;
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
    std::fs::rename(staging.join("db"), tree_dir)?;
    sync_parent(tree_dir)?;
    std::fs::remove_dir_all(&staging)?;
    phases.push(("upper tiles, ingest into RocksDB", t.elapsed()));
    Ok(Built { meta, root, sums: root_sums, phases })
}

/// Syncs the folder holding `path`, so that a rename into it survives a power loss.
fn sync_parent(path: &Path) -> Result<()> {
    crate::files::sync_parent(path).with_context(|| format!("syncing the folder of {}", path.display()))
}

fn bar(on: bool, len: Option<u64>, what: &str) -> indicatif::ProgressBar {
    if on {
        crate::verify::progress(len, what)
    } else {
        indicatif::ProgressBar::hidden()
    }
}

/// A built tree, opened read-only.
pub struct Tree {
    db: DB,
    pub meta: TreeMeta,
    padding_key: [u8; 32],
}

impl Tree {
    pub fn open(dir: &Path) -> Result<Tree> {
        let db = DB::open_for_read_only(&Options::default(), dir, false)
            .with_context(|| format!("opening the tree store {}", dir.display()))?;
        let meta = db.get(META)?.ok_or_else(|| anyhow!("{} holds no finished tree", dir.display()))?;
        let meta: TreeMeta = serde_json::from_slice(&meta).context("tree meta")?;
        let version = vigil_core::reserves::PROOF_MAGIC[3];
        if meta.proof_version != version {
            bail!(
                "the tree of snapshot {:?} in {} was built for liabilities proofs of version {}, and this build \
                 serves version {version} (docs/FORMAT.md §9): build a new snapshot",
                meta.snapshot,
                dir.display(),
                meta.proof_version
            );
        }
        let mut padding_key = [0u8; 32];
        hex::decode_to_slice(&meta.padding_key, &mut padding_key).context("tree meta: padding key")?;
        Ok(Tree { db, meta, padding_key })
    }

    /// The proof of a record, or `None` if the snapshot has no such record.
    pub fn proof(&self, record_id: &[u8; 16]) -> Result<Option<Proof>> {
        let Some(slot) = self.db.get(record_key(record_id))? else { return Ok(None) };
        let slot = u64::from_be_bytes(slot.as_slice().try_into().context("bad slot")?);
        let (a, h) = (self.meta.assets.len(), self.meta.height);
        let hs = Hashers::default();
        let mut siblings = Vec::with_capacity(h as usize);
        let mut balances = Vec::new();
        let mut level = 0;
        while level < h {
            let node = slot >> level;
            let tile = node / TILE as u64;
            let bytes = self.db.get(tile_key(level, tile))?.ok_or_else(|| anyhow!("tile {level}/{tile} missing"))?;
            // A tile holds 16 nodes, or all of its level when that has fewer.
            let count = (self.meta.padded_size() >> level).min(TILE as u64) as usize;
            let mut cur = if level == 0 {
                Nodes::decode_leaves(&bytes, a, tile * count as u64, count, &self.padding_key, &hs)?
            } else {
                Nodes::decode(&bytes, a)?
            };
            if cur.hashes.len() != count || count < 2 {
                bail!("corrupt tile {level}/{tile}: {} nodes where {count} belong", cur.hashes.len());
            }
            let mut i = (node % TILE as u64) as usize;
            if level == 0 {
                balances = cur.sums(i).to_vec();
            }
            while cur.hashes.len() > 1 && level < h {
                siblings.push((cur.hashes[i ^ 1], cur.sums(i ^ 1).to_vec()));
                cur = cur.up(&hs)?;
                i /= 2;
                level += 1;
            }
        }
        Ok(Some(Proof { snapshot: self.meta.snapshot.clone(), record_id: *record_id, index: slot, balances, siblings }))
    }
}

/// A snapshot id as one URL path segment (percent-encoded but for `A–Z a–z 0–9 . _ -`).
fn url_segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Where a snapshot's tree lives under a reserves dir: the id with every byte but
/// `A–Z a–z 0–9 _ -` written `.xx` (hex), so that no id can name another path (`..`, `a/b`)
/// and no two ids share a folder.
pub fn tree_dir(reserves_dir: &Path, snapshot: &str) -> PathBuf {
    let mut name = String::with_capacity(snapshot.len());
    for b in snapshot.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            name.push(b as char);
        } else {
            name.push_str(&format!(".{b:02x}"));
        }
    }
    reserves_dir.join(name)
}

/// What `vigil reserves build` is asked to do.
pub struct Publish<'a> {
    pub snapshot: &'a str,
    pub cut_off_ms: u64,
    /// The assets, in the tree's order; by default those of the attestations, in order.
    pub assets: Option<Vec<String>>,
    pub balances: &'a Path,
    /// The custody service's signed `reserve_attestation` submissions.
    pub attestations: Vec<Submission>,
    /// Signs the `reserve_snapshot` entry (a key allowed that kind), at `clock`'s time when it
    /// is sent.
    pub key: &'a SignerKey,
    pub clock: &'a dyn crate::engine::Clock,
    pub records: &'a Path,
    pub reserves_dir: &'a Path,
    pub progress: bool,
}

/// What was published.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub snapshot: String,
    pub seq: u64,
    pub attestations: Vec<u64>,
    pub accounts: u64,
    pub padded_size: u64,
    pub liabilities_root: String,
    pub assets: Vec<vigil_core::event::AssetReserves>,
    pub tree: PathBuf,
    pub records: PathBuf,
}

/// Reads signed submissions, one JSON object per line (what `vigil sign` prints).
pub fn read_submissions(path: &Path) -> Result<Vec<Submission>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(line).map_err(|e| anyhow!("{} line {}: {e}", path.display(), i + 1))?);
    }
    Ok(out)
}

/// The whole of a snapshot: reads the balances and builds the tree with a fresh secret,
/// appending the custody service's attestations through `sink` as soon as the balances are
/// found good (before the tree is written: they were signed before the command ran, and must
/// reach the log within its replay window of that; again is harmless, idempotency keys answer
/// with the first receipt), then signs and appends the `reserve_snapshot` entry naming them.
pub fn publish(sink: &mut dyn crate::demo::Sink, p: Publish<'_>) -> Result<Published> {
    let mut attested: Vec<ReserveAttestation> = Vec::new();
    for (i, sub) in p.attestations.iter().enumerate() {
        let parsed = sub.clone().parse().map_err(|e| anyhow!("reserves line {}: {e}", i + 1))?;
        match parsed.statement.event {
            Event::ReserveAttestation(a) => attested.push(a),
            other => {
                bail!("reserves line {}: a {} event; reserves are reserve_attestation events", i + 1, other.kind())
            }
        }
    }
    if attested.is_empty() {
        bail!("no reserve attestations: a snapshot states reserves as attested by the custody service");
    }
    let assets = match p.assets {
        Some(a) => a,
        None => attested.iter().fold(Vec::new(), |mut v: Vec<String>, a| {
            if !v.contains(&a.asset) {
                v.push(a.asset.clone());
            }
            v
        }),
    };
    let mut reserves = vec![0u128; assets.len()];
    for a in &attested {
        let i = assets.iter().position(|x| *x == a.asset).ok_or_else(|| {
            anyhow!("an attestation is of {}, which is not among the assets {}", a.asset, assets.join(", "))
        })?;
        reserves[i] = reserves[i].checked_add(a.balance.0).ok_or_else(|| anyhow!("{} reserves overflow", a.asset))?;
    }
    // The snapshot's entry, given the tree's liabilities and root and the attestations' entries.
    let entry = |liabilities: &[u128], root: String, padded_size: u64, attestations: &[u64]| {
        let items: Vec<vigil_core::event::AssetReserves> = assets
            .iter()
            .zip(liabilities)
            .zip(&reserves)
            .map(|((asset, &l), &r)| vigil_core::event::AssetReserves {
                asset: asset.clone(),
                liabilities: Amount(l),
                reserves: Amount(r),
                ratio: vigil_core::event::ratio(r, l),
            })
            .collect();
        Event::from_value(serde_json::json!({
            "kind": "reserve_snapshot", "snapshot": p.snapshot, "cut_off_ms": p.cut_off_ms,
            "liabilities_root": root, "padded_size": padded_size, "assets": items, "attestations": attestations,
        }))
        .map(|event| (event, items))
    };
    // As far as it is known before the tree: assets and reserves it would refuse are said
    // before anything is logged or written.
    entry(&vec![0; assets.len()], "00".repeat(32), 2, &[0])
        .map_err(|e| anyhow!("the snapshot entry would be refused, so nothing was logged or written: {e}"))?;
    let dir = tree_dir(p.reserves_dir, p.snapshot);
    std::fs::create_dir_all(p.reserves_dir)?;
    let secret: [u8; 32] = rand::random();
    // Nothing is logged unless the balances are good. If the attestations cannot be appended,
    // the build fails and leaves nothing (the snapshot is certainly not logged), and the command
    // can run again. If the snapshot's own append fails, it may have been logged all the same
    // (a lost answer): then the tree and records are kept, since the records hold the only copy
    // of the users' secrets.
    let mut seqs: Vec<u64> = Vec::new();
    let built = build_with(p.snapshot, &assets, &secret, p.balances, p.records, &dir, p.progress, &mut || {
        seqs = sink.append(&p.attestations).context("appending the reserve attestations")?;
        Ok(())
    })
    .map_err(|e| {
        // Failed after the attestations were logged (writing the tree): say so.
        if seqs.is_empty() {
            e
        } else {
            e.context(format!(
                "the tree was not built and nothing of it is left; the attestations are logged (entries {seqs:?}), and running the command again is answered with their receipts"
            ))
        }
    })?;
    let undo = |e: anyhow::Error| {
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(p.records);
        e
    };
    let (event, items) = entry(&built.sums, built.root.to_hex(), built.meta.padded_size(), &seqs)
    .map_err(|e| {
        undo(anyhow!(
            "the snapshot entry: {e}; its tree and records were removed (its attestations stay in the log, entries {seqs:?})"
        ))
    })?;
    // Signed now, not when the command started: the build may have taken longer than the
    // ledger's replay window.
    let sub = crate::client::sign_event(p.key, event, &format!("reserve-snapshot-{}", p.snapshot), p.clock.now_ms())
        .map_err(|e| undo(e.into()))?;
    let seq = match sink.append(&[sub]) {
        Ok(s) => s[0],
        // The ledger said no (a key not allowed `reserve_snapshot`, a snapshot id used before):
        // nothing of it was written, so the tree and records go and the command can run again
        // (the attestations stay logged; appending them again is answered with their receipts).
        Err(e) if refused(&e) => {
            return Err(undo(e.context(format!(
                "the reserve snapshot was refused and not logged; its tree and records were removed (its attestations stay in the log, entries {seqs:?})"
            ))))
        }
        Err(e) => {
            return Err(e.context(format!(
                "appending the reserve snapshot; it may or may not be in the log: check /v1/reserves/{}. \
                 The tree ({}) and the records ({}) are kept",
                p.snapshot,
                dir.display(),
                p.records.display()
            )))
        }
    };
    Ok(Published {
        snapshot: p.snapshot.to_string(),
        seq,
        attestations: seqs,
        accounts: built.meta.accounts,
        padded_size: built.meta.padded_size(),
        liabilities_root: built.root.to_hex(),
        assets: items,
        tree: dir,
        records: p.records.to_path_buf(),
    })
}

/// Whether an append failed because the ledger refused it (a refusal's 4xx status, or the
/// engine's rejection): then nothing of the batch was written. Anything else (no answer, a storage
/// failure) leaves it unknown.
fn refused(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<crate::client::AppendFailure>().is_some_and(crate::client::AppendFailure::is_refusal)
            || matches!(
                c.downcast_ref::<crate::engine::AppendError>(),
                Some(crate::engine::AppendError::Rejected { .. })
            )
    })
}

/// One asset of a verified user proof.
#[derive(Debug, Clone, Serialize)]
pub struct UserBalance {
    pub asset: String,
    pub balance: Amount,
    /// The snapshot's totals for the asset.
    pub liabilities: Amount,
    pub reserves: Amount,
    pub ratio: Option<String>,
}

/// What `vigil reserves verify` established.
#[derive(Debug, Clone, Serialize)]
pub struct UserReport {
    pub verified: bool,
    pub snapshot: String,
    /// The account id the leaf was checked with (docs/FORMAT.md §11.2).
    pub account: String,
    pub record_id: String,
    /// The `reserve_snapshot` entry and the checkpoint it was proven included in.
    pub seq: u64,
    pub checkpoint_size: u64,
    pub cut_off_ms: u64,
    pub balances: Vec<UserBalance>,
}

/// Verifies a user's proof (given, or fetched from the public server by the record id derived
/// from `secret`) with their `account` id against the snapshot's entry, itself proven included
/// in the latest checkpoint signed by `log_key` and cosigned as `policy` requires.
pub fn verify_user(
    base_url: &str,
    log_key: &vigil_core::keys::VerifierKey,
    policy: &vigil_core::witness::Policy,
    secret: &[u8; 32],
    account: &str,
    proof: Option<&[u8]>,
    snapshot: Option<&str>,
) -> Result<UserReport, crate::verify::VerifyFailure> {
    use crate::verify::VerifyFailure::{CouldNotRun, Failed};
    let server = crate::verify::Remote::new(base_url);
    let id = core::record_id(secret);
    let fetched;
    let from_file = proof.is_some();
    let bytes = match proof {
        Some(b) => b,
        None => {
            let snap = match snapshot {
                Some(s) => s.to_string(),
                None => {
                    let h: serde_json::Value = serde_json::from_slice(&server.fetch("v1/reserves")?)
                        .map_err(|e| Failed(format!("/v1/reserves: {e}")))?;
                    h["snapshots"]
                        .as_array()
                        .and_then(|a| a.last())
                        .and_then(|s| s["snapshot"].as_str())
                        .map(str::to_string)
                        .ok_or_else(|| CouldNotRun("the server lists no reserve snapshot".into()))?
                }
            };
            fetched = server.fetch(&format!("v1/reserves/{}/proof/{}", url_segment(&snap), hex::encode(id))).map_err(
                |e| match e {
                    // The server's word alone: a record's slot is secret, so no proof shows
                    // one absent. A wrong secret and a withheld record read alike.
                    Failed(m) if m.contains("the server does not have it (404") => CouldNotRun(format!(
                        "snapshot {snap:?} has no record {} ({m}). If the secret is for another snapshot, --snapshot names that one; if it is the one the exchange gave you for this snapshot, the exchange does not show your record: keep this output",
                        hex::encode(id)
                    )),
                    e => e,
                },
            )?;
            &fetched[..]
        }
    };
    // A file that is not a proof, or not of the snapshot asked for, is the user's mistake; the
    // server answering with one misbehaves.
    let proof = Proof::decode(bytes).map_err(|e| {
        if from_file {
            CouldNotRun(format!("the proof file: {e}"))
        } else {
            Failed(e.to_string())
        }
    })?;
    // A proof file and a secret that do not go together are the user's mistake; a server
    // answering with another record's proof misbehaves.
    if proof.record_id != id {
        let (a, b) = (hex::encode(proof.record_id), hex::encode(id));
        return Err(if from_file {
            CouldNotRun(format!(
                "the secret does not belong to this proof: the proof is of record {a}, the secret's record is {b}"
            ))
        } else {
            Failed(format!("asked for record {b}, the server answered with the proof of record {a}"))
        });
    }
    if let Some(s) = snapshot {
        if s != proof.snapshot {
            let why = format!("the proof is for snapshot {:?}, not {s:?}", proof.snapshot);
            return Err(if from_file { CouldNotRun(why) } else { Failed(why) });
        }
    }
    let view: serde_json::Value =
        serde_json::from_slice(&server.fetch(&format!("v1/reserves/{}", url_segment(&proof.snapshot)))?)
            .map_err(|e| Failed(format!("/v1/reserves/{}: {e}", proof.snapshot)))?;
    let seq = view["seq"].as_u64().ok_or_else(|| Failed(format!("/v1/reserves/{}: no seq", proof.snapshot)))?;
    // The entry's bytes come from the log (its entry bundle) and are proven included; the
    // view above only said where to look.
    // One checkpoint for the snapshot and its attestations.
    // Verified once, here, for them all.
    let cp = vigil_core::witness::verify_witnessed(&server.fetch("checkpoint")?, log_key, policy)
        .map_err(|e| Failed(format!("checkpoint: {e}")))?
        .signed
        .checkpoint;
    // The server named the entry: one beyond its own checkpoint is its fault, not the user's.
    let size = cp.size;
    if seq >= size {
        return Err(Failed(format!(
            "/v1/reserves/{}: the snapshot's entry {seq} is beyond the checkpoint's {size} entries",
            proof.snapshot
        )));
    }
    let included =
        |n: u64| crate::verify::included(&server, log_key, policy, crate::verify::EntrySource::Seq(n), Some(&cp));
    let (report, entry) = included(seq)?;
    let (_, st) = vigil_core::entry::Entry::decode(&entry).map_err(|e| Failed(format!("entry {seq}: {e}")))?;
    let Event::ReserveSnapshot(snap) = st.event else {
        return Err(Failed(format!("entry {seq} is a {}, not a reserve_snapshot", st.event.kind())));
    };
    let balances =
        proof.verify(secret, account, &snap).map_err(|e| Failed(format!("snapshot {}: {e}", snap.snapshot)))?;
    // The reserves shown beside the balances: the custody attestations the entry names, each
    // proven included, adding up to the stated reserves.
    // Said before any is fetched: the entry itself names them wrongly (its fault, not the
    // fetches').
    core::check_named(seq, &snap).map_err(|e| Failed(format!("snapshot {}: {e}", snap.snapshot)))?;
    let mut attested = Vec::new();
    for &n in &snap.attestations {
        let (_, bytes) = included(n)?;
        let (_, st) = vigil_core::entry::Entry::decode(&bytes).map_err(|e| Failed(format!("entry {n}: {e}")))?;
        attested.push((n, st.event));
    }
    let given: Vec<(u64, &Event)> = attested.iter().map(|(n, e)| (*n, e)).collect();
    core::check_attestations(seq, &snap, &given).map_err(|e| Failed(format!("snapshot {}: {e}", snap.snapshot)))?;
    Ok(UserReport {
        verified: true,
        snapshot: snap.snapshot.clone(),
        account: account.to_string(),
        record_id: hex::encode(id),
        seq,
        checkpoint_size: report.checkpoint_size,
        cut_off_ms: snap.cut_off_ms,
        balances: balances
            .into_iter()
            .zip(&snap.assets)
            .map(|((asset, b), a)| UserBalance {
                asset,
                balance: Amount(b),
                liabilities: a.liabilities,
                reserves: a.reserves,
                ratio: a.ratio.clone(),
            })
            .collect(),
    })
}
