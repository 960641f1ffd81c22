"""What every command module of the CLI shares: the global options (accepted before or
after the subcommand), argument types, and the one-line error."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cobflow.config import Settings

Command = Callable[[argparse.Namespace, "Settings"], int]
Subparsers = Any  # argparse's private _SubParsersAction

#: Global options, on the top parser and on every subcommand (`cobflow compute --config F`).
GLOBAL = argparse.ArgumentParser(add_help=False)
GLOBAL.add_argument(
    "--config", type=Path, metavar="SYMBOLS_YAML", default=argparse.SUPPRESS,
    help="symbols and venues file (env COBFLOW_SYMBOLS_FILE; default: ./symbols.yaml if there is one, "
         "else the project's)",
)


def command(sub: Subparsers, name: str, help: str, func: Command | None = None) -> argparse.ArgumentParser:
    """A subcommand that takes the global options too."""
    p = sub.add_parser(name, help=help, parents=[GLOBAL])
    if func is not None:
        p.set_defaults(func=func)
    return p


def err(msg: str) -> int:
    print(f"cobflow: error: {msg}", file=sys.stderr)
    return 2


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def speed(text: str) -> float | None:
    """'max' (or 0): as fast as possible; else a multiple of the recorded pace."""
    return None if text in ("max", "0") else float(text)


def symbols_of(folder: Path | None, args: argparse.Namespace, settings: Settings) -> Settings:
    """The symbols file a `cobflow compute` output folder was computed with (its copy,
    FOLDER/symbols.yaml), unless --config (or COBFLOW_SYMBOLS_FILE) names one."""
    from cobflow.config import SYMBOLS_FILE

    if folder is None or getattr(args, "config", None) is not None or "COBFLOW_SYMBOLS_FILE" in os.environ:
        return settings
    stored = folder / SYMBOLS_FILE
    if not stored.is_file():
        return settings
    print(f"symbols: {stored} (the file {folder} was computed with)", file=sys.stderr)
    return settings.model_copy(update={"symbols_file": stored})


def with_tables(value: str | None, settings: Settings, named: dict[str, tuple[str, ...] | None]) -> Settings:
    """`--tables NAME|t1,t2,...` (`named`: the sets a name stands for, None: every table)
    into the settings (`cobflow.app.compute` hands them to the flow it starts)."""
    from pydantic import ValidationError

    from cobflow.config import ConfigError, FlowSettings

    if value is None:
        return settings
    tables = named[value] if value in named else tuple(t.strip() for t in value.split(",") if t.strip())
    try:
        flow = FlowSettings.model_validate({**settings.flow.model_dump(), "tables": tables})
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ConfigError(f"--tables: {problem} (or one of: {', '.join(named)})") from None
    return settings.model_copy(update={"flow": flow})


def with_strategy(name: str | None, settings: Settings) -> Settings:
    """`--strategy NAME[,NAME...]` into the settings and the environment of the flows this
    command starts, every strategy loaded and its parameters checked first (one line)."""
    from cobflow.config import ConfigError, StrategySettings, load_symbols, strategy_name_problem
    from cobflow.execution.risk import RiskLimits
    from cobflow.models.dataset import LabelSpec
    from cobflow.operators.strategies import risk_rules, runs
    from cobflow.operators.strategy import StrategyState, signal_classes

    if name is not None:
        for n in name.split(","):
            problem = strategy_name_problem(n.strip())
            if problem:
                raise ConfigError(f"--strategy: {problem}")
        strategy = StrategySettings.model_validate({**settings.strategy.model_dump(), "name": name})
        os.environ["COBFLOW_STRATEGY__NAME"] = strategy.name or ""
        settings = settings.model_copy(update={"strategy": strategy})
    runs(load_symbols(settings.symbols_file), settings.strategy.name, settings.trading.run_id)
    risk_rules(settings.trading.risk_rules, RiskLimits.of(settings.trading))
    symbols = load_symbols(settings.symbols_file)
    StrategyState(symbols, LabelSpec(), None, signal_classes(settings.strategy.signals))  # their params too
    return settings
