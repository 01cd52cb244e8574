"""The DNS stub resolver machine (usnet_core.dns) with a fake clock and scripted servers."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from usnet_core.dns import DnsErrorKind, DnsQuery, Endpoint
from usnet_core.wire.dns import (
    CLASS_IN,
    RCODE_FORMERR,
    RCODE_NXDOMAIN,
    RCODE_REFUSED,
    RCODE_SERVFAIL,
    TYPE_A,
    TYPE_CNAME,
    DnsQuestion,
    DnsRecord,
    DnsRepr,
    Name,
    name_from_str,
)
from usnet_core.wire.ipv4 import addr_from_str

S1: Endpoint = (addr_from_str("10.0.0.53"), 53)
S2: Endpoint = (addr_from_str("10.0.1.53"), 53)
WWW = name_from_str("www.example.com")
EDGE = name_from_str("www.example.com.edge.net")
IP1, IP2 = addr_from_str("192.0.2.1"), addr_from_str("192.0.2.2")


def seeded(seed: int = 1) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


def a(name: Name, address: int, ttl: int = 300) -> DnsRecord:
    return DnsRecord(name, TYPE_A, CLASS_IN, ttl, address)


def cname(name: Name, target: Name, ttl: int = 300) -> DnsRecord:
    return DnsRecord(name, TYPE_CNAME, CLASS_IN, ttl, target)


def reply(
    query: bytes,
    *answers: DnsRecord,
    rcode: int = 0,
    truncated: bool = False,
    ident: int | None = None,
    questions: tuple[DnsQuestion, ...] | None = None,
    response: bool = True,
) -> bytes:
    """What a recursive server would answer to `query` (fields overridable to forge)."""
    q = DnsRepr.parse(query)
    return bytes(
        DnsRepr(
            ident=q.ident if ident is None else ident,
            response=response,
            recursion_desired=True,
            recursion_available=True,
            truncated=truncated,
            rcode=rcode,
            questions=q.questions if questions is None else questions,
            answers=answers,
        ).to_bytes()
    )


def sent(query: DnsQuery) -> list[tuple[Endpoint, bytes]]:
    return query.datagrams_to_send()


def one(query: DnsQuery, server: Endpoint) -> bytes:
    """The single datagram the query has for `server` now."""
    out = sent(query)
    assert [s for s, _ in out] == [server]
    return out[0][1]


def test_query_and_answer() -> None:
    query = DnsQuery("www.example.com", [S1], entropy=seeded(), now=100.0)
    payload = one(query, S1)
    msg = DnsRepr.parse(payload)
    assert not msg.response and msg.recursion_desired
    assert msg.questions == (DnsQuestion(WWW, TYPE_A, CLASS_IN),)
    assert query.poll_at() == 105.0 and not query.done
    query.receive(reply(payload, a(WWW, IP1, 60), a(WWW, IP2, 30), a(WWW, IP1)), S1, 100.2)
    assert query.error is None and query.answer is not None
    assert query.answer.addresses == (IP1, IP2)
    assert query.answer.ttl == 30
    assert query.answer.name == query.answer.canonical == WWW
    assert query.poll_at() is None and sent(query) == []


def test_retries_rotate_through_servers_like_glibc() -> None:
    query = DnsQuery(WWW, [S1, S2], entropy=seeded(), now=0.0)
    ids = [DnsRepr.parse(one(query, S1)).ident]
    query.on_timer(4.9)
    assert sent(query) == [] and query.poll_at() == 5.0
    schedule = [(5.0, S2, 10.0), (10.0, S1, 15.0), (15.0, S2, 20.0)]
    for now, server, deadline in schedule:
        query.on_timer(now)
        ids.append(DnsRepr.parse(one(query, server)).ident)
        assert query.poll_at() == deadline
    assert len(set(ids)) == 4  # a fresh ID per datagram (RFC 5452 9.1)
    query.on_timer(20.0)
    assert query.error is not None and query.error.kind is DnsErrorKind.TIMEOUT
    assert "4 tries" in query.error.detail and query.sent == 4
    assert sent(query) == [] and query.poll_at() is None


def test_single_server_waits_twice_as_long_on_the_retry() -> None:
    query = DnsQuery(WWW, [S1], entropy=seeded(), now=0.0, timeout=1.0, attempts=3)
    one(query, S1)
    for now, deadline in [(1.0, 3.0), (3.0, 7.0)]:
        query.on_timer(now)
        one(query, S1)
        assert query.poll_at() == deadline
    query.on_timer(7.0)
    assert query.error is not None and query.error.kind is DnsErrorKind.TIMEOUT


def test_late_answer_to_an_earlier_try_counts() -> None:
    query = DnsQuery(WWW, [S1, S2], entropy=seeded(), now=0.0)
    first = one(query, S1)
    query.on_timer(5.0)
    one(query, S2)
    query.receive(reply(first, a(WWW, IP1)), S1, 5.5)
    assert query.answer is not None and query.answer.addresses == (IP1,)


def test_spoofed_and_stray_responses_are_ignored() -> None:
    query = DnsQuery(WWW, [S1, S2], entropy=seeded(), now=0.0)
    payload = one(query, S1)
    ident = DnsRepr.parse(payload).ident
    other = name_from_str("evil.example")
    forgeries = [
        (reply(payload, a(WWW, IP2), ident=ident ^ 1), S1, "unexpected id or source"),
        (reply(payload, a(WWW, IP2)), S2, "unexpected id or source"),  # not asked there
        (reply(payload, a(WWW, IP2)), (S1[0], 5353), "unexpected id or source"),
        (reply(payload, a(WWW, IP2), response=False), S1, "not a response"),
        (
            reply(payload, a(other, IP2), questions=(DnsQuestion(other),)),
            S1,
            "question mismatch",
        ),
        (reply(payload, a(WWW, IP2), questions=()), S1, "question mismatch"),
        (
            reply(payload, a(WWW, IP2), questions=(DnsQuestion(WWW, 28),)),
            S1,
            "question mismatch",
        ),
        (payload[:7], S1, "malformed"),
    ]
    for data, source, _ in forgeries:
        query.receive(data, source, 1.0)
        assert not query.done
    expected: dict[str, int] = {}
    for _, _, reason in forgeries:
        expected[reason] = expected.get(reason, 0) + 1
    assert query.dropped == expected
    # The question comes back in another case (a server doing 0x20): still ours.
    upper = (DnsQuestion(name_from_str("WWW.EXAMPLE.COM")),)
    query.receive(reply(payload, a(WWW, IP1), questions=upper), S1, 1.0)
    assert query.answer is not None and query.answer.addresses == (IP1,)
    query.receive(reply(payload, a(WWW, IP2)), S1, 1.0)  # after the end: ignored
    assert query.answer.addresses == (IP1,)


def test_cname_chain_in_one_answer() -> None:
    middle = name_from_str("www.example.com.cdn.net")
    query = DnsQuery(WWW, [S1], entropy=seeded(), now=0.0)
    payload = one(query, S1)
    answers = (cname(WWW, middle, 3600), cname(middle, EDGE, 20), a(EDGE, IP1, 60))
    query.receive(reply(payload, *answers), S1, 0.1)
    assert query.answer is not None
    assert (query.answer.name, query.answer.canonical) == (WWW, EDGE)
    assert query.answer.addresses == (IP1,) and query.answer.ttl == 20
    assert query.name == EDGE


def test_cname_without_address_asks_again_for_the_target() -> None:
    query = DnsQuery(WWW, [S1, S2], entropy=seeded(), now=0.0)
    first = one(query, S1)
    query.on_timer(5.0)
    one(query, S2)  # the first server is slow: the second gets a try, then both answer
    query.receive(reply(first, cname(WWW, EDGE, 100)), S1, 6.0)
    assert not query.done and query.name == EDGE
    second = one(query, S1)  # a fresh round of tries for the new name, from the first server
    assert DnsRepr.parse(second).questions == (DnsQuestion(EDGE),)
    assert query.poll_at() == 11.0
    query.receive(reply(first, a(WWW, IP2)), S1, 6.1)  # belongs to the old question
    assert not query.done
    query.receive(reply(second, a(EDGE, IP1, 500)), S1, 6.2)
    assert query.answer is not None
    assert (query.answer.name, query.answer.canonical, query.answer.ttl) == (WWW, EDGE, 100)


def test_cname_loop_across_queries_is_bounded() -> None:
    x, y = name_from_str("x.example"), name_from_str("y.example")
    query = DnsQuery(x, [S1], entropy=seeded(), now=0.0, max_cnames=5)
    for step in range(6):
        payload = one(query, S1)
        name = DnsRepr.parse(payload).questions[0].name
        assert name == (x if step % 2 == 0 else y)
        query.receive(reply(payload, cname(name, y if name == x else x)), S1, float(step))
    assert query.error is not None and query.error.kind is DnsErrorKind.CNAME_LIMIT
    assert sent(query) == []


def test_cname_loop_inside_one_answer_is_bounded() -> None:
    x = name_from_str("x.example")
    query = DnsQuery(x, [S1], entropy=seeded(), now=0.0)
    payload = one(query, S1)
    query.receive(reply(payload, cname(x, WWW), cname(WWW, x)), S1, 0.1)
    assert query.error is not None and query.error.kind is DnsErrorKind.CNAME_LIMIT


def test_nxdomain() -> None:
    query = DnsQuery(WWW, [S1, S2], entropy=seeded(), now=0.0)
    payload = one(query, S1)
    query.receive(reply(payload, rcode=RCODE_NXDOMAIN), S1, 0.1)
    assert query.error is not None and query.error.kind is DnsErrorKind.NAME_ERROR
    assert query.error.server == S1 and query.error.rcode == RCODE_NXDOMAIN
    assert "www.example.com" in query.error.detail
    assert sent(query) == []  # an authoritative "no": the other server is not asked


def test_no_data_and_unrelated_records() -> None:
    query = DnsQuery(WWW, [S1], entropy=seeded(), now=0.0)
    payload = one(query, S1)
    # An address for some other name is no answer to ours.
    query.receive(reply(payload, a(name_from_str("evil.example"), IP1)), S1, 0.1)
    assert query.error is not None and query.error.kind is DnsErrorKind.NO_DATA


@pytest.mark.parametrize("rcode", [RCODE_SERVFAIL, RCODE_REFUSED, RCODE_FORMERR])
def test_server_failure_moves_to_the_next_server_at_once(rcode: int) -> None:
    query = DnsQuery(WWW, [S1, S2], entropy=seeded(), now=0.0, attempts=1)
    payload = one(query, S1)
    query.receive(reply(payload, rcode=rcode), S1, 0.5)
    retry = one(query, S2)
    assert query.poll_at() == 5.5
    query.receive(reply(retry, rcode=rcode, questions=()), S2, 0.6)  # question left out
    assert query.error is not None and query.error.kind is DnsErrorKind.SERVER_FAILURE
    assert query.error.rcode == rcode and query.error.server == S2


def test_server_failure_then_answer() -> None:
    query = DnsQuery(WWW, [S1, S2], entropy=seeded(), now=0.0)
    query.receive(reply(one(query, S1), rcode=RCODE_SERVFAIL), S1, 0.1)
    query.receive(reply(one(query, S2), a(WWW, IP1)), S2, 0.2)
    assert query.answer is not None


def test_servfail_then_silence_reports_the_failure() -> None:
    query = DnsQuery(WWW, [S1], entropy=seeded(), now=0.0)
    query.receive(reply(one(query, S1), rcode=RCODE_SERVFAIL), S1, 0.1)
    one(query, S1)
    query.on_timer(100.0)
    assert query.error is not None and query.error.kind is DnsErrorKind.SERVER_FAILURE


def test_truncated_is_reported() -> None:
    query = DnsQuery(WWW, [S1], entropy=seeded(), now=0.0)
    payload = one(query, S1)
    query.receive(reply(payload, a(WWW, IP1), truncated=True), S1, 0.1)
    assert query.error is not None and query.error.kind is DnsErrorKind.TRUNCATED
    assert "TCP" in query.error.detail


def test_huge_ttl_means_zero() -> None:
    query = DnsQuery(WWW, [S1], entropy=seeded(), now=0.0)
    query.receive(reply(one(query, S1), a(WWW, IP1, 0x80000000)), S1, 0.1)
    assert query.answer is not None and query.answer.ttl == 0


def test_rotate_starts_at_a_random_server() -> None:
    def entropy(n: int) -> bytes:
        return bytes([1] * n)

    query = DnsQuery(WWW, [S1, S2], entropy=entropy, now=0.0, rotate=True)
    assert DnsRepr.parse(one(query, S2)).questions[0].name == WWW
    query.on_timer(5.0)
    one(query, S1)


def test_ids_never_repeat_among_outstanding_tries() -> None:
    def entropy(n: int) -> bytes:
        return b"\xff" * n  # a broken source: always the same value

    query = DnsQuery(WWW, [S1], entropy=entropy, now=0.0, attempts=3)
    query.on_timer(5.0)
    query.on_timer(15.0)
    ids = [DnsRepr.parse(p).ident for _, p in sent(query)]
    assert ids == [0xFFFF, 0, 1]


def test_bad_arguments() -> None:
    for kwargs in ({"timeout": 0.0}, {"attempts": 0}, {"max_cnames": -1}):
        with pytest.raises(ValueError):
            DnsQuery(WWW, [S1], entropy=seeded(), now=0.0, **kwargs)
    with pytest.raises(ValueError):
        DnsQuery(WWW, [], entropy=seeded(), now=0.0)
    for name in ("a..b", "x" * 64):
        with pytest.raises(ValueError):
            DnsQuery(name, [S1], entropy=seeded(), now=0.0)


@given(st.lists(st.binary(max_size=80), max_size=20), st.sampled_from([S1, S2]))
def test_junk_never_raises_or_completes(junk: list[bytes], source: Endpoint) -> None:
    query = DnsQuery(WWW, [S1, S2], entropy=seeded(), now=0.0)
    head = reply(one(query, S1))[:12]  # our ID, QR set, one question: the rest is junk
    for data in junk:
        query.receive(data, source, 1.0)
        query.receive(head + data, source, 1.0)
    assert not query.done


@given(st.lists(st.sampled_from(["tick", "answer", "junk", "servfail"]), max_size=30))
def test_event_sequences_end_within_the_retry_budget(events: list[str]) -> None:
    query = DnsQuery(WWW, [S1, S2], entropy=seeded(), now=0.0, timeout=1.0, attempts=2)
    now = 0.0
    last: tuple[Endpoint, bytes] | None = None
    for event in events:
        out = sent(query)
        last = out[-1] if out else last
        if event == "tick":
            deadline = query.poll_at()
            if deadline is not None:
                now = deadline
                query.on_timer(now)
        elif event == "junk":
            query.receive(b"\x00" * 12, S1, now)
        elif last is not None:
            server, payload = last
            rcode = RCODE_SERVFAIL if event == "servfail" else 0
            answers = (a(WWW, IP1),) if event == "answer" else ()
            query.receive(reply(payload, *answers, rcode=rcode), server, now)
    assert query.sent <= 4
    while not query.done:
        deadline = query.poll_at()
        assert deadline is not None and deadline >= now
        now = deadline
        query.on_timer(now)
    assert now <= 1.0 + 1.0 + 1.0 + 1.0 + 1e-9  # two rounds over two servers, 1 s each
