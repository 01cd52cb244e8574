"""Internet checksum (RFC 1071): ones' complement sums, folding and pseudo-headers.

The sum is computed at C speed: the whole buffer becomes one big integer, and because
2**16 is congruent to 1 modulo 0xFFFF, that integer is congruent to the sum of its 16-bit
words. Ones' complement addition is addition modulo 0xFFFF, with one wrinkle: a non-zero
sum that is a multiple of 0xFFFF is "negative zero", 0xFFFF, and only an all-zero input
sums to 0. Both `ones_sum` and `fold` keep that distinction.
"""

from __future__ import annotations

from typing import TypeAlias

Buffer: TypeAlias = bytes | bytearray | memoryview
"""Any buffer the wire modules read from."""

__all__ = ["Buffer", "checksum", "fold", "ones_sum", "pseudo_ipv4", "verify"]


def ones_sum(data: Buffer) -> int:
    """Ones' complement sum of `data` as big-endian 16-bit words (odd tail padded with 0).

    The result is already reduced into 0..0xFFFF; adding further sums to it and calling
    `fold` gives the same checksum as summing everything at once.
    """
    n = int.from_bytes(data, "big")
    if len(data) & 1:
        n <<= 8
    s = n % 0xFFFF
    # RFC 1071: a non-zero sum never folds to +0, it ends at 0xFFFF (-0).
    if s == 0 and n:
        return 0xFFFF
    return s


def fold(s: int) -> int:
    """Fold a (non-negative, unfolded) sum to 16 bits and return its ones' complement.

    This is the value that goes into a checksum field.
    """
    r = s % 0xFFFF
    if r == 0 and s:
        r = 0xFFFF
    return r ^ 0xFFFF


def pseudo_ipv4(src: int, dst: int, proto: int, length: int) -> int:
    """Unfolded sum of the IPv4 pseudo-header (RFC 768, RFC 9293 3.1)."""
    return (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + proto + length


def checksum(data: Buffer, initial: int = 0) -> int:
    """Checksum field value for `data` (its checksum field zeroed) plus an `initial` sum."""
    return fold(initial + ones_sum(data))


def verify(data: Buffer, initial: int = 0) -> bool:
    """True when `data`, checksum field included, plus `initial` sums to 0xFFFF (-0)."""
    return fold(initial + ones_sum(data)) == 0
