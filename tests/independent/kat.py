"""Known-answer tests from FORMAT.md §6.1, §8, §11.5, and the rules of §3.5 (key names), §6.1
(witness policies), the Conventions (canonical base64), §2 and §6 (integers), §5 (consistency
from size 0), §6 (note parsing) and §10 (bundles)."""
import base64

import ed
import vigilfmt as V

results = []


def check(name, got, want):
    ok = got == want
    results.append((name, ok))
    print("  [%s] %s%s" % ("ok" if ok else "FAIL", name, "" if ok else "\n      got  %r\n      want %r" % (got, want)))
    return ok


def vkey(name, seed, alg):
    pub = ed.public_from_seed(seed)
    return "%s+%s+%s" % (name, V.key_id(name, alg, pub).hex(), base64.b64encode(bytes([alg]) + pub).decode())


def run():
    print("§8 worked example")
    wseed, lseed = b"\x11" * 32, b"\x22" * 32
    check("withdrawals vkey", vkey("withdrawals", wseed, 1),
          "withdrawals+b12907db+AdBKsjJ0K7SrOhNovUYV5ObQIkq3GgFrr4UgozLJd4c3")
    check("log vkey", vkey("vigil.example/audit-log", lseed, 1),
          "vigil.example/audit-log+2fa423cb+AaCapfR6Z1mAL/lV+NwtKhSlyZ0jvpf4ZBJ/+Tg0VaTw")
    check("commitment acct-0715", V.commitment(b"\x33" * 32, "acct-0715").hex(),
          "3ef85f6d86d9ebbd4faaf2b1a428f343f3bb5caf402d3a081d4fc445db8e9b9a")
    st = (b'{"created_at_ms":1557248220000,"event":{"account":{"commitment":"3ef85f6d86d9ebbd4faaf2b1a428f343f3bb5caf402d3a081d4fc445db8e9b9a"},'
          b'"amount":"700000000000","asset":"BTC","destination":"bc1qdemo","kind":"withdrawal","stage":"executed",'
          b'"tx_id":"demo-tx-7000btc","wallet":"hot-btc-1","wallet_tier":"hot","withdrawal_id":"w-7000"},'
          b'"idempotency_key":"w-7000-executed","key":"withdrawals+b12907db"}')
    check("statement length 392", len(st), 392)
    parsed = V.validate_statement(st, 5)
    check("statement canonical round trip", V.canon_bytes(parsed), st)
    sig = ed.sign(wseed, V.STATEMENT_PREFIX + st)
    check("statement signature", sig.hex(),
          "0d5d9427681655ec69c4b8376fac643f2d58a33202ea10a8608346a03b27ec20e77ea0e2e0374e6ccc08a070fc04dc2a97009471377f5917b52b0d90ea0a5505")
    wpub = ed.public_from_seed(wseed)
    check("statement signature verifies (ZIP-215)", ed.verify_zip215(wpub, V.STATEMENT_PREFIX + st, sig), True)
    check("statement signature verifies (strict)", ed.verify_strict(wpub, V.STATEMENT_PREFIX + st, sig), True)
    entry = b"\x02" + (5).to_bytes(8, "big") + (1557248221000).to_bytes(8, "big") + b"\xab" * 32 + sig + st
    check("time_ms hex", entry[9:17].hex(), "0000016a933a1f48")
    check("chain hash", V.chain_hash(entry).hex(), "08506ec50ef90272faf89b26470f381d46148bf83c1245657da5ebb49f510eb6")
    check("leaf hash", V.leaf_hash(entry).hex(), "b6090f7c57b46f23a1f594539c90fa175d81c6d84ec6db8bf3e9f69778cc6c63")
    check("2-leaf root", V.mth([V.leaf_hash(entry), V.leaf_hash(b"\x00")]).hex(),
          "90e3e1d7bdc8b9b6a9d4e42a6e5d48b38e346ee8f5580e62db8538ac4acf6c88")
    lpub = ed.public_from_seed(lseed)
    body = b"vigil.example/audit-log\n1\n" + base64.b64encode(V.leaf_hash(entry)) + b"\n"
    s1 = V.key_id("vigil.example/audit-log", 1, lpub) + ed.sign(lseed, body)
    s2 = V.key_id("vigil.example/audit-log", 4, lpub) + (1557248222).to_bytes(8, "big") + \
        ed.sign(lseed, V.cosig_message(1557248222, body))
    note = body + b"\n" + ("\u2014 vigil.example/audit-log %s\n\u2014 vigil.example/audit-log %s\n" % (
        base64.b64encode(s1).decode(), base64.b64encode(s2).decode())).encode()
    want_note = ("vigil.example/audit-log\n1\ntgkPfFe0byOh9ZRTnJD6F12BxthOxtuL8+n2l3jMbGM=\n\n"
                 "\u2014 vigil.example/audit-log L6Qjy8dWheOD8mExv0dCwfffnxjyNvHw5yQAX+v1HPSV4hbDuFCFzQw34NkP5kCzwJxmK9h6Jaro0tyQ6+RQoYb1ugc=\n"
                 "\u2014 vigil.example/audit-log GEQ1YQAAAABc0bjetu45K6iWdVgSh5y078nTduIi8+dKsdNkJzIPABajCSN5OJUK10NwNHA7C6a1FBlf6e3uiezsmmv+RsYAAcdTBQ==\n").encode()
    check("checkpoint note byte-exact", note, want_note)
    check("cosig key id 0x04", V.key_id("vigil.example/audit-log", 4, lpub).hex(), "18443561")
    lvk = vkey("vigil.example/audit-log", lseed, 1)
    cp, rep = V.verify_checkpoint(want_note, lvk)
    check("checkpoint verifies, cosig time", (rep["log_sig"], rep["log_cosig"]), (True, 1557248222))

    print("§6.1 witness example")
    wvk = vkey("witness.example/w1", b"\x77" * 32, 4)
    check("witness cosigner vkey", wvk, "witness.example/w1+773a6c12+BMhTrQ8M0rYZrqks7sT9VqJNZJnVhM55JX5Fz9gTm2Cn")
    wsig = V.key_id("witness.example/w1", 4, ed.public_from_seed(b"\x77" * 32)) + (1557248300).to_bytes(8, "big") + \
        ed.sign(b"\x77" * 32, V.cosig_message(1557248300, body))
    wline = "\u2014 witness.example/w1 " + base64.b64encode(wsig).decode()
    check("witness line", wline,
          "\u2014 witness.example/w1 dzpsEgAAAABc0bks7MraMpsCscG0+/xjkuiCSxd8E8g/GLF8uOcMoCGgPDi6vDkVSeb5EL28CiXXfCxzShX/bU0CMzhb/QO9in3kBA==")
    cp, rep = V.verify_checkpoint(want_note + (wline + "\n").encode(), lvk, [wvk], 1)
    check("witness policy k=1 satisfied", [n for n, _ in rep["witnesses_ok"]], ["witness.example/w1"])

    def refused(what, f, why):
        try:
            f()
            check(what, "accepted", why)
        except V.Invalid as e:
            check(what, why if why in str(e) else str(e), why)
        except Exception as e:  # a crash is not a clean refusal
            check(what, "%s: %s" % (type(e).__name__, e), why)

    def accepted(what, f):
        try:
            f()
            check(what, "accepted", "accepted")
        except Exception as e:
            check(what, "%s: %s" % (type(e).__name__, e), "accepted")

    w2vk = vkey("witness.example/w2", b"\x77" * 32, 4)
    note1 = want_note + (wline + "\n").encode()
    refused("a policy with one witness key under two names", lambda: V.verify_checkpoint(note1, lvk, [wvk, w2vk], 1),
            "under two names")
    refused("a policy with witnesses and quorum 0", lambda: V.verify_checkpoint(note1, lvk, [wvk], 0),
            "policy quorum 0")
    refused("a policy with a quorum above its witnesses", lambda: V.verify_checkpoint(note1, lvk, [wvk], 2),
            "policy quorum 2")
    refused("a policy with a quorum and no witnesses", lambda: V.verify_checkpoint(note1, lvk, [], 2),
            "policy quorum 2")

    print("Conventions: canonical base64")
    check("b64d of canonical 'AAA='", V.b64d("AAA="), b"\0\0")
    for bad in ["AAB=", "AAA", "AAA==", "AA A=", "AAA=\n", "AA\u00c0="]:
        refused("b64d refuses %r" % bad, lambda b=bad: V.b64d(b), "base64")
    lines = want_note.split(b"\n")
    assert lines[4].endswith(b"ugc=")  # 68 bytes: the last character carries 2 unused bits
    bits = b"\n".join(lines[:4] + [lines[4][:-2] + b"d="] + lines[5:])
    check("only unused bits differ", base64.b64decode(lines[4][-8:]), base64.b64decode(bits.split(b"\n")[4][-8:]))
    refused("§8 checkpoint with non-zero unused bits in signature 1's base64", lambda: V.verify_checkpoint(bits, lvk),
            "not canonical base64")

    print("§6 note parsing")
    def sigline(name, raw=bytes(9)):
        return ("\u2014 %s %s\n" % (name, base64.b64encode(raw).decode())).encode()
    accepted("a line of an unknown key is ignored", lambda: V.verify_checkpoint(want_note + sigline("other.example"), lvk))
    refused("a line of an unknown key whose name has U+00A0",
            lambda: V.verify_checkpoint(want_note + sigline("unknown\u00a0key"), lvk), "bad key name")
    refused("a line of an unknown key with an empty name",
            lambda: V.verify_checkpoint(want_note + sigline(""), lvk), "bad key name")
    refused("a line of an unknown key whose name has '+'",
            lambda: V.verify_checkpoint(want_note + sigline("a+b"), lvk), "bad key name")
    refused("a line of an unknown key of 4 bytes",
            lambda: V.verify_checkpoint(want_note + sigline("other", bytes(4)), lvk), "short signature")
    refused("a line of an unknown key with two spaces",
            lambda: V.verify_checkpoint(want_note + sigline(" other"), lvk), "bad key name")
    refused("U+001C (a valid key name character, §3.5) in a note",
            lambda: V.verify_checkpoint(want_note + sigline("a\x1cb"), lvk), "control character")
    refused("a tab in a note", lambda: V.verify_checkpoint(want_note.replace(b"\n\n", b"\n\t\n"), lvk),
            "control character")
    accepted("U+007F in an unknown key's name", lambda: V.verify_checkpoint(want_note + sigline("a\x7fb"), lvk))
    accepted("100 signature lines", lambda: V.verify_checkpoint(want_note + sigline("other") * 98, lvk))
    refused("101 signature lines", lambda: V.verify_checkpoint(want_note + sigline("other") * 99, lvk),
            "more than 100 signature lines")
    big = bytes(3 * 249_000)  # a long line of an unknown key, to reach the byte limit exactly
    fill = len(want_note + sigline("o", big))
    assert fill < 1_000_000
    at_limit = want_note + sigline("o" * (1 + 1_000_000 - fill), big)
    check("note of 1,000,000 bytes built", len(at_limit), 1_000_000)
    accepted("a note of 1,000,000 bytes", lambda: V.verify_checkpoint(at_limit, lvk))
    refused("a note of 1,000,001 bytes",
            lambda: V.verify_checkpoint(want_note + sigline("o" * (2 + 1_000_000 - fill), big), lvk), "bytes")
    refused("a signature block that does not end with a newline", lambda: V.verify_checkpoint(want_note[:-1], lvk),
            "newline")
    refused("an empty extension line",
            lambda: V.verify_checkpoint(want_note.replace(b"\n\n", b"\n\next\n\n", 1), lvk), "empty extension")

    print("§2, §6: integers past 4300 digits refused, not crashed on")
    huge = "9" * 5000
    refused("a statement with a 5000-digit integer",
            lambda: V.validate_statement(st.replace(b"1557248220000", huge.encode()), 5), "out of range")
    refused("a statement with 2^64", lambda: V.validate_statement(st.replace(b"1557248220000", b"18446744073709551616"), 5),
            "out of range")
    refused("a checkpoint with a 5000-digit size",
            lambda: V.verify_checkpoint(want_note.replace(b"\n1\n", ("\n%s\n" % huge).encode(), 1), lvk), "size")
    refused("a checkpoint with size 2^64",
            lambda: V.verify_checkpoint(want_note.replace(b"\n1\n", b"\n18446744073709551616\n", 1), lvk), "size")

    print("§5 consistency from size 0")
    r1 = V.leaf_hash(entry)
    empty = V.mth([])
    check("0 -> 1 from MTH({})", V.verify_consistency(0, 1, [], empty, r1), True)
    check("0 -> 1 from another old root refused", V.verify_consistency(0, 1, [], r1, r1), False)
    check("0 -> 0 with MTH({})", V.verify_consistency(0, 0, [], empty, empty), True)
    check("0 -> 0 with two equal roots that are not MTH({}) refused", V.verify_consistency(0, 0, [], r1, r1), False)
    # Against the worked example's root (§8), not against the leaf hash it is built from.
    check("MTH of one entry is its leaf hash (the §8 root)", V.mth([V.leaf_hash(entry)]),
          base64.b64decode("tgkPfFe0byOh9ZRTnJD6F12BxthOxtuL8+n2l3jMbGM="))

    print("§10 bundles")
    import verify
    genesis = V.canon_bytes({"created_at_ms": 1557248220000, "idempotency_key": "genesis", "key": "withdrawals+b12907db",
                             "event": {"kind": "key_registered", "kinds": ["key_registered"],
                                       "key": vkey("withdrawals", wseed, 1)}})
    e0 = b"\x02" + bytes(8) + (1557248221000).to_bytes(8, "big") + bytes(32) + \
        ed.sign(wseed, V.STATEMENT_PREFIX + genesis) + genesis
    b0 = b"vigil.example/audit-log\n1\n" + base64.b64encode(V.leaf_hash(e0)) + b"\n"
    n0 = b0 + ("\n\u2014 vigil.example/audit-log %s\n" % base64.b64encode(
        V.key_id("vigil.example/audit-log", 1, lpub) + ed.sign(lseed, b0)).decode()).encode()

    def bundle(keys=b"keys 2\n", entries=b"entries 1\n", key_lines=None):
        kl = key_lines if key_lines is not None else b"not a key \xff\xfe\n" + vkey("withdrawals", wseed, 1).encode() + b"\n"
        return (b"vigil-export v1\n" + keys + kl + b"checkpoint %d\n" % len(n0) + n0 + entries +
                len(e0).to_bytes(2, "big") + e0)
    accepted("a bundle with a key line that is not a key (nor UTF-8)",
             lambda: verify.verify_bundle_bytes(bundle(), lvk, quiet=True))
    refused("'keys 02'", lambda: verify.verify_bundle_bytes(bundle(keys=b"keys 02\n"), lvk, quiet=True), "not a decimal u64")
    refused("'keys +2'", lambda: verify.verify_bundle_bytes(bundle(keys=b"keys +2\n"), lvk, quiet=True), "not a decimal u64")
    refused("'keys  2'", lambda: verify.verify_bundle_bytes(bundle(keys=b"keys  2\n"), lvk, quiet=True), "not a decimal u64")
    refused("'entries 01'", lambda: verify.verify_bundle_bytes(bundle(entries=b"entries 01\n"), lvk, quiet=True),
            "not a decimal u64")
    refused("'keys <5000 digits>'", lambda: verify.verify_bundle_bytes(
        bundle(keys=b"keys " + huge.encode() + b"\n"), lvk, quiet=True), "not a decimal u64")
    refused("'keys 2^64'", lambda: verify.verify_bundle_bytes(
        bundle(keys=b"keys 18446744073709551616\n"), lvk, quiet=True), "2^64")

    print("§3.5 key names")
    for name, ok in [("w", True), ("a/b.c", True), ("a\x1fb", True), ("a b", False), ("a\u3000b", False),
                     ("a\x85b", False), ("a+b", False), ("", False)]:
        try:
            V.check_name(name)
            got = True
        except V.Invalid:
            got = False
        check("name %r %s" % (name, "valid" if ok else "refused"), got, ok)

    print("§11.5 proof-of-reserves example")
    ss = b"\x44" * 32
    ra = V.record_secret(ss, "alice")
    rb = V.record_secret(ss, "bob")
    check("record_secret(alice)", ra.hex(), "51513e086df668ff1571146db8349a9db3f2ff8e64a010851b16b6168fdb87e5")
    check("record_id(alice)", V.record_id(ra).hex(), "f5543793279a50314fa2d3472bf98e78")
    check("record_secret(bob)", rb.hex(), "afd92105cc7ccaabf42cc45bf5062542a216152e2598e4bda2528684de2e208b")
    la = V.por_leaf(ra, [500, 0], "alice")
    lb = V.por_leaf(rb, [250, 7], "bob")
    check("leaf(alice)", la[0].hex(), "4e7facf5cf254e9388d2267f00a23543bc55335bbb60ff71b4b7516b392a70f2")
    check("leaf(bob)", lb[0].hex(), "651e7ec861d6ea4e38f2e5b60f1f04da9feb6249967e43c9666ede92127c4013")
    pk = V.padding_key(ss)
    check("padding_key", pk.hex(), "12517646096d313c7cc68256fa97a064e0edabdf2857029e139e5575443e1f77")
    p2, p3 = V.por_padding(pk, 2, 2), V.por_padding(pk, 3, 2)
    check("padding leaf slot 3", p3[0].hex(), "a40380563726093c95921aaf41a771795818bdd627e10cce94b93a709a491cec")
    n01 = V.por_node(la, lb)
    check("node(0-1)", n01[0].hex(), "b13dfdbb23c3b5f8e3db04264f4bca02c4d6acee865042dc0afcec83a946e9c4")
    n23 = V.por_node(p2, p3)
    root = V.por_node(n01, n23)
    check("root", root[0].hex(), "21a3bbddc321ac94fc7b97deee698c5d81a3b8ccf5422ce2689a88f034a4b672")
    check("root sums", root[1], [750, 7])
    proof_hex = ("564c50020b706f722d6578616d706c65cbd68bc79e0905ee658922050b9d8d4f0202000000000000000101fa0107"
                 "4e7facf5cf254e9388d2267f00a23543bc55335bbb60ff71b4b7516b392a70f20201f400beda799d2bee64d8f37d9a"
                 "8791419e0894bbb4fa12ecc003ecfe6347fc9069ad0000")
    pr = V.decode_por_proof(bytes.fromhex(proof_hex))
    check("bob's record id in proof", pr["record_id"], V.record_id(rb))
    check("level-1 sibling = node(2-3)", pr["siblings"][1][0], n23[0])
    enc = (b"VLP\x02" + bytes([len("por-example")]) + b"por-example" + V.record_id(rb) + bytes([2, 2]) +
           (1).to_bytes(8, "big") + V.encode_amount(250) + V.encode_amount(7) +
           la[0] + V.encode_amount(500) + V.encode_amount(0) + n23[0] + V.encode_amount(0) + V.encode_amount(0))
    check("proof encoding byte-exact", enc.hex(), proof_hex)
    ev = {"snapshot": "por-example", "padded_size": 4, "liabilities_root": root[0].hex(),
          "assets": [{"asset": "BTC", "liabilities": "750"}, {"asset": "ETH", "liabilities": "7"}]}
    V.verify_por_proof(pr, rb, "bob", ev)
    check("bob's proof verifies", True, True)
    for name, secret, account in [("alice's secret", ra, "bob"), ("alice's account id", rb, "alice")]:
        try:
            V.verify_por_proof(pr, secret, account, ev)
            check("%s rejected on bob's proof" % name, False, True)
        except V.Invalid:
            check("%s rejected on bob's proof" % name, True, True)
    return all(ok for _, ok in results)


if __name__ == "__main__":
    import sys
    sys.exit(0 if run() else 1)
