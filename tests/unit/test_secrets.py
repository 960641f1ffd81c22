"""Venue keys: only from the environment or a 0600 file, held as SecretStr, refused in one
line that names what is missing or wrong, never printed."""

from __future__ import annotations

import os

import pytest

from cobflow.settings.base import ConfigError
from cobflow.settings.secrets import load_keys

KEY, SECRET, PHRASE = "AKIAkey1234567890", "s3cr3t-value-0987654321", "pass-phrase-42"


def test_keys_come_from_the_environment_and_never_show():
    env = {"COBFLOW_BINANCE_API_KEY": KEY, "COBFLOW_BINANCE_SECRET": SECRET}
    keys = load_keys(["binance"], None, env)["binance"]
    assert keys.api_key.get_secret_value() == KEY and keys.secret.get_secret_value() == SECRET
    shown = repr(keys) + str(keys) + keys.model_dump_json()
    assert KEY not in shown and SECRET not in shown


def test_a_secrets_file_must_be_0600_and_the_refusal_names_its_mode(tmp_path):
    f = tmp_path / "keys.yaml"
    f.write_text(f"okx: {{api_key: {KEY}, secret: {SECRET}, passphrase: {PHRASE}}}\n")
    os.chmod(f, 0o644)
    with pytest.raises(ConfigError, match=r"has mode 0644: others can read it; it must be 0600") as e:
        load_keys(["okx"], f, {})
    assert "\n" not in str(e.value) and KEY not in str(e.value)
    os.chmod(f, 0o600)
    keys = load_keys(["okx"], f, {})["okx"]
    assert keys.passphrase is not None and keys.passphrase.get_secret_value() == PHRASE
    # the environment wins, key by key
    env = {"COBFLOW_OKX_SECRET": "other-secret"}
    assert load_keys(["okx"], f, env)["okx"].secret.get_secret_value() == "other-secret"


def test_missing_keys_are_named_in_one_line():
    with pytest.raises(ConfigError, match="trading on binance needs its keys: set COBFLOW_BINANCE_API_KEY and "
                                          "COBFLOW_BINANCE_SECRET or name a 0600 YAML file"):
        load_keys(["binance"], None, {})
    with pytest.raises(ConfigError, match="set COBFLOW_OKX_PASSPHRASE"):
        load_keys(["okx"], None, {"COBFLOW_OKX_API_KEY": KEY, "COBFLOW_OKX_SECRET": SECRET})


def test_a_broken_secrets_file_does_not_quote_its_lines(tmp_path):
    f = tmp_path / "keys.yaml"
    f.write_text(f"binance: {{api_key: {KEY}, secret: [{SECRET}\n")
    os.chmod(f, 0o600)
    with pytest.raises(ConfigError, match="is not valid YAML") as e:
        load_keys(["binance"], f, {})
    assert SECRET not in str(e.value) and KEY not in str(e.value)
    assert e.value.__cause__ is None and e.value.__context__ is not None  # raised "from None": no chained text
