"""Pure-Python Ed25519 verification: ZIP-215 (FORMAT.md §3.2) and strict (dalek verify_strict, §6.1).

Written from RFC 8032 + ZIP 215; no vigil code consulted.
"""
import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

# extended coordinates (X, Y, Z, T)
IDENT = (0, 1, 1, 0)


def _add(p, q):
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _dbl(p):
    return _add(p, p)


def _mul(k, p):
    r = IDENT
    while k:
        if k & 1:
            r = _add(r, p)
        p = _dbl(p)
        k >>= 1
    return r


def _neg(p):
    x, y, z, t = p
    return ((-x) % P, y, z, (-t) % P)


def _eq(p, q):
    x1, y1, z1, _ = p
    x2, y2, z2, _ = q
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def _is_ident(p):
    return _eq(p, IDENT)


_By = 4 * pow(5, P - 2, P) % P


def _recover_x(y, sign):
    """x from y (y already reduced mod p); None if not on curve."""
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x2 = u * pow(v, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = (-x) % P
    return x


_Bx = _recover_x(_By, 0)
B = (_Bx, _By, 1, _Bx * _By % P)


def decode_point(b, canonical):
    """ZIP-215 decoding (canonical=False): y may be >= p, x=0 with sign bit 1 accepted.
    canonical=True: reject y >= p (and -0)."""
    if len(b) != 32:
        return None
    n = int.from_bytes(b, "little")
    sign = n >> 255
    y = n & ((1 << 255) - 1)
    if canonical and y >= P:
        return None
    y %= P
    x = _recover_x(y, sign)
    if x is None:
        return None
    if canonical and x == 0 and sign == 1:
        return None
    return (x, y, 1, x * y % P)


def encode_point(p):
    x, y, z, _ = p
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def is_small_order(p):
    return _is_ident(_mul(8, p))


def _k(Rb, Ab, msg):
    return int.from_bytes(hashlib.sha512(Rb + Ab + msg).digest(), "little") % L


def _parse(pub: bytes, sig: bytes, canonical: bool):
    """(A, R bytes, s) of a signature with s < L and A decodable, or None."""
    if len(sig) != 64 or len(pub) != 32:
        return None
    Rb, s = sig[:32], int.from_bytes(sig[32:], "little")
    A = decode_point(pub, canonical)
    if s >= L or A is None:
        return None
    return A, Rb, s


def _r_matches(A, Rb, s, pub, msg):
    """The encoding of [s]B - [k]A equals R's bytes (RFC 8032 without the cofactor)."""
    return encode_point(_add(_mul(s, B), _neg(_mul(_k(Rb, pub, msg), A)))) == Rb


def verify_zip215(pub: bytes, msg: bytes, sig: bytes) -> bool:
    p = _parse(pub, sig, canonical=False)
    R = p and decode_point(p[1], canonical=False)
    if p is None or R is None:
        return False
    A, Rb, s = p
    # [8]([s]B - R - [k]A) == identity
    lhs = _add(_add(_mul(s, B), _neg(R)), _neg(_mul(_k(Rb, pub, msg), A)))
    return _is_ident(_mul(8, lhs))


def verify_rfc8032(pub: bytes, msg: bytes, sig: bytes) -> bool:
    """RFC 8032 section 5.1.7 without the cofactor (ed25519-dalek verify): an R of small
    order is not refused (FORMAT.md section 6, a checkpoint's signature 1)."""
    p = _parse(pub, sig, canonical=False)
    return p is not None and _r_matches(*p, pub, msg)


def verify_strict(pub: bytes, msg: bytes, sig: bytes) -> bool:
    """RFC 8032 with s canonical, A and R not of small order (ed25519-dalek verify_strict)."""
    p = _parse(pub, sig, canonical=True)
    R = p and decode_point(p[1], canonical=True)
    if p is None or R is None or is_small_order(p[0]) or is_small_order(R):
        return False
    return _r_matches(*p, pub, msg)


def public_from_seed(seed: bytes) -> bytes:
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return encode_point(_mul(a, B))


def sign(seed: bytes, msg: bytes) -> bytes:
    """RFC 8032 signing (for known-answer tests only)."""
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    A = encode_point(_mul(a, B))
    r = int.from_bytes(hashlib.sha512(h[32:] + msg).digest(), "little") % L
    Rb = encode_point(_mul(r, B))
    k = _k(Rb, A, msg)
    s = (r + k * a) % L
    return Rb + s.to_bytes(32, "little")
