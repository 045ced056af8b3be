"""vigil format v2, implemented from docs/FORMAT.md only."""
import base64
import hashlib
import json
import re
import unicodedata

import blake3

import ed


class Invalid(Exception):
    pass


def D(ctx: str, data: bytes) -> bytes:
    return blake3.blake3(data, derive_key_context=ctx).digest()


def b64d(s: str) -> bytes:
    """Canonical RFC 4648 §4 base64 only (FORMAT.md, Conventions): padded, the unused bits of the
    last character zero, no other characters. Any other spelling is refused."""
    try:
        raw = base64.b64decode(s, validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII str
        raise Invalid("not base64: %r" % (s[:80],))
    if base64.b64encode(raw).decode() != s:
        raise Invalid("not canonical base64: %r" % (s[:80],))
    return raw


def b64e(b: bytes) -> str:
    return base64.b64encode(b).decode()


# ---------------------------------------------------------------- §2 canonical JSON

class _Float(Exception):
    pass


def _no_float(s):
    raise Invalid("float in JSON: " + s)


def _no_const(s):
    raise Invalid("non-JSON constant: " + s)


I64_MIN = -2**63


def _int(s):
    # §2: integers from -2^63 to 2^64 - 1. Check the length before int(), whose limit (4300
    # digits) would raise a ValueError rather than refuse the JSON.
    if len(s.lstrip("-")) > 20:
        raise Invalid("integer out of range in JSON")
    v = int(s)
    if not I64_MIN <= v <= U64:
        raise Invalid("integer out of range in JSON: " + s)
    return v


def _pairs(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise Invalid("duplicate key " + k)
        d[k] = v
    return d


def parse_json(b: bytes):
    try:
        s = b.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise Invalid("not UTF-8: %s" % e)
    try:
        return json.loads(s, object_pairs_hook=_pairs, parse_float=_no_float, parse_constant=_no_const,
                          parse_int=_int)
    except json.JSONDecodeError as e:
        raise Invalid("bad JSON: %s" % e)


_ESC = {'"': '\\"', '\\': '\\\\', '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r'}


def _str(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in _ESC:
            out.append(_ESC[ch])
        elif ord(ch) < 0x20:
            out.append('\\u%04x' % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return ''.join(out)


def canon(v) -> str:
    if v is True:
        return 'true'
    if v is False:
        return 'false'
    if v is None:
        return 'null'
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return _str(v)
    if isinstance(v, list):
        return '[' + ','.join(canon(x) for x in v) + ']'
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: kv[0].encode('utf-8'))
        return '{' + ','.join(_str(k) + ':' + canon(x) for k, x in items) + '}'
    raise Invalid("unserializable %r" % (v,))


def canon_bytes(v) -> bytes:
    # surrogates (lone \ud800 escapes) cannot be UTF-8: reject
    try:
        return canon(v).encode('utf-8')
    except UnicodeEncodeError:
        raise Invalid("lone surrogate in string")


# ---------------------------------------------------------------- §3.5 keys

def key_id(name: str, alg: int, pub: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + pub).digest()[:4]


# Unicode White_Space (FORMAT.md §3.3, §3.5): not Python's str.isspace, which also takes
# U+001C-U+001F.
WHITE_SPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" +
                        "".join(chr(c) for c in range(0x2000, 0x200B)))
_NAME_CHAR = "[^+" + "".join("\\u%04x" % ord(c) for c in sorted(WHITE_SPACE)) + "]"
_NAME = re.compile("^" + _NAME_CHAR + "+$")


def check_name(name):
    if not name or not _NAME.fullmatch(name):
        raise Invalid("bad key name %r" % name)


def parse_vkey(s: str, alg_expected=None):
    """name+hexid+base64(alg||pub) -> (name, id bytes, alg, pub)."""
    parts = s.split('+')
    # name has no '+', but base64 may contain '+': name is parts[0], id parts[1], rest rejoined
    if len(parts) < 3:
        raise Invalid("bad verifier key %r" % s)
    name, hexid, b64 = parts[0], parts[1], '+'.join(parts[2:])
    check_name(name)
    if not re.fullmatch(r'[0-9a-f]{8}', hexid):
        raise Invalid("bad key id in %r" % s)
    raw = b64d(b64)
    if len(raw) != 33:
        raise Invalid("bad key length in %r" % s)
    alg, pub = raw[0], raw[1:]
    if alg_expected is not None and alg != alg_expected:
        raise Invalid("key %r: alg %#x, expected %#x" % (s, alg, alg_expected))
    if key_id(name, alg, pub) != bytes.fromhex(hexid):
        raise Invalid("key id of %r does not match name and key" % s)
    A = ed.decode_point(pub, canonical=False)
    if A is None or ed.is_small_order(A):
        raise Invalid("public key of %r is not a valid / is small-order point" % s)
    return name, bytes.fromhex(hexid), alg, pub


# ---------------------------------------------------------------- §3.3 events

KINDS = ["withdrawal", "alarm", "freeze", "unfreeze", "credential_reset", "maintenance",
         "safu_contribution", "safu_payout", "incident_open", "incident_update", "incident_close",
         "reserve_attestation", "reserve_snapshot", "key_registered", "key_revoked"]
SEVERITY = {"info", "low", "medium", "high", "critical"}
U64 = 2**64 - 1
_ID = re.compile(r'^[A-Za-z0-9._:/\-]{1,128}$')
_ASSET = re.compile(r'^[A-Z0-9]{2,16}$')
_AMOUNT = re.compile(r'^(0|[1-9][0-9]{0,37})$')
_HEX64 = re.compile(r'^[0-9a-f]{64}$')
_KEYREF = re.compile("^(" + _NAME_CHAR + "+)\\+([0-9a-f]{8})$")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def t_id(v, f):
    if not isinstance(v, str) or not _ID.fullmatch(v):
        raise Invalid("%s: not an id" % f)


def t_text(v, f, maxb=4096):
    if not isinstance(v, str):
        raise Invalid("%s: not text" % f)
    n = len(v.encode('utf-8'))
    if n < 1 or n > maxb:
        raise Invalid("%s: text length %d" % (f, n))
    if all(ch in WHITE_SPACE for ch in v):
        raise Invalid("%s: only white space" % f)
    for ch in v:
        if ch != '\n' and unicodedata.category(ch) == 'Cc':
            raise Invalid("%s: control character U+%04X" % (f, ord(ch)))


def t_asset(v, f):
    if not isinstance(v, str) or not _ASSET.fullmatch(v):
        raise Invalid("%s: not an asset" % f)


def t_amount(v, f, positive=False):
    if not isinstance(v, str) or not _AMOUNT.fullmatch(v):
        raise Invalid("%s: not an amount" % f)
    if positive and v == "0":
        raise Invalid("%s: must be > 0" % f)
    return int(v)


def t_u64(v, f):
    if not _is_int(v) or v < 0 or v > U64:
        raise Invalid("%s: not u64" % f)


def t_private(v, f):
    if not isinstance(v, dict) or set(v) != {"commitment"} or not isinstance(v["commitment"], str) \
            or not _HEX64.fullmatch(v["commitment"]):
        raise Invalid("%s: not a private commitment" % f)


def t_enum(v, f, allowed):
    if not isinstance(v, str) or v not in allowed:
        raise Invalid("%s: %r not one of %s" % (f, v, sorted(allowed)))


def t_list(v, f, elem, nonempty=True, maxn=1024):
    if not isinstance(v, list):
        raise Invalid("%s: not an array" % f)
    if nonempty and not v:
        raise Invalid("%s: empty" % f)
    if len(v) > maxn:
        raise Invalid("%s: more than %d items" % (f, maxn))
    for i, x in enumerate(v):
        elem(x, "%s[%d]" % (f, i))


def t_scope(v, f):
    if not isinstance(v, dict) or "target" not in v:
        raise Invalid("%s: not a scope" % f)
    t = v["target"]
    if t in ("withdrawals", "deposits", "trading"):
        if set(v) != {"target"}:
            raise Invalid("%s: unknown fields" % f)
    elif t == "wallets":
        if set(v) != {"target", "wallets"}:
            raise Invalid("%s: fields" % f)
        t_list(v["wallets"], f + ".wallets", t_id)
    elif t == "accounts":
        if set(v) != {"target", "accounts"}:
            raise Invalid("%s: fields" % f)
        t_list(v["accounts"], f + ".accounts", t_private)
    else:
        raise Invalid("%s: unknown target %r" % (f, t))


def _fields(ev, required, optional):
    keys = set(ev) - {"kind"}
    missing = set(required) - keys
    if missing:
        raise Invalid("%s: missing %s" % (ev["kind"], sorted(missing)))
    unknown = keys - set(required) - set(optional)
    if unknown:
        raise Invalid("%s: unknown fields %s" % (ev["kind"], sorted(unknown)))
    for k, fn in list(required.items()) + [(k, fn) for k, fn in optional.items() if k in ev]:
        fn(ev[k], k)


def ratio_str(reserves: int, liabilities: int) -> str:
    q = reserves * 10000 // liabilities
    return "%d.%04d" % (q // 10000, q % 10000)


def validate_event(ev, seq):
    if not isinstance(ev, dict) or not isinstance(ev.get("kind"), str):
        raise Invalid("event without kind")
    k = ev["kind"]
    idf = t_id
    sev = lambda v, f: t_enum(v, f, SEVERITY)
    if k == "withdrawal":
        _fields(ev, {"withdrawal_id": idf,
                     "stage": lambda v, f: t_enum(v, f, {"requested", "approved", "executed", "rejected"}),
                     "asset": t_asset, "amount": lambda v, f: t_amount(v, f, True), "destination": idf,
                     "wallet": idf, "wallet_tier": lambda v, f: t_enum(v, f, {"hot", "cold"}),
                     "account": t_private},
                {"tx_id": idf, "incident": idf, "reason": t_text})
        if ("tx_id" in ev) != (ev["stage"] == "executed"):
            raise Invalid("withdrawal: tx_id present iff executed")
        if ev["stage"] == "rejected" and "reason" not in ev:
            raise Invalid("withdrawal: reason required when rejected")
    elif k == "alarm":
        _fields(ev, {"rule": idf, "severity": sev, "summary": t_text,
                     "refs": lambda v, f: t_list(v, f, t_u64, nonempty=False)}, {"incident": idf})
        for r in ev["refs"]:
            if r >= seq:
                raise Invalid("alarm ref %d not < %d" % (r, seq))
    elif k in ("freeze", "unfreeze"):
        _fields(ev, {"scope": t_scope, "reason": t_text}, {"incident": idf})
    elif k == "credential_reset":
        _fields(ev, {"credentials": lambda v, f: t_list(v, f, lambda x, g: t_enum(
                        x, g, {"api_keys", "two_factor", "password", "withdrawal_allowlist"})),
                     "scope": lambda v, f: t_enum(v, f, {"all_users", "affected_accounts"}),
                     "reason": t_text}, {"affected_accounts": t_u64, "incident": idf})
        if "affected_accounts" in ev and ev["scope"] != "affected_accounts":
            raise Invalid("affected_accounts only with scope affected_accounts")
    elif k == "maintenance":
        _fields(ev, {"notice": t_text, "starts_at_ms": t_u64}, {"ends_at_ms": t_u64})
        if "ends_at_ms" in ev and ev["ends_at_ms"] < ev["starts_at_ms"]:
            raise Invalid("maintenance ends before start")
    elif k == "safu_contribution":
        def bps(v, f):
            t_u64(v, f)
            if not 1 <= v <= 10000:
                raise Invalid("fee_share_bps out of range")
        _fields(ev, {"asset": t_asset, "amount": lambda v, f: t_amount(v, f, True),
                     "period_start_ms": t_u64, "period_end_ms": t_u64, "fee_share_bps": bps}, {})
        if ev["period_end_ms"] < ev["period_start_ms"]:
            raise Invalid("period end < start")
    elif k == "safu_payout":
        _fields(ev, {"incident": idf, "asset": t_asset, "amount": lambda v, f: t_amount(v, f, True),
                     "covers": t_text}, {})
    elif k == "incident_open":
        _fields(ev, {"incident": idf, "title": lambda v, f: t_text(v, f, 200), "summary": t_text,
                     "severity": sev}, {})
    elif k == "incident_update":
        _fields(ev, {"incident": idf, "summary": t_text}, {"severity": sev})
    elif k == "incident_close":
        _fields(ev, {"incident": idf, "summary": t_text}, {})
    elif k == "reserve_attestation":
        _fields(ev, {"asset": t_asset, "wallet": idf, "address": idf, "balance": t_amount,
                     "block_height": t_u64, "as_of_ms": t_u64}, {})
    elif k == "reserve_snapshot":
        def ps(v, f):
            t_u64(v, f)
            if v < 2 or v > 2**40 or v & (v - 1):
                raise Invalid("padded_size %r" % v)

        def hex64(v, f):
            if not isinstance(v, str) or not _HEX64.fullmatch(v):
                raise Invalid("%s: not 64 hex" % f)

        def asset_item(v, f):
            if not isinstance(v, dict):
                raise Invalid(f + ": not an object")
            req = {"asset", "liabilities", "reserves"}
            if not req <= set(v) or set(v) - req - {"ratio"}:
                raise Invalid(f + ": fields")
            t_asset(v["asset"], f + ".asset")
            li = t_amount(v["liabilities"], f + ".liabilities")
            re_ = t_amount(v["reserves"], f + ".reserves")
            if li == 0:
                if "ratio" in v:
                    raise Invalid(f + ": ratio present with zero liabilities")
            else:
                if v.get("ratio") != ratio_str(re_, li):
                    raise Invalid(f + ": ratio %r != %r" % (v.get("ratio"), ratio_str(re_, li)))
        _fields(ev, {"snapshot": idf, "cut_off_ms": t_u64, "liabilities_root": hex64, "padded_size": ps,
                     "assets": lambda v, f: t_list(v, f, asset_item, maxn=64),
                     "attestations": lambda v, f: t_list(v, f, t_u64)}, {})
        names = [a["asset"] for a in ev["assets"]]
        if len(set(names)) != len(names):
            raise Invalid("snapshot assets not distinct")
        for a in ev["attestations"]:
            if a >= seq:
                raise Invalid("attestation %d not < %d" % (a, seq))
    elif k == "key_registered":
        def vk(v, f):
            if not isinstance(v, str):
                raise Invalid(f + ": not a string")
            parse_vkey(v, alg_expected=0x01)
        _fields(ev, {"key": vk, "kinds": lambda v, f: t_list(v, f, lambda x, g: t_enum(x, g, set(KINDS)))}, {})
    elif k == "key_revoked":
        def kr(v, f):
            if not isinstance(v, str) or not _KEYREF.fullmatch(v):
                raise Invalid(f + ": not name+hexid")
        _fields(ev, {"key": kr, "reason": t_text}, {})
    else:
        raise Invalid("unknown kind %r" % k)


# ---------------------------------------------------------------- §3.1 statement

def validate_statement(b: bytes, seq: int):
    st = parse_json(b)
    if not isinstance(st, dict):
        raise Invalid("statement not an object")
    if set(st) != {"created_at_ms", "event", "idempotency_key", "key"}:
        raise Invalid("statement members %s" % sorted(st))
    t_u64(st["created_at_ms"], "created_at_ms")
    t_id(st["idempotency_key"], "idempotency_key")
    if not isinstance(st["key"], str) or not _KEYREF.fullmatch(st["key"]):
        raise Invalid("statement key not name+hexid")
    validate_event(st["event"], seq)
    if canon_bytes(st) != b:
        raise Invalid("statement not in its canonical form (NotItsForm)")
    return st


STATEMENT_PREFIX = b"vigil statement v1\n"


# ---------------------------------------------------------------- §4 entries

HDR = 113


def decode_entry(e: bytes):
    if len(e) > 65535:
        raise Invalid("entry > 65535 bytes")
    if len(e) < HDR + 2:
        raise Invalid("entry too short")
    if e[0] != 2:
        raise Invalid("format version %d" % e[0])
    return {
        "seq": int.from_bytes(e[1:9], "big"),
        "time_ms": int.from_bytes(e[9:17], "big"),
        "prev": e[17:49],
        "sig": e[49:113],
        "statement": e[113:],
    }


def chain_hash(e: bytes) -> bytes:
    return D("vigil 2026-11-23 entry chain v1", e)


def commitment(salt: bytes, value: str) -> bytes:
    return D("vigil 2026-11-23 private field commitment v1", salt + value.encode())


# ---------------------------------------------------------------- §7 registry + full log check

class LogVerifier:
    """Incremental verifier of entries 0..n (§4-§7)."""

    def __init__(self):
        self.n = 0
        self.prev = bytes(32)
        self.last_time = None
        self.keys = {}  # name+hexid -> dict(pub, kinds, revoked)
        self.leaves = []
        self.pending_revocations = []

    def add(self, e: bytes):
        n = self.n
        h = decode_entry(e)
        if h["seq"] != n:
            raise Invalid("entry %d: seq is %d" % (n, h["seq"]))
        if self.last_time is not None and h["time_ms"] < self.last_time:
            raise Invalid("entry %d: time_ms goes backwards" % n)
        if h["prev"] != self.prev:
            raise Invalid("entry %d: prev does not match hash of entry %d" % (n, n - 1))
        try:
            st = validate_statement(h["statement"], n)
        except Invalid as x:
            raise Invalid("entry %d: %s" % (n, x))
        ev = st["event"]
        kref = st["key"]
        # revocations take effect from the next entry on
        for r in self.pending_revocations:
            self.keys[r]["revoked"] = True
        self.pending_revocations = []
        if n == 0:
            if ev["kind"] != "key_registered":
                raise Invalid("entry 0: genesis is not key_registered")
            name, kid, alg, pub = parse_vkey(ev["key"], 0x01)
            if "%s+%s" % (name, kid.hex()) != kref:
                raise Invalid("entry 0: genesis key is not the signing key")
            if "key_registered" not in ev["kinds"]:
                raise Invalid("entry 0: genesis kinds lack key_registered")
            signer = pub
        else:
            k = self.keys.get(kref)
            if k is None:
                raise Invalid("entry %d: unknown key %s" % (n, kref))
            if k["revoked"]:
                raise Invalid("entry %d: key %s revoked" % (n, kref))
            if ev["kind"] not in k["kinds"]:
                raise Invalid("entry %d: key %s not allowed kind %s" % (n, kref, ev["kind"]))
            signer = k["pub"]
        if not ed.verify_zip215(signer, STATEMENT_PREFIX + h["statement"], h["sig"]):
            raise Invalid("entry %d: bad signature" % n)
        # registry effects
        if ev["kind"] == "key_registered":
            name, kid, alg, pub = parse_vkey(ev["key"], 0x01)
            ref = "%s+%s" % (name, kid.hex())
            old = self.keys.get(ref)
            if old is not None and old["pub"] != pub:
                raise Invalid("entry %d: different public key under %s" % (n, ref))
            self.keys[ref] = {"pub": pub, "kinds": set(ev["kinds"]), "revoked": False}
        elif ev["kind"] == "key_revoked":
            if ev["key"] not in self.keys:
                raise Invalid("entry %d: revoking unknown key %s" % (n, ev["key"]))
            self.pending_revocations.append(ev["key"])
        self.prev = chain_hash(e)
        self.last_time = h["time_ms"]
        self.leaves.append(leaf_hash(e))
        self.n += 1
        return h, st


# ---------------------------------------------------------------- §5 Merkle

def leaf_hash(e: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + e).digest()


def node_hash(l: bytes, r: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + l + r).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) (§5)


def mth(leaves):
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(leaf: bytes, index: int, size: int, path, root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index >= size or len(path) > 64:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, path, first_hash: bytes, second_hash: bytes) -> bool:
    """RFC 9162 §2.1.4.2."""
    if first > second or len(path) > 65:
        return False
    if first == 0:
        # §5: from size 0 the proof is empty and the old root is MTH({}), the only empty root
        if len(path) != 0 or first_hash != EMPTY_ROOT:
            return False
        if second > 0:
            return True
    if first == second:
        return len(path) == 0 and first_hash == second_hash
    path = list(path)
    if first & (first - 1) == 0:  # power of two
        path = [first_hash] + path
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


# ---------------------------------------------------------------- §6 checkpoints / signed notes

EM = "\u2014"


MAX_NOTE_BYTES = 1_000_000
MAX_NOTE_SIGS = 100
_DEC_U64 = re.compile(r'0|[1-9][0-9]{0,19}')


def dec_u64(s: str, what: str) -> int:
    """A u64 in decimal without sign or leading zeros (§6 tree size, §10 bundle numbers). The
    length bound comes first: int() refuses strings over 4300 digits with a ValueError."""
    if not _DEC_U64.fullmatch(s):
        raise Invalid("%s: not a decimal u64 without sign or leading zeros: %r" % (what, s[:40]))
    v = int(s)
    if v > U64:
        raise Invalid("%s: %s exceeds 2^64 - 1" % (what, s))
    return v


def parse_note(text: bytes):
    """A signed note (§6, rules 1-5 of Parsing), then its body as a checkpoint."""
    if len(text) > MAX_NOTE_BYTES:
        raise Invalid("note: more than %d bytes" % MAX_NOTE_BYTES)
    try:
        s = text.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("note: not UTF-8")
    for ch in s:
        if ch < "\x20" and ch != "\n":
            raise Invalid("note: control character U+%04X" % ord(ch))
    i = s.rfind("\n\n")  # the note splits at its last blank line
    if i < 0:
        raise Invalid("note: no blank line")
    body = s[:i + 1]
    sigpart = s[i + 2:]
    if not sigpart.endswith("\n"):
        raise Invalid("note: signature block must be lines ended by newline")
    sigs = []
    for line in sigpart[:-1].split("\n"):
        if not line.startswith(EM + " "):
            raise Invalid("note: bad signature line %r" % line[:80])
        name, sp, sb = line[2:].partition(" ")
        if not sp:
            raise Invalid("note: bad signature line %r" % line[:80])
        try:
            check_name(name)  # every line, known key or not
        except Invalid:
            raise Invalid("note: bad key name in signature line %r" % line[:80])
        raw = b64d(sb)
        if len(raw) < 5:
            raise Invalid("note: short signature")
        sigs.append((name, raw[:4], raw[4:]))
        if len(sigs) > MAX_NOTE_SIGS:
            raise Invalid("note: more than %d signature lines" % MAX_NOTE_SIGS)
    lines = body.split("\n")[:-1]
    if len(lines) < 3:
        raise Invalid("checkpoint: body has < 3 lines")
    origin, size_s, root_s = lines[0], lines[1], lines[2]
    if not origin:
        raise Invalid("checkpoint: empty origin")
    size = dec_u64(size_s, "checkpoint size")
    root = b64d(root_s)
    if len(root) != 32:
        raise Invalid("checkpoint: root not 32 bytes")
    if any(not e for e in lines[3:]):
        raise Invalid("checkpoint: empty extension line")
    return {"body": body.encode("utf-8"), "origin": origin, "size": size, "root": root,
            "ext": lines[3:], "sigs": sigs}


def cosig_message(ts: int, body: bytes) -> bytes:
    return b"cosignature/v1\ntime %d\n" % ts + body


def verify_checkpoint(text: bytes, log_vkey: str, witnesses=(), quorum=None):
    """Returns (parsed note, report dict). Raises Invalid."""
    name, kid, alg, pub = parse_vkey(log_vkey, 0x01)
    cp = parse_note(text)
    if cp["origin"] != name:
        raise Invalid("checkpoint origin %r != log key name %r" % (cp["origin"], name))
    cosid = key_id(name, 0x04, pub)
    rep = {"log_sig": False, "log_cosig": None, "witnesses_ok": [], "witnesses_missing": []}
    seen = set()
    wit = {}
    for w in witnesses:
        wn, wid, walg, wpub = parse_vkey(w, 0x04)
        if wpub == pub:
            raise Invalid("policy lists the log's own key as a witness")
        if any(p == wpub and k != (wn, wid) for k, p in wit.items()):
            raise Invalid("policy lists one witness key under two names")
        wit[(wn, wid)] = wpub
    if quorum is not None and not (1 if wit else 0) <= quorum <= len(wit):
        raise Invalid("policy quorum %d is not between %d and its %d witnesses" % (quorum, 1 if wit else 0, len(wit)))
    for sname, sid, sig in cp["sigs"]:
        if (sname, sid) in seen:
            continue
        seen.add((sname, sid))
        if sname == name and sid == kid:
            if not ed.verify_rfc8032(pub, cp["body"], sig):
                raise Invalid("checkpoint: log signature does not verify")
            rep["log_sig"] = True
        elif sname == name and sid == cosid:
            if len(sig) != 72:
                raise Invalid("checkpoint: log cosignature not 72 bytes")
            ts = int.from_bytes(sig[:8], "big")
            if ts > 2**63 - 1 or not ed.verify_strict(pub, cosig_message(ts, cp["body"]), sig[8:]):
                raise Invalid("checkpoint: log cosignature/v1 does not verify")
            rep["log_cosig"] = ts
        elif (sname, sid) in wit:
            if len(sig) != 72:
                raise Invalid("witness %s: cosignature not 72 bytes" % sname)
            ts = int.from_bytes(sig[:8], "big")
            if ts > 2**63 - 1 or not ed.verify_strict(wit[(sname, sid)], cosig_message(ts, cp["body"]), sig[8:]):
                raise Invalid("witness %s: cosignature does not verify" % sname)
            rep["witnesses_ok"].append((sname, ts))
    if not rep["log_sig"]:
        raise Invalid("checkpoint: no signature by the pinned log key")
    okn = {n for n, _ in rep["witnesses_ok"]}
    rep["witnesses_missing"] = [n for (n, _) in wit if n not in okn]
    if witnesses:
        q = len(wit) if quorum is None else quorum
        if len(rep["witnesses_ok"]) < q:
            raise Invalid("checkpoint: %d of %d cosignatures, missing %s" % (
                len(rep["witnesses_ok"]), q, rep["witnesses_missing"]))
    return cp, rep


# ---------------------------------------------------------------- §10 bundles

def parse_bundle(b: bytes):
    """§10. Returns (key lines as raw bytes, unparsed: they are informational), note, entries."""
    pos = 0

    def line() -> bytes:
        nonlocal pos
        j = b.find(b"\n", pos)
        if j < 0:
            raise Invalid("bundle: cut short (a line without its newline)")
        r = b[pos:j]
        pos = j + 1
        return r

    def num(word):
        l = line()
        if not l.startswith(word.encode() + b" "):
            raise Invalid("bundle: expected %r, got %r" % (word, l[:40]))
        try:
            digits = l[len(word) + 1:].decode("ascii")
        except UnicodeDecodeError:
            raise Invalid("bundle: expected %r <number>, got %r" % (word, l[:40]))
        return dec_u64(digits, "bundle %r line" % word)

    if not b.startswith(b"vigil-export v1\n"):
        raise Invalid("bundle: bad magic")
    pos = len(b"vigil-export v1\n")
    nk = num("keys")
    keys = []
    for _ in range(nk):  # skipped unparsed (§10): any bytes up to the newline
        keys.append(line())
    ln = num("checkpoint")
    cp = b[pos:pos + ln]
    if len(cp) != ln:
        raise Invalid("bundle: truncated checkpoint")
    pos += ln
    cnt = num("entries")
    entries = []
    for _ in range(cnt):
        if pos + 2 > len(b):
            raise Invalid("bundle: truncated")
        el = int.from_bytes(b[pos:pos + 2], "big")
        pos += 2
        if pos + el > len(b):
            raise Invalid("bundle: truncated entry")
        entries.append(b[pos:pos + el])
        pos += el
    if pos != len(b):
        raise Invalid("bundle: trailing bytes")
    return keys, cp, entries


def split_bundle(data: bytes):
    """tlog-tiles entry bundle -> list of entries."""
    out, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise Invalid("entry bundle truncated")
        el = int.from_bytes(data[pos:pos + 2], "big")
        pos += 2
        if pos + el > len(data):
            raise Invalid("entry bundle truncated")
        out.append(data[pos:pos + el])
        pos += el
    return out


# ---------------------------------------------------------------- §11 proof of reserves

CTX_RSECRET = "vigil 2026-11-24 liabilities record secret v1"
CTX_RID = "vigil 2026-11-24 liabilities record id v1"
CTX_PADKEY = "vigil 2026-11-24 liabilities padding key v1"
CTX_LEAF = "vigil 2026-11-25 liabilities leaf v2"
CTX_PADLEAF = "vigil 2026-11-24 liabilities padding leaf v1"
CTX_NODE = "vigil 2026-11-24 liabilities node v1"
POR_PROOF_MAGIC = b"VLP\x02"  # §11.4: "VLP" and the proof format version
U128 = 2**128


def record_secret(snapshot_secret: bytes, account: str) -> bytes:
    return D(CTX_RSECRET, snapshot_secret + account.encode())


def record_id(rs: bytes) -> bytes:
    return D(CTX_RID, rs)[:16]


def padding_key(snapshot_secret: bytes) -> bytes:
    return D(CTX_PADKEY, snapshot_secret)


def sums_bytes(sums):
    for s in sums:
        if not 0 <= s < U128:
            raise Invalid("sum out of u128")
    return b"".join(s.to_bytes(16, "big") for s in sums)


def por_leaf(rs: bytes, sums, account: str):
    return D(CTX_LEAF, rs + sums_bytes(sums) + account.encode("utf-8")), list(sums)


def por_padding(pk: bytes, slot: int, nassets: int):
    return D(CTX_PADLEAF, pk + slot.to_bytes(8, "big")), [0] * nassets


def por_node(l, r):
    h = D(CTX_NODE, l[0] + sums_bytes(l[1]) + r[0] + sums_bytes(r[1]))
    s = [a + b for a, b in zip(l[1], r[1])]
    if any(x >= U128 for x in s):
        raise Invalid("sum overflow")
    return h, s


def decode_por_proof(b: bytes):
    pos = 0

    def take(n):
        nonlocal pos
        if pos + n > len(b):
            raise Invalid("proof truncated")
        r = b[pos:pos + n]
        pos += n
        return r

    def amount():
        k = take(1)[0]
        if k > 16:
            raise Invalid("amount length %d" % k)
        v = take(k)
        if k and v[0] == 0:
            raise Invalid("amount with leading zero byte")
        return int.from_bytes(v, "big")

    if take(4) != POR_PROOF_MAGIC:
        raise Invalid("bad proof magic")
    n = take(1)[0]
    snap = take(n).decode("utf-8")
    rid = take(16)
    A = take(1)[0]
    if not 1 <= A <= 64:
        raise Invalid("asset count")
    h = take(1)[0]
    if not 1 <= h <= 40:
        raise Invalid("height")
    index = int.from_bytes(take(8), "big")
    if index >= 2**h:
        raise Invalid("index >= 2^h")
    bal = [amount() for _ in range(A)]
    sibs = []
    for _ in range(h):
        hh = take(32)
        sibs.append((hh, [amount() for _ in range(A)]))
    if pos != len(b):
        raise Invalid("bytes after proof")
    return {"snapshot": snap, "record_id": rid, "assets": A, "height": h, "index": index,
            "balances": bal, "siblings": sibs}


def encode_amount(v):
    if v == 0:
        return b"\x00"
    bb = v.to_bytes((v.bit_length() + 7) // 8, "big")
    return bytes([len(bb)]) + bb


def verify_por_proof(proof, secret: bytes, account: str, snapshot_event):
    ev = snapshot_event
    if proof["snapshot"] != ev["snapshot"]:
        raise Invalid("proof snapshot %r != entry snapshot %r" % (proof["snapshot"], ev["snapshot"]))
    if record_id(secret) != proof["record_id"]:
        raise Invalid("record id does not match secret")
    h = ev["padded_size"].bit_length() - 1
    if proof["height"] != h or len(proof["siblings"]) != h or len(proof["balances"]) != len(ev["assets"]):
        raise Invalid("proof shape does not match snapshot")
    cur = por_leaf(secret, proof["balances"], account)
    for l, sib in enumerate(proof["siblings"]):
        if (proof["index"] >> l) & 1 == 0:
            cur = por_node(cur, sib)
        else:
            cur = por_node(sib, cur)
    if cur[0].hex() != ev["liabilities_root"]:
        raise Invalid("root %s != liabilities_root %s" % (cur[0].hex(), ev["liabilities_root"]))
    want = [int(a["liabilities"]) for a in ev["assets"]]
    if cur[1] != want:
        raise Invalid("sums %s != liabilities %s" % (cur[1], want))
    return cur
