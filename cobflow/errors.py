"""How an error reads on the terminal: one line, its message, no exception class name (the
CLI and a failing flow say it the same way; COBFLOW_DEBUG=1 shows the traceback)."""

from __future__ import annotations


def expected(exc: BaseException) -> bool:
    """Ours (a cobflow error that says what is wrong) or the system's (a file, a socket)."""
    return type(exc).__module__.startswith("cobflow") or isinstance(exc, (OSError, ValueError))


def one_line(exc: BaseException) -> str:
    """The error's message on one line; a bug's says it was unexpected and how to see more."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if expected(exc) else f"{text} (unexpected; COBFLOW_DEBUG=1 shows the traceback)"
