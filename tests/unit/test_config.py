from pathlib import Path

import pytest

from cobflow.config import ConfigError, PROJECT_ROOT, load_settings, load_symbols


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "symbols.yaml"
    p.write_text(text)
    return p


def test_defaults_bind_to_loopback_standard_ports():
    s = load_settings()
    assert s.kafka.servers == "127.0.0.1:9092"
    assert s.kafka.raw_topic("binance") == "raw.binance"
    assert s.questdb.http_url == "http://127.0.0.1:9000"
    assert s.questdb.pg_port == 8812


def test_environment_overrides_nested_settings(monkeypatch):
    monkeypatch.setenv("COBFLOW_KAFKA__PORT", "19092")
    monkeypatch.setenv("COBFLOW_KAFKA__TOPIC_PREFIX", "x.")
    monkeypatch.setenv("COBFLOW_QUESTDB__TABLE_PREFIX", "x_")
    s = load_settings()
    assert s.kafka.servers == "127.0.0.1:19092"
    assert s.kafka.raw_topic("okx") == "x.raw.okx"
    assert s.kafka.venue_of_topic("x.raw.okx") == "okx"
    assert s.questdb.table("top_of_book") == "x_top_of_book"


def test_bad_environment_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("COBFLOW_KAFKA__PORT", "not-a-port")
    with pytest.raises(ConfigError, match="COBFLOW_KAFKA__PORT"):
        load_settings()


def test_repo_symbols_file_loads():
    cfg = load_symbols(PROJECT_ROOT / "symbols.yaml")
    assert cfg.symbols["BTC-USD"].bucket.step == 10
    assert cfg.symbols["ETH-USD"].bucket.step == 1
    assert cfg.symbols["BTC-USD"].venues["kraken"] == "BTC-USD"  # BTC/USD, canonical form
    assert "binance" in cfg.venues()


def test_bps_bucket_scales_with_mid(tmp_path):
    cfg = load_symbols(write(tmp_path, "symbols:\n  BTC-USD:\n    bucket: 2bps\n    venues: {binance: BTC-USDT}\n"))
    b = cfg.symbols["BTC-USD"].bucket
    assert b.bps == 2 and b.step is None
    assert b.size(50_000.0) == pytest.approx(10.0)  # 50000 * 2 / 1e4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("symbols:\n  BTC-USD:\n    bucket: 10\n    venues: {ftx: BTC-USD}\n",
         r"symbols\.BTC-USD\.venues: unknown venue 'ftx'"),
        ("symbols:\n  BTC-USD:\n    venues: {binance: BTC-USDT}\n",
         r"symbols\.BTC-USD\.bucket: missing"),
        ("symbols:\n  BTC-USD:\n    bucket: -5\n    venues: {binance: BTC-USDT}\n",
         r"symbols\.BTC-USD\.bucket: expected a positive"),
        ("symbols:\n  BTC-USD:\n    bucket: lots\n    venues: {binance: BTC-USDT}\n",
         r"symbols\.BTC-USD\.bucket: expected a positive number or '<n>bps'"),
        ("symbols:\n  A:\n    bucket: 1\n    venues: {binance: BTC-USDT}\n"
         "  B:\n    bucket: 1\n    venues: {binance: btc/usdt}\n",
         r"duplicate market: binance BTC-USDT is listed under both A and B"),
        ("symbols:\n  A:\n    bucket: 1\n    venues: {}\n", r"symbols\.A\.venues: list at least one venue"),
        ("symbols:\n  A:\n    bucket: 1\n    venues: {binance: X-Y}\n    colour: red\n",
         r"symbols\.A\.colour: unknown key"),
        ("- just a list\n", r"expected a mapping"),
        ("symbols: [unclosed\n", r"not valid YAML"),
    ],
)
def test_bad_symbols_file_says_which_key_and_what_was_expected(tmp_path, text, expected):
    with pytest.raises(ConfigError, match=expected):
        load_symbols(write(tmp_path, text))


def test_missing_symbols_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_symbols(tmp_path / "nope.yaml")



def test_cli_rejects_a_bad_symbols_file_before_starting_anything(tmp_path, capsys, monkeypatch):
    from cobflow.cli import main

    monkeypatch.delenv("COBFLOW_SYMBOLS_FILE", raising=False)
    bad = write(tmp_path, "symbols:\n  BTC-USD:\n    bucket: 10\n    venues: {ftx: BTC-USD}\n")
    try:
        assert main(["--config", str(bad), "run", "top-of-book"]) == 2
    finally:
        monkeypatch.delenv("COBFLOW_SYMBOLS_FILE", raising=False)
    err = capsys.readouterr().err
    assert err.startswith("cobflow: error: ")
    assert "symbols.BTC-USD.venues: unknown venue 'ftx'" in err
    assert "running:" not in err  # no dataflow was started
