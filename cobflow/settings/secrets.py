"""Venue API keys: only from the environment or a YAML file of mode 0600, held as pydantic
`SecretStr` (their `repr` and `str` are `**********`), never part of `Settings` (so a dump of
the settings, a report or a log cannot carry them), and read only by the process that sends
orders (`cobflow trade`).

Environment: `COBFLOW_<VENUE>_API_KEY`, `COBFLOW_<VENUE>_SECRET` and, for a venue that
needs one (OKX, KuCoin, Coinbase), `COBFLOW_<VENUE>_PASSPHRASE`. The file named by
`COBFLOW_TRADING__SECRETS_FILE`: `binance: {api_key: ..., secret: ...}`, one entry per venue.
The environment wins over the file, key by key.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, SecretStr

from cobflow.settings.base import ConfigError

#: venues whose API signs with a passphrase besides the key and secret
PASSPHRASE_VENUES = frozenset({"okx", "kucoin", "coinbase"})
FIELDS = ("api_key", "secret", "passphrase")


class VenueKeys(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: SecretStr
    secret: SecretStr
    passphrase: SecretStr | None = None

    def values(self) -> list[str]:
        """The secret strings themselves (for a test that greps output for them)."""
        out = [self.api_key.get_secret_value(), self.secret.get_secret_value()]
        return out + ([self.passphrase.get_secret_value()] if self.passphrase is not None else [])


def env_name(venue: str, field: str) -> str:
    return f"COBFLOW_{venue.upper()}_{'SECRET' if field == 'secret' else field.upper()}"


def read_secrets_file(path: Path) -> dict[str, dict[str, str]]:
    """The file's entries; refused (one line naming the mode) unless only its owner may read it."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError as e:
        raise ConfigError(f"COBFLOW_TRADING__SECRETS_FILE: {path} does not exist") from e
    if mode & 0o077:
        raise ConfigError(f"secrets file {path} has mode {mode:04o}: others can read it; it must be 0600 "
                          f"(chmod 600 {path})")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        # the parser's message quotes the offending line, which may hold a key: say only where
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"secrets file {path} is not valid YAML{at}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(f"secrets file {path}: expected venue: {{api_key: ..., secret: ...}} entries")
    for venue, entry in data.items():
        extra = sorted(set(entry) - set(FIELDS))
        if extra:
            raise ConfigError(f"secrets file {path}: {venue} has unknown field(s) {', '.join(extra)} "
                              f"(expected {', '.join(FIELDS)})")
    return {str(v): {k: str(x) for k, x in e.items() if x is not None} for v, e in data.items()}


def load_keys(venues: Iterable[str], secrets_file: Path | None,
              environ: Mapping[str, str] | None = None) -> dict[str, VenueKeys]:
    """Every named venue's keys, or a ConfigError saying, in one line, what is missing where."""
    env = os.environ if environ is None else environ
    from_file = read_secrets_file(secrets_file) if secrets_file is not None else {}
    out: dict[str, VenueKeys] = {}
    for venue in venues:
        entry = dict(from_file.get(venue, {}))
        for field in FIELDS:
            value = env.get(env_name(venue, field))
            if value:
                entry[field] = value
        need = ["api_key", "secret"] + (["passphrase"] if venue in PASSPHRASE_VENUES else [])
        missing = [f for f in need if not entry.get(f)]
        if missing:
            names = " and ".join(env_name(venue, f) for f in missing)
            where = f" or add them to {secrets_file}" if secrets_file is not None else \
                " or name a 0600 YAML file in COBFLOW_TRADING__SECRETS_FILE"
            raise ConfigError(f"trading on {venue} needs its keys: set {names}{where}")
        out[venue] = VenueKeys(api_key=SecretStr(entry["api_key"]), secret=SecretStr(entry["secret"]),
                               passphrase=SecretStr(entry["passphrase"]) if entry.get("passphrase") else None)
    return out
