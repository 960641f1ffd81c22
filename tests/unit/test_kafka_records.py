"""The Kafka source's native consumer against its Python reference (`_read` over
confluent-kafka's Message objects): the same raw messages and dead letters out, the same
records held back, the same offsets, times and seeks, for every kind of record (ordinary,
unreadable, out of order, events) in any order. The native side reads the same records as
librdkafka would hand them to it (`put`); those it leaves to Python reach `_read` as its own
`Record`s, so their answers are held to confluent-kafka's Message's too."""

from __future__ import annotations

import base64
import copy
from collections import deque

import pytest
from confluent_kafka import KafkaError, Message
from hypothesis import given, settings
from hypothesis import strategies as st

from cobflow import native
from cobflow.dataflows.sources import _RawTopicsPartition
from cobflow.deadletter import DeadLetter
from cobflow.raw import RawMessage

pytestmark = pytest.mark.skipif(not native.available(), reason="the native core is not built")

TOPICS = {"raw.kraken": "kraken", "raw.okx": "okx"}
PARTS = [("raw.kraken", 0), ("raw.kraken", 1), ("raw.okx", 0)]


class Seeks:
    def __init__(self) -> None:
        self.seen: list[tuple[str, int, int]] = []

    def seek(self, tp) -> None:  # type: ignore[no-untyped-def]
        self.seen.append((tp.topic, tp.partition, tp.offset))


def partition(state: dict, with_native: bool) -> _RawTopicsPartition:
    """The source's state without a broker (`Seeks` stands for the consumer)."""
    p = object.__new__(_RawTopicsPartition)
    p.venue_of = TOPICS
    p.skew_ns = state["skew"]
    p.fetched = dict(state["fetched"])
    p.held = {tp: deque(q) for tp, q in state["held"].items()}
    p.emitted = dict(state["emitted"])
    p.last_ts = dict(state["last_ts"])
    p.at_eof = set(state["at_eof"])
    p.kafka_away = None
    p.consumer = Seeks()
    p.native = native.kafka_consumer(None, TOPICS) if with_native else None
    return p


ts_header = st.one_of(
    st.integers(0, 2**63 - 1).map(lambda n: str(n).encode()),  # the usual
    st.sampled_from([b"", b"12a", b" 15", b"1_000", b"-5", b"+7", b"\xff1", b"99999999999999999999", b"007"]),
)
text = st.one_of(st.sampled_from([b"book", b"trades", b"rest", b"ws", b""]), st.binary(max_size=4))
headers = st.lists(st.one_of(
    st.tuples(st.just("ts_recv"), st.one_of(ts_header, st.none())),
    st.tuples(st.sampled_from(["kind", "channel", "encoding", "other"]), st.one_of(text, st.none())),
), max_size=5).map(lambda hs: hs or None)
value = st.one_of(st.none(), st.binary(max_size=12), st.text(max_size=12).map(str.encode))
key = st.one_of(st.none(), st.sampled_from([b"BTC-USDT", b"XBT/USD", b"\xfe"]))


@st.composite
def records(draw, fetched: dict) -> list[Message]:  # type: ignore[no-untyped-def]
    """Mostly in order from the offset expected, some out of order or events."""
    out = []
    next_offset = {tp: draw(st.integers(0, 3)) if at is None or draw(st.integers(0, 9)) == 0 else at
                   for tp, at in fetched.items()}
    for _ in range(draw(st.integers(0, 25))):
        tp = draw(st.sampled_from(PARTS))
        if draw(st.integers(0, 15)) == 0:
            out.append(Message(topic=tp[0], partition=tp[1], offset=next_offset[tp],
                               error=KafkaError(KafkaError._PARTITION_EOF), timestamp=(1, 5)))
            continue
        offset = next_offset[tp] + draw(st.sampled_from([0, 0, 0, 0, 0, 0, 1, -1]))
        next_offset[tp] = max(offset + 1, 0)
        hs = draw(headers)
        if draw(st.integers(0, 3)):  # mostly readable: a ts_recv header last (the last one counts)
            hs = [*(hs or []), ("ts_recv", str(draw(st.integers(0, 20))).encode())]
        out.append(Message(topic=tp[0], partition=tp[1], offset=max(offset, 0), key=draw(key), value=draw(value),
                           headers=hs, timestamp=(1, draw(st.integers(0, 2**40)))))
    return out


def fetched(msgs: list[Message]) -> list[tuple]:
    """The records as the native consumer's `put` takes them (as librdkafka fetched them)."""
    return [(m.topic(), m.partition(), m.offset(), None if m.error() is None else m.error().code(), m.key(),
             m.value(), m.headers(), m.timestamp()[1]) for m in msgs]


def put(p: _RawTopicsPartition, msgs: list[Message]) -> None:
    p.native.put(fetched(msgs))


@st.composite
def states(draw) -> dict:  # type: ignore[no-untyped-def]
    held = {tp: deque() for tp in PARTS}
    for tp in PARTS:
        for i in range(draw(st.sampled_from([0, 0, 0, 0, 1, 2]))):
            held[tp].append((i, i, RawMessage(i, TOPICS[tp[0]], "ws", "", None, "held")))
    return {
        "skew": draw(st.integers(0, 5)),
        "fetched": {tp: draw(st.one_of(st.none(), st.integers(0, 3))) for tp in PARTS},
        "held": held,
        "emitted": {},
        "last_ts": {tp: draw(st.integers(-1, 20)) for tp in PARTS if draw(st.integers(0, 3))},
        "at_eof": {tp for tp in PARTS if draw(st.booleans())},
        "floor": None if draw(st.integers(0, 4)) == 0 else draw(st.integers(-1, 15)),
    }


def outcome(p: _RawTopicsPartition, out: list, last_offset: dict) -> tuple:
    return (out, {tp: list(q) for tp, q in p.held.items()}, p.fetched, p.emitted, p.last_ts, p.at_eof, last_offset,
            p.consumer.seen)


@settings(max_examples=250, deadline=None)
@given(st.data(), states())
def test_the_native_reader_reads_every_record_as_python_does(data, state):
    msgs = data.draw(records(state["fetched"]))
    results = []
    for with_native in (False, True):
        p = partition(copy.deepcopy(state), with_native)
        out: list = []
        last_offset: dict = {}
        if with_native:
            put(p, msgs)
            p._read_native(out, last_offset, state["floor"])
            assert p.native.take() is None  # every record read
        else:
            p._read(msgs, out, last_offset, state["floor"])
        results.append(outcome(p, out, last_offset))
    assert results[1] == results[0]


def test_an_encoded_payload_is_kept_as_base64_of_its_bytes():
    """CAPTURE.md: a binary frame (HTX's gzip) is kept as base64 of the bytes, `encoding` says so."""
    frame = bytes(range(256))
    p = partition({"skew": 0, "fetched": {tp: None for tp in PARTS}, "held": {tp: deque() for tp in PARTS},
                   "emitted": {}, "last_ts": {}, "at_eof": set()}, True)
    out: list = []
    put(p, [Message(topic="raw.okx", partition=0, offset=7, key=b"BTC-USDT", value=frame, timestamp=(1, 0),
                    headers=[("ts_recv", b"1700000000000000001"), ("kind", b"ws"), ("channel", b"books"),
                             ("encoding", b"base64-gzip")])])
    p._read_native(out, {}, None)
    assert out == [RawMessage(1700000000000000001, "okx", "ws", "books", "BTC-USDT",
                              base64.b64encode(frame).decode(), "base64-gzip")]
    assert p.fetched[("raw.okx", 0)] == 8 and p.emitted[("raw.okx", 0)] == 8


@st.composite
def held_states(draw) -> dict:  # type: ignore[no-untyped-def]
    """Records held back in every partition, their ts_recv in any order (a venue's clock is
    not monotonic), with any floor, skew and last ts_recv emitted."""
    held = {}
    for tp in PARTS:
        start = draw(st.integers(0, 50))
        tss = draw(st.lists(st.integers(0, 30), max_size=12))
        held[tp] = deque((start + i, ts, RawMessage(ts, TOPICS[tp[0]], "ws", "", None, f"{tp}{i}"))
                         for i, ts in enumerate(tss))
    return {
        "skew": draw(st.integers(0, 8)), "fetched": {tp: None for tp in PARTS}, "held": held, "emitted": {},
        "last_ts": {tp: draw(st.integers(-1, 30)) for tp in PARTS if draw(st.integers(0, 3))}, "at_eof": set(),
        "floor": None if draw(st.integers(0, 5)) == 0 else draw(st.integers(-1, 30)),
    }


@settings(max_examples=300, deadline=None)
@given(held_states())
def test_the_native_drain_lets_out_the_held_records_python_lets_out(state):
    results = []
    for with_native in (False, True):
        p = partition(copy.deepcopy(state), with_native)
        out: list = []
        last_offset: dict = {}
        p._drain(out, last_offset, state["floor"])
        results.append(outcome(p, out, last_offset))
    assert results[1] == results[0]
    assert results[0][0] or not any(state["held"].values()) or state["floor"] is not None  # no floor: all go


def test_a_record_left_to_python_answers_as_confluent_kafkas_message():
    """What `_read`, `_error` and `unreadable_record` ask of a record, asked of both."""
    msgs = [Message(topic="raw.kraken", partition=1, offset=4, key=None, value=b"\xff\x00", timestamp=(1, 1234),
                    headers=[("ts_recv", b"x"), ("kind", None), ("\u00e9t\u00e9", b"")]),
            Message(topic="raw.okx", partition=0, offset=0, key=b"K", value=None, headers=None, timestamp=(1, 0)),
            Message(topic="raw.okx", partition=0, offset=9, timestamp=(1, 5),
                    error=KafkaError(KafkaError._PARTITION_EOF))]
    c = native.kafka_consumer(None, TOPICS)
    c.put(fetched(msgs))
    for m in msgs:
        r = c.take()
        assert (r.topic(), r.partition(), r.offset(), r.key(), r.value(), r.headers(), r.timestamp()) == (
            m.topic(), m.partition(), m.offset(), m.key(), m.value(), m.headers(), m.timestamp())
        if m.error() is None:
            assert r.error() is None
        else:
            assert (r.error().code(), r.error().retriable()) == (m.error().code(), m.error().retriable())
    assert c.take() is None


def test_an_unreadable_record_is_a_dead_letter_with_the_same_reason_either_way():
    bad = Message(topic="raw.kraken", partition=0, offset=0, key=b"XBT/USD", value=b"{}", timestamp=(1, 1_700_000_000_000),
                  headers=[("ts_recv", b"-5")])
    results = []
    for with_native in (False, True):
        p = partition({"skew": 0, "fetched": {tp: None for tp in PARTS}, "held": {tp: deque() for tp in PARTS},
                       "emitted": {}, "last_ts": {}, "at_eof": set()}, with_native)
        out: list = []
        if with_native:
            put(p, [bad])
            p._read_native(out, {}, None)
        else:
            p._read([bad], out, {}, None)
        results.append(out)
    assert results[0] == results[1]
    (dl,) = results[0]
    assert isinstance(dl, DeadLetter) and dl.stage == "read" and "raw.kraken[0]@0" in dl.reason
    assert dl.raw.ts_recv == 1_700_000_000_000 * 1_000_000 and dl.raw.symbol == "XBT/USD"
