"""Agora envelopes in pure Python: Ed25519 signing and the canonical JSON form.

Only the standard library is used, so the example runs where pip is not available. The Ed25519
code follows the algorithm of RFC 8032 section 5.1 with Python integers; it is slow (a few
milliseconds per signature) and not hardened against timing attacks, which is fine for a demo
client and wrong for production keys.
"""

import hashlib
import json
import math
import time
from decimal import Decimal

# Curve constants of edwards25519 (RFC 8032, section 5.1).
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

SPKI_PREFIX = "302a300506032b6570032100"
PKCS8_PREFIX = "302e020100300506032b657004220420"


def _recover_x(y, sign):
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if x & 1 != sign:
        x = P - x
    return x


_BY = 4 * pow(5, P - 2, P) % P
BASE = (_recover_x(_BY, 0), _BY, 1, _recover_x(_BY, 0) * _BY % P)


def _add(a, b):
    """Adds two points in extended coordinates (X, Y, Z, T)."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    A = (y1 - x1) * (y2 - x2) % P
    B = (y1 + x1) * (y2 + x2) % P
    C = 2 * D * t1 * t2 % P
    Dz = 2 * z1 * z2 % P
    E, F, G, H = B - A, Dz - C, Dz + C, B + A
    return (E * F % P, G * H % P, F * G % P, E * H % P)


def _mul(k, point):
    result = (0, 1, 1, 0)
    while k:
        if k & 1:
            result = _add(result, point)
        point = _add(point, point)
        k >>= 1
    return result


def _encode(point):
    x, y, z, _ = point
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _secret_scalar(seed):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(seed):
    """Returns the raw 32-byte public key of a 32-byte seed."""
    a, _ = _secret_scalar(seed)
    return _encode(_mul(a, BASE))


def sign(seed, message):
    """Returns the 64-byte Ed25519 signature of message."""
    a, prefix = _secret_scalar(seed)
    pub = _encode(_mul(a, BASE))
    r = int.from_bytes(hashlib.sha512(prefix + message).digest(), "little") % L
    big_r = _encode(_mul(r, BASE))
    k = int.from_bytes(hashlib.sha512(big_r + pub + message).digest(), "little") % L
    s = (r + k * a) % L
    return big_r + s.to_bytes(32, "little")


def spki_hex(raw_public_key):
    """Returns the agora wire form of a public key."""
    return SPKI_PREFIX + raw_public_key.hex()


def pkcs8_hex(seed):
    """Returns the agora private key form of a seed."""
    return PKCS8_PREFIX + seed.hex()


def _number(value):
    """Writes a number as ECMAScript Number.prototype.toString does."""
    f = float(value)
    if math.isnan(f) or math.isinf(f):
        return "null"
    if f == 0:
        return "0"
    sign = "-" if f < 0 else ""
    # repr gives the shortest digits that round-trip, as ECMAScript does.
    _, digit_tuple, exponent = Decimal(repr(abs(f))).as_tuple()
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits = stripped
    k = len(digits)
    n = k + exponent  # the value is 0.digits times 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    body = digits[0] + ("." + digits[1:] if k > 1 else "")
    return sign + body + "e" + ("+" if n - 1 >= 0 else "-") + str(abs(n - 1))


def canonical(value):
    """Returns the canonical JSON text of value: keys sorted by UTF-16 code units, no
    whitespace, strings and numbers as ECMAScript JSON.stringify writes them."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):  # bool is handled above
        return _number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical(value[k]) for k in keys) + "}"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def create_envelope(seed, msg_type, to, payload, in_reply_to=None, timestamp_ms=None):
    """Builds and signs an envelope from the key of seed to the SPKI hex keys in to."""
    sender = spki_hex(public_key(seed))
    recipients = []
    for r in to:
        if r and r not in recipients:
            recipients.append(r)
    if not recipients:
        recipients = [sender]
    signed = {
        "from": sender,
        "payload": payload,
        "timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
        "to": recipients,
        "type": msg_type,
    }
    if in_reply_to is not None:
        signed["inReplyTo"] = in_reply_to
    text = canonical(signed).encode("utf-8")
    envelope = {
        "id": hashlib.sha256(text).hexdigest(),
        "type": msg_type,
        "from": sender,
        "to": recipients,
        "timestamp": signed["timestamp"],
        "payload": payload,
        "signature": sign(seed, text).hex(),
    }
    if in_reply_to is not None:
        envelope["inReplyTo"] = in_reply_to
    return envelope
