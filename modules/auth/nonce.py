"""Nonces that carry their own state: expiry, one-time index, qop and algorithm, HMAC-protected.

Nothing is stored per challenge: the server reads back what it offered from the nonce itself
(OpenSIPS encrypts the same fields; an HMAC is enough, as none of them is secret). Replay
protection follows OpenSIPS: every challenge reserves an index and a nonce authorizes one request
only; a second use of the same nonce (whatever its nc) is treated as stale, so the client is
challenged again with stale=true instead of being asked for its password.
"""

from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import hmac
import os
import struct
from dataclasses import dataclass

_PAYLOAD = struct.Struct(">QIBB6s")  # expires (microseconds), index, qop, alg, salt
_TAG_LEN = 16
NONCE_LEN = 48  # base64 of 36 bytes, no padding


@dataclass(frozen=True, slots=True)
class NonceParams:
    expires: float  # wall-clock seconds
    index: int
    qop: int
    alg: int


class NonceCodec:
    __slots__ = ("_key",)

    def __init__(self, secret: bytes) -> None:
        # the script's secret may be any text; derive a fixed-size key from it
        self._key = hashlib.sha256(b"pysips-auth-nonce:" + secret).digest()

    def make(self, params: NonceParams) -> str:
        payload = _PAYLOAD.pack(int(params.expires * 1_000_000), params.index & 0xFFFFFFFF,
                                params.qop, params.alg, os.urandom(6))
        tag = hmac.new(self._key, payload, hashlib.sha256).digest()[:_TAG_LEN]
        return base64.urlsafe_b64encode(payload + tag).decode("ascii")

    def open(self, nonce: str) -> NonceParams | None:
        """The fields of a nonce we issued; None for anything else (forged, foreign, mangled)."""
        if len(nonce) != NONCE_LEN:
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError):
            return None
        payload, tag = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()[:_TAG_LEN]
        if not hmac.compare_digest(tag, expected):
            return None
        expires_us, index, qop, alg, _salt = _PAYLOAD.unpack(payload)
        return NonceParams(expires_us / 1_000_000, index, qop, alg)


# The nonce carries its expiry in whole microseconds; read back, it can exceed the float it was
# made from by a rounding step, so a nonce checked at the very time it was issued (a stopped clock)
# would look issued in the future. A millisecond of slack covers that and nothing a forger gains.
_FUTURE_SLACK = 0.001


def is_stale(params: NonceParams, now: float, lifetime: int) -> bool:
    """Expired, or expiring further ahead than we ever issue (a clock jump or a foreign server)."""
    return now >= params.expires or now + lifetime + _FUTURE_SLACK < params.expires


class NonceIndex:
    """One-time use of nonces: indexes handed out by challenges, marked when they authorize.

    An index is remembered until its nonce expires; after that the nonce is stale anyway.
    """

    __slots__ = ("_next", "_order", "_used")

    def __init__(self) -> None:
        self._next = 1  # index 0 means "no index" (disable_nonce_check)
        self._used: set[int] = set()
        self._order: collections.deque[tuple[float, int]] = collections.deque()

    def reserve(self) -> int:
        index = self._next
        self._next = index + 1 if index < 0xFFFFFFFF else 1
        return index

    def use(self, index: int, expires: float, now: float) -> bool:
        """True the first time an issued index is presented, False on any replay."""
        self._forget_expired(now)
        if index <= 0 or index >= self._next or index in self._used:
            return False
        self._used.add(index)
        self._order.append((expires, index))
        return True

    def _forget_expired(self, now: float) -> None:
        order = self._order
        while order and order[0][0] <= now:
            self._used.discard(order.popleft()[1])

    def __len__(self) -> int:
        return len(self._used)
