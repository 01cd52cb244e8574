"""Hypothesis strategies for DNS messages (wire.dns); tests/strategies.py holds the rest."""

from __future__ import annotations

from hypothesis import strategies as st
from usnet_core.wire.dns import (
    CLASS_IN,
    TYPE_A,
    TYPE_CNAME,
    DnsQuestion,
    DnsRecord,
    DnsRepr,
    Name,
    name_wire_len,
)

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)

labels = st.binary(min_size=1, max_size=20) | st.binary(min_size=60, max_size=63)
names: st.SearchStrategy[Name] = (
    st.lists(labels, max_size=8).map(tuple).filter(lambda n: name_wire_len(n) <= 255)
)
"""Valid names: labels of 1..63 octets (short ones and ones near the limit), <= 255 in all."""

questions = st.builds(DnsQuestion, name=names, qtype=u16, qclass=u16)


@st.composite
def records(draw: st.DrawFn) -> DnsRecord:
    """An A (class IN), a CNAME, or any other type with opaque rdata."""
    kind = draw(st.sampled_from(["a", "cname", "other"]))
    name, ttl = draw(names), draw(u32)
    if kind == "a":
        return DnsRecord(name, TYPE_A, CLASS_IN, ttl, draw(u32))
    if kind == "cname":
        return DnsRecord(name, TYPE_CNAME, draw(u16), ttl, draw(names))
    rclass = draw(u16)
    rtype = draw(u16.filter(lambda t: t != TYPE_CNAME and not (t == TYPE_A and rclass == CLASS_IN)))
    return DnsRecord(name, rtype, rclass, ttl, draw(st.binary(max_size=40)))


sections = st.lists(records(), max_size=4).map(tuple)

dns_reprs = st.builds(
    DnsRepr,
    ident=u16,
    response=st.booleans(),
    opcode=st.integers(0, 15),
    authoritative=st.booleans(),
    truncated=st.booleans(),
    recursion_desired=st.booleans(),
    recursion_available=st.booleans(),
    authentic_data=st.booleans(),
    checking_disabled=st.booleans(),
    rcode=st.integers(0, 15),
    questions=st.lists(questions, max_size=3).map(tuple),
    answers=sections,
    authorities=sections,
    additionals=sections,
)
"""Any message the emitter accepts."""
