"""PcapWriter: a classic pcap file (Ethernet) with every frame of both directions."""

from __future__ import annotations

import io
import struct
from pathlib import Path

from usnet_backends import PcapWriter, memory_pair, read_pcap


def parse_pcap(data: bytes) -> tuple[tuple[int, ...], list[tuple[int, int, int, int, bytes]]]:
    """An independent little parser: (global header, [(sec, usec, incl, orig, data)])."""
    header = struct.unpack_from("<IHHiIII", data)
    records = []
    off = 24
    while off < len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, off)
        off += 16
        records.append((sec, usec, incl, orig, data[off : off + incl]))
        off += incl
    assert off == len(data)
    return header, records


def test_both_directions_recorded_in_order(tmp_path: Path) -> None:
    a, b = memory_pair()
    path = tmp_path / "trace.pcap"
    times = iter([1700000000.25, 1700000001.5, 1700000002.75])
    with PcapWriter(a, path, clock=lambda: next(times)) as w:
        w.send_batch([b"\x01" * 60, bytearray(b"\x02" * 70)])
        b.send_batch([b"\x03" * 80])
        assert w.recv_batch() == [b"\x03" * 80]
        assert w.recv_batch() == []  # an empty batch writes nothing
        b.send_batch([b"\x04" * 1514])
        assert len(w.recv_batch()) == 1
    assert a.closed  # the wrapper closes the device it wraps
    header, records = parse_pcap(path.read_bytes())
    assert header == (0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    assert [(r[0], r[1]) for r in records] == [
        (1700000000, 250000),
        (1700000000, 250000),
        (1700000001, 500000),
        (1700000002, 750000),
    ]
    assert [r[4] for r in records] == [b"\x01" * 60, b"\x02" * 70, b"\x03" * 80, b"\x04" * 1514]
    assert all(r[2] == r[3] == len(r[4]) for r in records)
    assert [f for _, f in read_pcap(path)] == [r[4] for r in records]
    assert b.recv_batch() == [b"\x01" * 60, b"\x02" * 70]


def test_snaplen_truncates_but_keeps_original_length() -> None:
    a, _ = memory_pair()
    buf = io.BytesIO()
    w = PcapWriter(a, buf, snaplen=100)
    w.send_batch([bytes(range(200))])
    w.close()
    assert not buf.closed  # a file object we were given stays open
    _, records = parse_pcap(buf.getvalue())
    assert [(r[2], r[3], r[4]) for r in records] == [(100, 200, bytes(range(100)))]
