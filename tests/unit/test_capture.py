import gzip
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cobflow.capture import PROGRESS_EVERY, CaptureError, capture_extent, read_capture, write_capture
from cobflow.connectors.cryptofeed import import_cryptofeed, seconds_to_ns
from cobflow.kafka_io import from_record, to_record
from cobflow.raw import RawMessage, RawMessageError
from tests.conftest import SAMPLE


def binance(captures):
    return import_cryptofeed([captures / "BINANCE.ws.1.0", captures / "BINANCE.http.0.0"])


def test_seconds_to_ns_is_exact():
    # float("1633998512.0633569") * 1e9 would round; the digits must survive as written.
    assert seconds_to_ns("1633998512.0633569") == 1633998512063356900
    assert seconds_to_ns("1633998542.0778618") == 1633998542077861800
    assert seconds_to_ns("1618677543") == 1618677543000000000


def test_binance_fixture_imports_every_frame(captures):
    msgs = binance(captures)
    # BINANCE.ws.1.0: a header line + 265 received frames; BINANCE.http.0.0: 4 snapshots.
    assert len(msgs) == 269
    counts = Counter((m.kind, m.channel, m.symbol) for m in msgs)
    # Counted independently with grep -o '"stream":"[^"]*"' | sort | uniq -c
    assert counts[("ws", "depth@100ms", "NKN-USDT")] == 150
    assert counts[("ws", "bookTicker", "NKN-USDT")] == 74
    assert counts[("ws", "depth@100ms", "LRC-BTC")] == 15
    assert counts[("ws", "depth@100ms", "BLZ-ETH")] == 10
    assert counts[("ws", "depth@100ms", "RUNE-EUR")] == 2
    assert sorted(m.symbol for m in msgs if m.kind == "rest") == ["BLZ-ETH", "LRC-BTC", "NKN-USDT", "RUNE-EUR"]
    assert all(m.channel == "snapshot" for m in msgs if m.kind == "rest")
    assert [m.ts_recv for m in msgs] == sorted(m.ts_recv for m in msgs)
    assert msgs[0].ts_recv == 1633998512063356900
    assert all(m.exchange == "binance" and m.encoding is None for m in msgs)


def test_bundled_demo_sample_is_the_fixture_unchanged(captures):
    assert list(read_capture(SAMPLE)) == binance(captures)


@pytest.mark.parametrize("name", ["c.jsonl", "c.jsonl.gz", "c.parquet"])
def test_capture_round_trip(tmp_path, name):
    msgs = list(read_capture(SAMPLE))
    msgs.append(RawMessage(1, "htx", "ws", "mbp", "BTC-USDT", "H4sIAAAAAAACA6tWKsjMS1eyMqwFAC3smCEKAAAA", "base64-gzip"))
    path = tmp_path / name
    assert write_capture(path, msgs) == len(msgs)
    assert list(read_capture(path)) == msgs


def test_gz_capture_is_reproducible(tmp_path):
    msgs = list(read_capture(SAMPLE))
    write_capture(tmp_path / "a.jsonl.gz", msgs)
    write_capture(tmp_path / "b.jsonl.gz", msgs)
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def test_bad_capture_line_names_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    good = '{"ts_recv": 1, "exchange": "binance", "kind": "ws", "channel": "x", "symbol": null, "payload": "{}"}'
    p.write_text(good + "\n" + '{"ts_recv": "soon", "exchange": "binance"}\n')
    with pytest.raises(CaptureError, match=r"bad.jsonl:2: missing field"):
        list(read_capture(p))
    p.write_text(good + "\n" + good.replace("binance", "ftx") + "\n")
    with pytest.raises(CaptureError, match=r"bad.jsonl:2: unknown exchange 'ftx'"):
        list(read_capture(p))


@pytest.mark.parametrize("native_reader", [True, False])
def test_a_ts_recv_beyond_64_bits_is_refused_by_both_readers(tmp_path, monkeypatch, native_reader):
    """2^63 ns and more fit no i64 (Kafka's timestamps, QuestDB's, Arrow's): the line is
    refused with its place, as any bad line, and 2^63 - 1 is still read."""
    from cobflow import native

    if not native_reader:
        monkeypatch.setattr(native, "line_reader", lambda keep=None: None)
    elif native.line_reader() is None:
        pytest.skip("the native core is not built")
    p = tmp_path / "big.jsonl"
    line = '{"ts_recv":%d,"exchange":"binance","kind":"ws","channel":"x","symbol":null,"payload":"{}"}'
    p.write_text(line % 5 + "\n" + line % (2**63 - 1) + "\n" + line % 2**63 + "\n")
    with pytest.raises(CaptureError, match=r"big.jsonl:3: ts_recv 9223372036854775808 is beyond 2\^63 - 1 ns"):
        list(read_capture(p))
    p.write_text(line % 5 + "\n" + line % (2**63 - 1) + "\n")
    assert [m.ts_recv for m in read_capture(p)] == [5, 2**63 - 1]


def test_kafka_record_round_trip_keeps_every_field():
    text = RawMessage(1633998512063356900, "binance", "ws", "depth@100ms", "NKN-USDT", '{"a":1}')
    binary = RawMessage(5, "htx", "ws", "mbp", None, "H4sIAAAAAAACA6tWKsjMS1eyMqwFAC3smCEKAAAA", "base64-gzip")
    for msg in (text, binary):
        key, value, headers, ts_ms = to_record(msg)
        assert ts_ms == msg.ts_recv // 1_000_000
        assert from_record(msg.exchange, key, value, headers) == msg
    # Binary frames travel as their raw bytes, not base64 text (CAPTURE.md "In Kafka").
    assert gzip.decompress(to_record(binary)[1]).startswith(b"{")
    assert binary.payload_text().startswith("{")


def test_a_kafka_record_whose_ts_recv_is_no_i64_of_ns_is_unreadable():
    """CAPTURE.md: ts_recv is ns since the epoch, kept everywhere as an i64."""
    for ts in (b"-1", b"9223372036854775808"):
        with pytest.raises(ValueError, match="outside 0..2\\^63-1"):
            from_record("okx", None, b"{}", [("ts_recv", ts)])
    assert from_record("okx", None, b"{}", [("ts_recv", b"9223372036854775807")]).ts_recv == 2**63 - 1


def _outcome(fn, d):
    try:
        return fn(d)
    except RawMessageError as exc:
        return f"error: {exc}"


_field_values = st.one_of(st.none(), st.booleans(), st.integers(-2, 2 * 10**18), st.integers(2**63 - 2, 2**64 + 1),
                          st.text(max_size=6),
                          st.sampled_from(["binance", "okx", "ws", "rest", "base64", "base64-gzip", "{}"]),
                          st.lists(st.integers(), max_size=1))


@settings(max_examples=300, deadline=None)  # no deadline: the first example pays for imports
@given(st.dictionaries(st.sampled_from(["ts_recv", "exchange", "kind", "channel", "symbol", "payload", "encoding"]),
                       _field_values),
       st.booleans())
def test_the_fast_check_accepts_and_rejects_what_the_rule_by_rule_check_does(d, complete):
    if complete:  # mostly valid messages, with the random values mixed in
        d = {"ts_recv": 1, "exchange": "okx", "kind": "ws", "channel": "books", "payload": "{}", **d}
    assert _outcome(RawMessage.from_dict, d) == _outcome(RawMessage._checked, d)


@pytest.mark.parametrize("name", ["c.jsonl", "c.jsonl.gz", "c.parquet"])
def test_reading_reports_progress_up_to_the_whole_file(tmp_path, name):
    """`cobflow compute` shows how far into the capture it is: the reports never go back, come
    every PROGRESS_EVERY messages, and the last one is the whole file (its size in MB, or its
    rows for Parquet), so the bar ends at 100%."""
    n = 2 * PROGRESS_EVERY + 100
    msgs = [RawMessage(1_700_000_000_000_000_000 + i, "binance", "ws", "aggTrade", "BTC-USDT", f'{{"i":{i}}}')
            for i in range(n)]
    path = tmp_path / name
    write_capture(path, msgs)
    reports: list[float] = []
    assert [m.ts_recv for m in read_capture(path, reports.append)] == [m.ts_recv for m in msgs]
    total, unit = capture_extent(path)
    if name.endswith(".parquet"):
        assert (total, unit) == (n, "messages")
        assert reports == [PROGRESS_EVERY, 2 * PROGRESS_EVERY, n]
    else:
        assert unit == "MB" and total == path.stat().st_size / 1e6
        assert len(reports) == 3 and reports == sorted(reports) and reports[-1] == total
        assert 0 < reports[0] < total


def test_compute_prints_its_progress(tmp_path):
    import subprocess
    import sys

    capture = tmp_path / "c.jsonl"
    write_capture(capture, [RawMessage(1_700_000_000_000_000_000 + i * 1_000_000, "binance", "ws", "aggTrade",
                                       "BTC-USDT", "{}") for i in range(50)])
    proc = subprocess.run([sys.executable, "-m", "cobflow", "compute", "--input", str(capture),
                           "--output", str(tmp_path / "out")], capture_output=True)
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    last = err.split("\r")[-1]  # the line each report rewrites (tqdm's bar)
    size = f"{capture.stat().st_size / 1e6:.1f}"
    assert last.startswith("compute 100%|"), err
    assert f"| {size}/{size} MB (" in last and "eta " in last, err
