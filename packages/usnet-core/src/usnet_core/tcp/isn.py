"""Initial sequence numbers per RFC 6528: ISN = M + F(4-tuple, secret)."""

from __future__ import annotations

import hashlib
import struct

__all__ = ["IsnGenerator"]

_TUPLE = struct.Struct("!IHIH")


class IsnGenerator:
    """M is a 4-microsecond clock derived from `now`; F a keyed BLAKE2s of the 4-tuple."""

    __slots__ = ("_key",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("IsnGenerator needs a secret of at least 16 bytes")
        self._key = bytes(secret[:32])

    def isn(self, now: float, local: tuple[int, int], remote: tuple[int, int]) -> int:
        """The ISN for a connection from `local` to `remote` opened at `now`."""
        f = hashlib.blake2s(
            _TUPLE.pack(local[0], local[1], remote[0], remote[1]), key=self._key, digest_size=4
        ).digest()
        m = int(now * 250_000)  # RFC 6528 3: M ticks every 4 microseconds
        return (m + int.from_bytes(f, "big")) & 0xFFFF_FFFF

    def port_hint(self, local: int, remote: tuple[int, int]) -> int:
        """A keyed hash of (local address, remote) to start an ephemeral port search at
        (RFC 6056 algorithm 3 without the counter: the caller adds its own offset)."""
        f = hashlib.blake2s(
            _TUPLE.pack(local, 0, remote[0], remote[1]),
            key=self._key,
            digest_size=4,
            person=b"port",
        ).digest()
        return int.from_bytes(f, "big")
