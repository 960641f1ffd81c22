"""The `cobflow` command: one module per command group, each thin over the library
functions that the tests and the benchmarks call directly."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from cobflow import __version__
from cobflow.app.cli import (
    backtest,
    capture,
    dashboards,
    demo,
    features,
    flows,
    live,
    models,
    query,
    services,
    simulate,
    trading,
)
from cobflow.app.cli.common import GLOBAL, err
from cobflow.errors import one_line

GROUPS = (services, capture, simulate, live, flows, features, models, backtest, query, dashboards, demo, trading)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cobflow", parents=[GLOBAL],
        description="Consolidated order books from exchange feeds: Kafka -> Bytewax -> QuestDB.",
        epilog="Settings come from COBFLOW_* environment variables (e.g. COBFLOW_KAFKA__PORT); see docs/configuration.md.",
    )
    p.add_argument("--version", action="version", version=f"cobflow {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_commands(sub)
    return p


def _debug() -> bool:
    from cobflow.config import ConfigError, load_settings

    try:
        return load_settings().debug
    except ConfigError:
        return False


def main(argv: list[str] | None = None) -> int:
    # `docker stop` sends SIGTERM: stop as on Ctrl-C (producers flush, flows stop cleanly).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    args = build_parser().parse_args(argv)
    from cobflow.config import ConfigError, load_settings  # after parsing: `--help` stays fast

    config = getattr(args, "config", None)
    if config is not None:
        # Through the environment, so dataflows started as subprocesses read the same file.
        os.environ["COBFLOW_SYMBOLS_FILE"] = str(config.resolve())
    try:
        settings = load_settings()
        return int(args.func(args, settings))
    except ConfigError as exc:
        return err(str(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader stopped (`| head`): not an error; flushing at exit must not fail either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a clear one-line reason; COBFLOW_DEBUG=1 for the traceback
        if _debug():
            raise
        return err(one_line(exc))


if __name__ == "__main__":
    sys.exit(main())
