#!/usr/bin/env python3
"""Independent vigil verifier (from docs/FORMAT.md only).

  python3 verify.py kat
  python3 verify.py bundle FILE --log-key VKEYFILE
  python3 verify.py live URL --log-key VKEYFILE --witness W1 --witness W2 [--quorum K]
  python3 verify.py reserves URL --log-key VKEYFILE --witness W.. --snapshot ID --account ID --secret HEX
  python3 verify.py negative FILE --log-key VKEYFILE
Exit 0 = verified, 1 = failed.
"""
import argparse
import base64
import json
import sys
import time
import urllib.request
import urllib.error

import vigilfmt as V

def read_vkey(path):
    with open(path) as f:
        return f.read().strip()


# ---------------------------------------------------------------- part 1: bundle

def verify_bundle_bytes(data: bytes, log_vkey: str, quiet=False):
    keys, cpb, entries = V.parse_bundle(data)
    cp, rep = V.verify_checkpoint(cpb, log_vkey)
    if len(entries) != cp["size"]:
        raise V.Invalid("bundle: %d entries, checkpoint size %d" % (len(entries), cp["size"]))
    # The key lines are informational (§10): skipped unparsed, never a reason to refuse.
    lv = V.LogVerifier()
    kinds = {}
    for e in entries:
        h, st = lv.add(e)
        kinds[st["event"]["kind"]] = kinds.get(st["event"]["kind"], 0) + 1
    root = V.mth(lv.leaves)
    if root != cp["root"]:
        raise V.Invalid("root %s != checkpoint root %s" % (root.hex(), cp["root"].hex()))
    if not quiet:
        # informational: the key lines that parse as verifier keys, against the replayed registry
        reg, unparsed = set(), 0
        for k in keys:
            try:
                name, kid, _, _ = V.parse_vkey(k.decode("utf-8"))
                reg.add("%s+%s" % (name, kid.hex()))
            except (V.Invalid, UnicodeDecodeError):
                unparsed += 1
        print("  entries: %d" % lv.n)
        print("  root:    %s (base64 %s)" % (root.hex(), base64.b64encode(root).decode()))
        print("  last chain hash: %s" % lv.prev.hex())
        print("  checkpoint: origin %s, log sig ok, cosignature/v1 time %s" % (cp["origin"], rep["log_cosig"]))
        print("  registry: %s" % ", ".join("%s%s %s" % (k, " (revoked)" if v["revoked"] else "", sorted(v["kinds"]))
                                          for k, v in lv.keys.items()))
        print("  bundle key lines: %d (%d not verifier keys); registered keys not listed: %s; "
              "listed keys not registered: %s" % (len(keys), unparsed, sorted(set(lv.keys) - reg),
                                                  sorted(reg - set(lv.keys))))
        print("  kinds: %s" % kinds)
    return lv, cp


def cmd_bundle(path, log_vkey):
    print("== part 1: bundle %s" % path)
    t = time.time()
    with open(path, "rb") as f:
        data = f.read()
    try:
        verify_bundle_bytes(data, log_vkey)
    except V.Invalid as e:
        print("  REJECTED: %s" % e)
        return False
    print("  PASS (%.1fs)" % (time.time() - t))
    return True


# ---------------------------------------------------------------- part 2: live

def get(url, binary=False):
    with urllib.request.urlopen(url, timeout=30) as r:
        b = r.read()
        return b if binary else b.decode()


def tile_path(n: int) -> str:
    """C2SP tlog-tiles index encoding: 3-digit groups, all but the last prefixed with 'x'."""
    s = "%03d" % (n % 1000)
    n //= 1000
    while n:
        s = "x%03d/" % (n % 1000) + s
        n //= 1000
    return s


class Tiles:
    def __init__(self, base, size):
        self.base, self.size, self.cache, self.fetched = base, size, {}, []

    def tile(self, L, N):
        """hashes of level 8L, nodes 256N.. as present in a tree of self.size."""
        key = (L, N)
        if key not in self.cache:
            nodes = self.size >> (8 * L)
            w = min(256, nodes - 256 * N)
            if w <= 0:
                raise V.Invalid("tile %d/%d beyond tree" % (L, N))
            p = "/tile/%d/%s" % (L, tile_path(N)) + ("" if w == 256 else ".p/%d" % w)
            b = get(self.base + p, binary=True)
            self.fetched.append(p)
            if len(b) != 32 * w:
                raise V.Invalid("tile %s: %d bytes, expected %d" % (p, len(b), 32 * w))
            self.cache[key] = [b[i:i + 32] for i in range(0, len(b), 32)]
        return self.cache[key]

    def node(self, level, index):
        """hash of the complete subtree of 2^level leaves at index (needs it inside size)."""
        if level % 8 == 0:
            return self.tile(level // 8, index >> 8)[index & 255]
        return V.node_hash(self.node(level - 1, 2 * index), self.node(level - 1, 2 * index + 1))

    def root(self):
        n = self.size
        # complete subtrees from the left, per binary decomposition of n
        subs, start = [], 0
        for level in range(n.bit_length() - 1, -1, -1):
            if n & (1 << level):
                subs.append(self.node(level, start >> level))
                start += 1 << level
        r = subs[-1]
        for h in reversed(subs[:-1]):
            r = V.node_hash(h, r)
        return r


def fetch_entries(base, size):
    entries, paths = [], []
    for N in range((size + 255) // 256):
        w = min(256, size - 256 * N)
        p = "/tile/entries/%s" % tile_path(N) + ("" if w == 256 else ".p/%d" % w)
        b = get(base + p, binary=True)
        paths.append(p)
        es = V.split_bundle(b)
        if len(es) != w:
            raise V.Invalid("%s: %d entries, expected %d" % (p, len(es), w))
        entries += es
    return entries, paths


def cmd_live(base, log_vkey, witnesses, quorum):
    print("== part 2: live server %s" % base)
    ok = True
    try:
        cpb = get(base + "/checkpoint", binary=True)
        cp, rep = V.verify_checkpoint(cpb, log_vkey, witnesses, quorum)
        print("  pinned checkpoint: size %d root %s" % (cp["size"], cp["root"].hex()))
        print("  log signature ok; log cosignature/v1 time %s; witnesses ok: %s; missing: %s" % (
            rep["log_cosig"], rep["witnesses_ok"], rep["witnesses_missing"]))
        size = cp["size"]
        entries, paths = fetch_entries(base, size)
        print("  fetched %d entry bundles (%s .. %s)" % (len(paths), paths[0], paths[-1]))
        lv = V.LogVerifier()
        for e in entries:
            lv.add(e)
        r1 = V.mth(lv.leaves)
        print("  root from entries: %s  %s" % (r1.hex(), "== checkpoint" if r1 == cp["root"] else "!= CHECKPOINT"))
        ok &= r1 == cp["root"]
        tiles = Tiles(base, size)
        r2 = tiles.root()
        print("  root from hash tiles: %s  %s (tiles %s)" % (r2.hex(), "== checkpoint" if r2 == cp["root"] else "!= CHECKPOINT",
                                                         tiles.fetched))
        ok &= r2 == cp["root"]
        # every leaf in level-0 tiles equals the entries' leaf hash
        lv0 = []
        for N in range((size + 255) // 256):
            lv0 += tiles.tile(0, N)
        same = lv0 == lv.leaves
        print("  level-0 tiles == leaf hashes of entry bundles: %s" % same)
        ok &= same
        if size >= 256:
            t1 = tiles.tile(1, 0)
            same1 = all(t1[i] == V.mth(lv.leaves[256 * i:256 * i + 256]) for i in range(len(t1)))
            print("  level-1 tile == subtree roots of entries: %s (%d hashes)" % (same1, len(t1)))
            ok &= same1
        # inclusion proof
        seq = size // 3
        pj = json.loads(get(base + "/v1/proofs/inclusion?seq=%d&size=%d" % (seq, size)))
        path = [V.b64d(h) for h in pj["hashes"]]
        inc = pj["index"] == seq and pj["tree_size"] == size and \
            V.verify_inclusion(lv.leaves[seq], seq, size, path, cp["root"])
        print("  inclusion proof seq=%d size=%d (%d hashes): %s" % (seq, size, len(path), "ok" if inc else "FAIL"))
        ok &= inc
        # consistency proof
        old = 1000
        cj = json.loads(get(base + "/v1/proofs/consistency?from=%d&to=%d" % (old, size)))
        cpath = [V.b64d(h) for h in cj["hashes"]]
        con = cj["old_size"] == old and cj["new_size"] == size and \
            V.verify_consistency(old, size, cpath, V.mth(lv.leaves[:old]), cp["root"])
        print("  consistency proof %d->%d (%d hashes): %s" % (old, size, len(cpath), "ok" if con else "FAIL"))
        ok &= con
        # the server's later checkpoint extends the pinned one
        cpb2 = get(base + "/checkpoint", binary=True)
        cp2, _ = V.verify_checkpoint(cpb2, log_vkey, witnesses, quorum)
        if cp2["size"] > size:
            cj2 = json.loads(get(base + "/v1/proofs/consistency?from=%d&to=%d" % (size, cp2["size"])))
            c2 = V.verify_consistency(size, cp2["size"], [V.b64d(h) for h in cj2["hashes"]], cp["root"], cp2["root"])
            print("  newer checkpoint %d is consistent with pinned %d: %s" % (cp2["size"], size, c2))
            ok &= c2
    except (V.Invalid, urllib.error.URLError, KeyError, ValueError) as e:
        print("  FAIL: %s: %s" % (type(e).__name__, e))
        return False
    print("  %s" % ("PASS" if ok else "FAIL"))
    return ok


# ---------------------------------------------------------------- part 3: proof of reserves

def cmd_reserves(base, log_vkey, witnesses, quorum, snapshot, account, secret_hex):
    print("== part 3: proof of reserves, snapshot %s" % snapshot)
    try:
        secret = bytes.fromhex(secret_hex)
        if len(secret) != 32:
            raise V.Invalid("secret is not 32 bytes")
        rid = V.record_id(secret)
        print("  record_id = %s" % rid.hex())
        sj = json.loads(get(base + "/v1/reserves/%s" % snapshot))
        # the entry: from its bytes (not from the server's decoded JSON)
        eb = bytes.fromhex(sj["entry"]["bytes"])
        h = V.decode_entry(eb)
        st = V.validate_statement(h["statement"], h["seq"])
        ev = st["event"]
        if ev["kind"] != "reserve_snapshot" or ev["snapshot"] != snapshot:
            raise V.Invalid("entry is not this snapshot's reserve_snapshot")
        # included in a checkpoint signed by the pinned key (+ witnesses)
        cp, rep = V.verify_checkpoint(sj["checkpoint"].encode(), log_vkey, witnesses, quorum)
        ip = sj["inclusion_proof"]
        if ip["index"] != h["seq"] or ip["tree_size"] != cp["size"] or not V.verify_inclusion(
                V.leaf_hash(eb), h["seq"], cp["size"], [V.b64d(x) for x in ip["hashes"]], cp["root"]):
            raise V.Invalid("snapshot entry inclusion proof fails")
        print("  snapshot entry seq %d included in checkpoint size %d (witnesses %s)" % (
            h["seq"], cp["size"], [n for n, _ in rep["witnesses_ok"]]))
        # signature: check against the registry replayed from the log's entries
        size = cp["size"]
        entries, _ = fetch_entries(base, size)
        lv = V.LogVerifier()
        for e in entries:
            lv.add(e)
        if V.mth(lv.leaves) != cp["root"] or entries[h["seq"]] != eb:
            raise V.Invalid("log does not match checkpoint / entry")
        print("  full log up to %d verified; entry bytes equal log entry %d" % (size, h["seq"]))
        # reserves = sum of the named attestations (§11.6)
        att = {}
        # §3.3: a snapshot that names an attestation twice fails a user's check of its reserves.
        if len(set(ev["attestations"])) != len(ev["attestations"]):
            raise V.Invalid("the snapshot names an attestation twice")
        for a in ev["attestations"]:
            ae = V.validate_statement(V.decode_entry(entries[a])["statement"], a)["event"]
            if ae["kind"] != "reserve_attestation":
                raise V.Invalid("attestation %d is not reserve_attestation" % a)
            att[ae["asset"]] = att.get(ae["asset"], 0) + int(ae["balance"])
        for a in ev["assets"]:
            print("    %-5s liabilities %s reserves %s ratio %s  attested %s" % (
                a["asset"], a["liabilities"], a["reserves"], a.get("ratio"), att.get(a["asset"], 0)))
        listed = {a["asset"]: int(a["reserves"]) for a in ev["assets"]}
        if any(k not in listed for k in att) or any(att.get(k, 0) != v for k, v in listed.items()):
            raise V.Invalid("reserves are not the sums of the attestations the snapshot names")
        pb = get(base + "/v1/reserves/%s/proof/%s" % (snapshot, rid.hex()), binary=True)
        print("  proof: %d bytes" % len(pb))
        pr = V.decode_por_proof(pb)
        # unique encoding: re-encode
        enc = (V.POR_PROOF_MAGIC + bytes([len(pr["snapshot"].encode())]) + pr["snapshot"].encode() + pr["record_id"] +
               bytes([pr["assets"], pr["height"]]) + pr["index"].to_bytes(8, "big") +
               b"".join(V.encode_amount(x) for x in pr["balances"]) +
               b"".join(hh + b"".join(V.encode_amount(x) for x in s) for hh, s in pr["siblings"]))
        if enc != pb:
            raise V.Invalid("proof is not in its unique encoding")
        root = V.verify_por_proof(pr, secret, account, ev)
        print("  slot %d of %d, height %d" % (pr["index"], ev["padded_size"], pr["height"]))
        for a, b_ in zip(ev["assets"], pr["balances"]):
            print("    user %-5s %s" % (a["asset"], b_))
        print("  proof leads to liabilities_root %s and totals %s" % (root[0].hex(), root[1]))
    except (V.Invalid, urllib.error.URLError, KeyError, ValueError) as e:
        print("  FAIL: %s: %s" % (type(e).__name__, e))
        return False
    print("  PASS")
    return True


# ---------------------------------------------------------------- part 4: negative checks

def flippable(line: bytes) -> int:
    """The first of a base64 line's first 40 characters that is still a base64 digit with its
    lowest bit flipped (not A, Z, a, z, +, /)."""
    for i, c in enumerate(line[:40]):
        if chr(c).isalnum() and chr(c) not in "AZaz":
            return i
    raise V.Invalid("no character to flip in %r" % line)


def cmd_negative(path, log_vkey):
    print("== part 4: negative checks on %s" % path)
    with open(path, "rb") as f:
        data = f.read()
    keys, cpb, entries = V.parse_bundle(data)
    # offsets: locate entry 7 in the file
    cp_start = data.index(cpb)
    pos = data.index(b"entries ", cp_start + len(cpb))
    pos = data.index(b"\n", pos) + 1
    offs = []
    for e in entries:
        offs.append(pos + 2)
        pos += 2 + len(e)
    k = 7
    cases = {
        "(a) statement byte flipped (entry %d, a digit of created_at_ms: still canonical JSON)" % k:
            offs[k] + V.HDR + entries[k][V.HDR:].index(b'"created_at_ms":') + 20,
        "(a2) statement byte flipped (entry %d, inside a JSON string)" % k:
            offs[k] + V.HDR + entries[k][V.HDR:].index(b'"idempotency_key":"') + 20,
        "(a') statement byte flipped (entry %d, a structural '{')" % k: offs[k] + V.HDR,
        "(b) signature byte flipped (entry %d)" % k: offs[k] + 49 + 10,
        "(c) checkpoint byte flipped (root line, still valid base64)":
            cp_start + cpb.index(b"\n", cpb.index(b"\n") + 1) + 1 + flippable(cpb.split(b"\n")[2]),
        "(c4) checkpoint byte flipped (root line, invalid base64)":
            cp_start + cpb.index(b"\n", cpb.index(b"\n") + 1) + 5,
        "(c') checkpoint byte flipped (signature line)": cp_start + len(cpb) - 10,
        "(c'') checkpoint byte flipped (size line)": cp_start + cpb.index(b"\n") + 2,
    }
    allok = True
    for name, off in cases.items():
        bad = bytearray(data)
        bad[off] ^= 0x01
        try:
            verify_bundle_bytes(bytes(bad), log_vkey, quiet=True)
            print("  %s @%d: ACCEPTED  <-- FAIL" % (name, off))
            allok = False
        except (V.Invalid, UnicodeDecodeError, ValueError) as e:
            print("  %s @%d: rejected: %s" % (name, off, e))
    print("  %s" % ("PASS" if allok else "FAIL"))
    return allok


def main():
    ap = argparse.ArgumentParser(description="An independent vigil verifier, written from docs/FORMAT.md alone.")
    ap.add_argument("cmd", choices=["kat", "bundle", "live", "reserves", "negative"])
    ap.add_argument("target", nargs="?", help="the bundle file (bundle, negative) or the public URL (live, reserves)")
    ap.add_argument("--log-key", help="the log's verifier key file (every command but kat)")
    ap.add_argument("--witness", action="append", default=[], help="a witness's cosigner key file (repeatable)")
    ap.add_argument("--quorum", type=int)
    ap.add_argument("--snapshot", help="reserves: the snapshot id")
    ap.add_argument("--secret", help="reserves: the user's record secret (hex)")
    ap.add_argument("--account", help="reserves: the user's account id")
    a = ap.parse_args()
    if a.cmd == "kat":
        import kat
        print("== known answers (FORMAT.md §6.1, §8, §11.5) and format rules")
        ok = kat.run()
    else:
        if not a.target or not a.log_key:
            ap.error("%s needs a target and --log-key" % a.cmd)
        lk = read_vkey(a.log_key)
        wit = [read_vkey(w) for w in a.witness]
        if a.cmd == "bundle":
            ok = cmd_bundle(a.target, lk)
        elif a.cmd == "negative":
            ok = cmd_negative(a.target, lk)
        elif a.cmd == "live":
            ok = cmd_live(a.target.rstrip("/"), lk, wit, a.quorum)
        else:
            if not a.snapshot or not a.secret or not a.account:
                ap.error("reserves needs --snapshot, --account and --secret")
            ok = cmd_reserves(a.target.rstrip("/"), lk, wit, a.quorum, a.snapshot, a.account, a.secret)
    print("== %s %s" % (a.cmd, "PASS" if ok else "FAIL"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
