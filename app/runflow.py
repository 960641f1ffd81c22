"""Starting dataflows: `python -m cobflow.app.runflow ARGS` is `python -m bytewax.run ARGS`,
stopped quietly; `run_flow` starts a flow's processes (one, or a Bytewax cluster on this
machine) the way `cobflow run`, `cobflow compute`, the demo, the tests and the benchmarks do.

Ctrl-C or SIGTERM (`docker stop`) ends a Bytewax flow by raising KeyboardInterrupt inside
whatever step is running, which Bytewax reports as a runtime error with two tracebacks.
Stopping is normal here (the recovery store keeps the state): say so in one line, exit 130.

The flows allocate millions of short-lived tuples and floats while holding large long-lived
books; with CPython's default thresholds the cyclic collector rescans them every 700
allocations and takes a quarter of the time. Nothing here builds cycles that need prompt
collection, so young collections are made rarer (`tune_gc`).
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import os
import runpy
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path

#: The dataflow modules `cobflow run` knows, by the name users type.
FLOWS = {"cob": "cobflow.dataflows.cob", "strategy": "cobflow.dataflows.strategy",
         "top-of-book": "cobflow.dataflows.top_of_book"}


def kafka_flow(name: str, tail: bool = False) -> str:
    """The `bytewax.run` locator of a flow's Kafka -> QuestDB factory."""
    return f"{FLOWS[name]}:kafka_flow(tail={tail!r})"


def file_flow(input: Path | str, output: Path | str, symbols_file: Path | str | None = None,
              progress: bool | str = False, features: bool = True, strategy: bool = False) -> str:
    """The `bytewax.run` locator of the COB flow's capture -> Parquet factory (`strategy`:
    the flow with the strategy step, cobflow.dataflows.strategy)."""
    symbols = None if symbols_file is None else str(symbols_file)
    head = f"{str(input)!r}, {str(output)!r}, symbols_file={symbols!r}, progress={progress!r}"
    if strategy:
        return f"{FLOWS['strategy']}:file_flow({head})"
    return f"{FLOWS['cob']}:file_flow({head}, features={features!r})"


def flow_commands(locator: str, workers: int, recovery: Path | None = None, processes: int = 1,
                  epoch_s: float = 1.0) -> list[list[str]]:
    """The command line of each process of a flow: `python -m bytewax.run LOCATOR` (through
    this module, which stops quietly on Ctrl-C/SIGTERM); with `processes` > 1, a Bytewax
    cluster of that many processes on this machine. With a recovery store, an epoch is a
    snapshot every 5 s; without one, an epoch lasts `epoch_s`."""
    cmd = [sys.executable, "-m", "cobflow.app.runflow", locator, "-w", str(workers)]
    if recovery is not None:
        if not any(recovery.glob("*.sqlite3")):  # first run: create the recovery partitions
            recovery.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), str(workers * processes)],
                           check=True)
        cmd += ["-r", str(recovery), "-s", "5", "-b", "0"]
    else:  # no recovery: the epoch only paces the inputs (see FlowSettings.epoch_s)
        cmd += ["-s", f"{epoch_s:g}"]
    if processes == 1:
        return [cmd]
    addresses = ";".join(f"127.0.0.1:{port}" for port in free_ports(processes))
    return [[*cmd, "-i", str(i), "-a", addresses] for i in range(processes)]


class RecoveryInUse(RuntimeError):
    """Another flow runs on this recovery store."""


LOCK = ".cobflow.lock"


def lock_recovery(recovery: Path) -> int:
    """An exclusive lock on a recovery store, held by the open file this returns (the flow's
    processes inherit it, so it is free only once they are all gone, killed or not)."""
    recovery.mkdir(parents=True, exist_ok=True)
    fd = os.open(recovery / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise RecoveryInUse(f"recovery store {recovery} is in use by another flow (pid {holder}); stop that flow "
                            "first, or give this one another --recovery folder") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (even by kill -9), so no flow
    process is left running on its own (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's own stop handling remains
        pass


def run_flow(locator: str, workers: int = 1, env: dict[str, str] | None = None, recovery: Path | None = None,
             processes: int = 1, epoch_s: float = 1.0) -> int:
    """Run a flow to its end; returns its exit code (the first failing process's). Its
    processes end with this one; a recovery store is locked for the run (RecoveryInUse)."""
    lock = lock_recovery(recovery) if recovery is not None else None
    try:
        cmds = flow_commands(locator, workers, recovery, processes, epoch_s)
        for c in cmds:
            print(f"running: python -m bytewax.run {' '.join(repr(a) if ' ' in a or '(' in a else a for a in c[3:])}",
                  file=sys.stderr)
        procs = [subprocess.Popen(c, env={**os.environ, **(env or {})}, preexec_fn=_die_with_parent,
                                  pass_fds=() if lock is None else (lock,)) for c in cmds]
        try:
            return _wait_all(procs)
        except KeyboardInterrupt:  # Ctrl-C (the flow got it too) or SIGTERM (pass it on)
            return _stop_all(procs)
    finally:
        if lock is not None:
            os.close(lock)


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _wait_all(procs: list[subprocess.Popen]) -> int:
    """The first failure stops the rest of the cluster (it cannot finish without it)."""
    rc = 0
    pending = list(procs)
    while pending:
        for p in list(pending):
            code = p.poll()
            if code is None:
                continue
            pending.remove(p)
            if code != 0 and rc == 0:
                rc = code
                for other in pending:
                    other.terminate()
        time.sleep(0.2)
    return rc


def _stop_all(procs: list[subprocess.Popen]) -> int:
    deadline = time.monotonic() + 2
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return max(p.returncode for p in procs)


def _interrupted(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


def _cause(exc: BaseException) -> BaseException:
    """The exception a step raised, under Bytewax's wrapping of it."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _hint(kind: str, text: str) -> str:
    """What to do about the failures users meet most (servers not running)."""
    if kind == "KafkaException" and ("_TRANSPORT" in text or "transport failure" in text):
        return "; Kafka is unreachable at COBFLOW_KAFKA__* (is it running? cobflow services up kafka)"
    if kind == "IngressError" or ("questdb" in text.lower() and "connect" in text.lower()):
        return "; QuestDB is unreachable or refused the rows (is it running? cobflow services up questdb)"
    return ""


def _native_stderr_to_log() -> Path:
    """Native code's stderr (a Rust panic's message and backtrace, librdkafka's lines) into
    a log file; Python's (progress bars, the one-line error) stays on the terminal."""
    fd, name = tempfile.mkstemp(prefix="cobflow-flow-", suffix=".log")
    sys.stderr.flush()
    sys.stderr = os.fdopen(os.dup(2), "w", buffering=1)
    os.dup2(fd, 2)
    os.close(fd)
    return Path(name)


def mark_recovery(argv: list[str], environ: MutableMapping[str, str]) -> None:
    """A flow run without a recovery store keeps no snapshot: its sinks need not wait at an
    epoch's end, nor its steps copy their state (FlowSettings.recovery; an explicit setting wins)."""
    if not {"-r", "--recovery-directory"} & set(argv):
        environ.setdefault("COBFLOW_FLOW__RECOVERY", "false")


def mark_workers(argv: list[str], environ: MutableMapping[str, str]) -> None:
    """The cluster's workers in all and its processes, from bytewax.run's -w and -a (or their
    BYTEWAX_ variables), for the steps that shard by worker and the capture read per process
    (FlowSettings.workers and .processes; an explicit setting wins)."""
    import argparse

    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("-w", "--workers-per-process", type=int, default=None)
    ap.add_argument("-a", "--addresses", default=None)
    args, _ = ap.parse_known_args(argv[1:])
    per = args.workers_per_process or int(environ.get("BYTEWAX_WORKERS_PER_PROCESS") or 1)
    addresses = args.addresses or environ.get("BYTEWAX_ADDRESSES") or ""
    processes = len([a for a in addresses.split(";") if a.strip()]) or 1
    environ.setdefault("COBFLOW_FLOW__WORKERS", str(per * processes))
    environ.setdefault("COBFLOW_FLOW__PROCESSES", str(processes))


def main() -> int:
    tune_gc()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.argv = ["bytewax.run", *sys.argv[1:]]
    mark_recovery(sys.argv, os.environ)
    mark_workers(sys.argv, os.environ)
    debug = os.environ.get("COBFLOW_DEBUG", "").lower() in ("1", "true", "yes", "on")
    log = None if debug else _native_stderr_to_log()
    try:
        runpy.run_module("bytewax.run", run_name="__main__", alter_sys=True)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - an interruption is quiet, anything else one line
        if _interrupted(exc):
            print("cobflow: dataflow stopped (interrupted); a --recovery store resumes it", file=sys.stderr)
            return 130
        if log is None:
            raise
        from cobflow.errors import expected

        cause = _cause(exc)
        text = " ".join(str(cause).split())[:600] or type(cause).__name__
        text += _hint(type(cause).__name__, text)
        what = "" if expected(cause) else "unexpected: "
        from tqdm import tqdm  # clears an open progress bar's line first

        tqdm.write(f"cobflow: error: {what}{text} (the flow's native log: {log}; COBFLOW_DEBUG=1 "
                   "shows the traceback)", file=sys.stderr)
        return 1
    if log is not None and log.stat().st_size == 0:
        log.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
