import os
from pathlib import Path

import pytest

from cobflow.config import PROJECT_ROOT, ConfigError, load_settings, load_symbols


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "symbols.yaml"
    p.write_text(text)
    return p


def test_defaults_bind_to_loopback_standard_ports(monkeypatch):
    for name in [k for k in os.environ if k.startswith(("COBFLOW_KAFKA__", "COBFLOW_QUESTDB__"))]:
        monkeypatch.delenv(name)  # the test session's own servers' ports
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
    from cobflow.app.cli import main

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


def test_flow_epoch_paces_inputs_without_recovery_and_snapshots_with_it(tmp_path, monkeypatch):
    """Without a recovery store Bytewax's default epoch is 10 s, and its inputs only wait at
    an epoch's end: the flows are started with the configured epoch (1 s) instead; with a
    store, the epoch is the 5 s snapshot interval."""
    from cobflow.app.runflow import flow_commands, kafka_flow

    def epoch_arg(cmd: list[str]) -> str:
        assert cmd.count("-s") == 1
        return cmd[cmd.index("-s") + 1]

    monkeypatch.setenv("COBFLOW_FLOW__EPOCH_S", "0.25")
    settings = load_settings()
    assert settings.flow.epoch_s == 0.25
    cmds = flow_commands(kafka_flow("cob"), 1, processes=2, epoch_s=settings.flow.epoch_s)
    assert len(cmds) == 2 and all(epoch_arg(c) == "0.25" for c in cmds)
    assert epoch_arg(flow_commands(kafka_flow("cob"), 1)[0]) == "1"
    (tmp_path / "part-0.sqlite3").touch()  # an existing store: no partitions are created
    assert epoch_arg(flow_commands(kafka_flow("cob"), 1, recovery=tmp_path, epoch_s=0.25)[0]) == "5"


@pytest.mark.parametrize("text, expected", [
    # a venue listed twice under one symbol: plain YAML would keep the second (ETH's market)
    ("symbols:\n  BTC-USD:\n    bucket: 10\n    venues:\n      binance: BTC-USDT\n      binance: ETH-USDT\n",
     "'binance' is given twice in one mapping (lines 5 and 6); keep one"),
    ("symbols:\n  BTC-USD:\n    bucket: 10\n    venues: {binance: BTC-USDT}\n"
     "  BTC-USD:\n    bucket: 5\n    venues: {okx: BTC-USDT}\n",
     "'BTC-USD' is given twice in one mapping (lines 2 and 5); keep one"),
])
def test_a_key_given_twice_in_symbols_yaml_is_refused_in_one_line(tmp_path, text, expected):
    with pytest.raises(ConfigError) as exc:
        load_symbols(write(tmp_path, text))
    assert expected in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("var, value, expected", [
    ("COBFLOW_FLOW__EPOCH_S", "inf", "COBFLOW_FLOW__EPOCH_S: Input should be a finite number"),
    ("COBFLOW_FLOW__IDLE_TIMEOUT_S", "nan", "COBFLOW_FLOW__IDLE_TIMEOUT_S: Input should be a finite number"),
    ("COBFLOW_NATIVE", "abc", "COBFLOW_NATIVE: Input should be a valid boolean"),
])
def test_non_finite_and_non_boolean_settings_are_refused_in_one_line(monkeypatch, var, value, expected):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert expected in str(exc.value) and "\n" not in str(exc.value)
