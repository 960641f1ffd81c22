"""`python -m cobflow.runflow ARGS`: `python -m bytewax.run ARGS`, stopped quietly.

Ctrl-C or SIGTERM (`docker stop`) ends a Bytewax flow by raising KeyboardInterrupt inside
whatever step is running, which Bytewax reports as a runtime error with two tracebacks.
Stopping is normal here (the recovery store keeps the state): say so in one line, exit 130.

The flows allocate millions of short-lived tuples and floats while holding large long-lived
books; with CPython's default thresholds the cyclic collector rescans them every 700
allocations and takes a quarter of the time. Nothing here builds cycles that need prompt
collection, so young collections are made rarer (`tune_gc`).
"""

from __future__ import annotations

import gc
import runpy
import signal
import sys


def _interrupted(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


def main() -> int:
    tune_gc()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.argv = ["bytewax.run", *sys.argv[1:]]
    try:
        runpy.run_module("bytewax.run", run_name="__main__", alter_sys=True)
    except BaseException as exc:  # noqa: BLE001 - only an interruption is swallowed
        if not _interrupted(exc):
            raise
        print("cobflow: dataflow stopped (interrupted); a --recovery store resumes it", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
