"""Damaged input never crashes a reader (hypothesis picks the frame and the damage): each
venue's Python parser raises MalformedFrame or reads it, the native books turn it into dead
letters, the capture check raises RawMessageError, the config loader ConfigError. The long
run (1,000,000 inputs) is `bench/fuzz.py`."""

from __future__ import annotations

import random

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cobflow import native
from cobflow.config import ConfigError, load_symbols
from cobflow.connectors import get_venue
from cobflow.events import MalformedFrame
from cobflow.raw import RawMessage, RawMessageError
from tests.fuzzing import damaged, mutate
from tests.simdata import VENUES, sim

FRAMES = sim(10.0, seed=6, venues=VENUES)
CONFIG = (__import__("pathlib").Path(__file__).resolve().parent.parent / "data" / "cob_e2e.yaml").read_text()
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.integers(0, len(FRAMES) - 1), st.randoms(use_true_random=False))
def test_every_python_venue_parser_reads_or_refuses_a_damaged_frame(i, rng):
    frame = damaged(FRAMES[i], rng)
    try:
        events = get_venue(frame.exchange).parse(frame)
    except MalformedFrame:
        return
    assert isinstance(events, list)


def _native_books() -> dict:
    """A native book for each market of the simulated frames the core reads."""
    from cobflow.operators.books import native_venue_book

    out = {}
    for f in FRAMES:
        if f.exchange in native.venues() and f.symbol and (f.exchange, f.symbol) not in out:
            book = native_venue_book(f.exchange, f.symbol)  # the envelope names the market
            if book is not None:
                out[(f.exchange, f.symbol)] = book
    return out


_BOOKS = _native_books()
NATIVE = [f for f in FRAMES if (f.exchange, f.symbol) in _BOOKS]


@FUZZ
@given(st.data(), st.randoms(use_true_random=False))
def test_the_native_books_take_damaged_frames_as_dead_letters(data, rng):
    if not NATIVE:
        pytest.skip("the native core is not built")
    frame = NATIVE[data.draw(st.integers(0, len(NATIVE) - 1))]
    book = _BOOKS[(frame.exchange, frame.symbol)]  # one book per market, fed every damaged frame of it
    trades, dead = book.apply([damaged(frame, rng)])
    assert all(d.stage in ("parse", "sync") for d in dead)


@FUZZ
@given(st.integers(0, len(FRAMES) - 1), st.randoms(use_true_random=False))
def test_a_damaged_capture_line_is_a_message_or_a_clear_error(i, rng):
    line = mutate(orjson.dumps(FRAMES[i].to_dict()).decode(), rng)
    try:
        RawMessage.from_dict(orjson.loads(line))
    except (orjson.JSONDecodeError, RawMessageError):
        pass


@settings(max_examples=150, deadline=None)
@given(st.randoms(use_true_random=False))
def test_a_damaged_symbols_file_loads_or_is_a_config_error(tmp_path_factory, rng: random.Random):
    p = tmp_path_factory.mktemp("cfg") / "symbols.yaml"
    p.write_text(mutate(CONFIG, rng), encoding="utf-8", errors="surrogatepass")
    try:
        load_symbols(p)
    except ConfigError as exc:
        assert "\n" not in str(exc)


# What the long fuzz run found, each kept as a case of its own.

def test_a_sequence_number_beyond_64_bits_is_a_dead_letter_in_the_native_book():
    from dataclasses import replace

    frames = [f for f in NATIVE if f.exchange == "binance" and '"U":' in f.payload]
    if not frames:
        pytest.skip("the native core is not built")
    f = frames[0]
    i = f.payload.index('"u":') + 4
    j = f.payload.index(",", i)
    wide = replace(f, payload=f.payload[:i] + str(2**64) + f.payload[j:])
    _, dead = _BOOKS[(f.exchange, f.symbol)].apply([wide])
    assert [(d.stage, d.reason) for d in dead] == [("parse", f"sequence number {2**64} does not fit 64 bits")]


def test_an_okx_price_sent_as_a_number_is_malformed():
    okx = next(f for f in FRAMES if f.exchange == "okx" and '"asks":[["' in f.payload)
    i = okx.payload.index('"asks":[["') + len('"asks":[[')
    j = okx.payload.index('"', i + 1)
    bad = okx.payload[:i] + "30243.5" + okx.payload[j + 1:]  # the price without its quotes
    with pytest.raises(MalformedFrame, match="price and size must be strings"):
        get_venue("okx").parse(RawMessage(okx.ts_recv, "okx", "ws", okx.channel, okx.symbol, bad))


def test_a_list_as_a_yaml_key_is_a_config_error(tmp_path):
    p = tmp_path / "symbols.yaml"
    p.write_text("symbols:\n  BTC-USD:\n    bucket: 10\n    venues: {binance: BTC-USDT, []: x}\n")
    with pytest.raises(ConfigError, match="unhashable key"):
        load_symbols(p)
