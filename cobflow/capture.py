"""Capture files: JSON Lines (optionally .gz) or Parquet, one raw message per line/row."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from cobflow import native
from cobflow.raw import RawMessage, RawMessageError

PARQUET_ROW_GROUP = 100_000
PROGRESS_EVERY = 16_384  # messages between two progress reports of read_capture
READ_CHUNK = 256 * 1024  # bytes of JSON Lines handed to the native reader at a time
_COLUMNS = ("ts_recv", "exchange", "kind", "channel", "symbol", "payload", "encoding")


class CaptureError(ValueError):
    """A capture file cannot be read; the message says which file and line."""


def capture_format(path: Path | str) -> str:
    name = str(path).lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")):
        return "jsonl"
    if name.endswith(".zst"):
        raise CaptureError(f"{path}: .zst captures are not supported yet; use .jsonl.gz or .parquet")
    raise CaptureError(f"{path}: unknown capture format (use .jsonl, .jsonl.gz or .parquet)")


def capture_extent(path: Path | str) -> tuple[float, str]:
    """How much `read_capture` has to read, in the unit its progress reports: MB of the file
    for JSON Lines (of the compressed file for .gz), messages for Parquet."""
    path = Path(path)
    if capture_format(path) == "parquet":
        import pyarrow.parquet as pq

        return float(pq.ParquetFile(path).metadata.num_rows), "messages"
    return path.stat().st_size / 1e6, "MB"


#: Told of each line that is no raw message, instead of an error: (error, the line's bytes,
#: the ts_recv of the message before it, 0 at the start); what it returns, unless None, is
#: yielded in the line's place.
OnBad = Callable[[CaptureError, bytes, int], Any]


def read_capture(path: Path | str, progress: Callable[[float], None] | None = None,
                 on_bad: OnBad | None = None, keep: tuple[list[tuple[str, str]], list[str]] | None = None
                 ) -> Iterator[Any]:
    """The messages of a capture, in order. `progress`, if given, is told how much has been
    read (in `capture_extent`'s unit) every PROGRESS_EVERY messages and at the end. `keep`
    (venue, market) pairs and venues: a hint that only those frames (and the venues' frames
    without a market) are wanted; the native reader then makes no message of the others,
    other readers may still yield them.

    A line that is no raw message raises CaptureError naming the file and line; with
    `on_bad`, it is handed there and reading goes on. A compressed file cut short is read up
    to the cut, which is then the error (or the last thing handed to `on_bad`)."""
    path = Path(path)
    if not path.exists():
        raise CaptureError(f"{path}: no such capture file")
    if capture_format(path) == "parquet":
        yield from _read_parquet(path, progress)
        return
    # Bytes, not text: orjson reads (and checks) UTF-8 itself, so decoding first is waste.
    with open(path, "rb") as raw:
        f = gzip.GzipFile(fileobj=raw, mode="rb") if str(path).lower().endswith(".gz") else raw
        reader = native.line_reader(keep)
        counted = [0, 0]  # lines read so far (for the error at a cut), the last ts_recv read
        try:
            if reader is not None:
                yield from _read_lines_native(path, raw, f, reader, progress, on_bad, counted)
                return
            for lineno, line in enumerate(f, 1):
                counted[0] = lineno
                if not line.strip():
                    continue
                msg = _line_message(path, lineno, line, on_bad, counted[1])
                if msg is not None:
                    if type(msg) is RawMessage:
                        counted[1] = msg.ts_recv
                    yield msg
                if progress is not None and lineno % PROGRESS_EVERY == 0:
                    progress(raw.tell() / 1e6)
            if progress is not None:
                progress(raw.tell() / 1e6)
        except (EOFError, OSError, zlib.error) as exc:  # gzip: a cut or damaged stream
            err = CaptureError(f"{path}: the compressed file ends or breaks after line {counted[0]:,} "
                               f"({type(exc).__name__}: {exc}); what follows is lost")
            if on_bad is None:
                raise err from None
            item = on_bad(err, b"", counted[1])
            if item is not None:
                yield item


def _line_message(path: Path, lineno: int, line: bytes, on_bad: OnBad | None = None, last_ts: int = 0) -> Any:
    try:
        return RawMessage.from_dict(orjson.loads(line))
    except (orjson.JSONDecodeError, RawMessageError) as exc:
        err = CaptureError(f"{path}:{lineno}: {exc}")
        if on_bad is None:
            raise err from None
        return on_bad(err, line, last_ts)


def _read_lines_native(path: Path, raw, f, reader, progress, on_bad,  # type: ignore[no-untyped-def]
                       counted: list[int]) -> Iterator[RawMessage]:
    """Chunks of the file through the native reader; a line it does not take goes through
    `_line_message`, the reference, which reads it or names the rule it breaks."""
    rest, lineno, count, next_report = b"", 0, 0, PROGRESS_EVERY
    while True:
        chunk = f.read(READ_CHUNK)
        last = not chunk
        buf, pos = (rest + chunk if rest else chunk), 0
        while True:
            msgs, pos, lines, stopped = reader.read(buf, pos, last)
            lineno += lines
            counted[0] = lineno
            count += len(msgs)
            if reader.last_ts is not None:  # the last valid line read, kept as a message or not
                counted[1] = reader.last_ts  # once a chunk, not once a message
            yield from msgs
            if stopped:
                end = buf.find(b"\n", pos)
                end = len(buf) if end < 0 else end + 1
                lineno += 1
                counted[0] = lineno
                msg = _line_message(path, lineno, buf[pos:end], on_bad, counted[1])
                if msg is not None:
                    if type(msg) is RawMessage:
                        counted[1] = msg.ts_recv
                    yield msg
                count, pos = count + 1, end
            if progress is not None:
                while count >= next_report:
                    progress(raw.tell() / 1e6)
                    next_report += PROGRESS_EVERY
            if not stopped:
                break
        rest = buf[pos:]
        if last:
            break
    if progress is not None:
        progress(raw.tell() / 1e6)


def encode_line(msg: RawMessage) -> bytes:
    """One JSON Lines record, fields in the contract's order."""
    return orjson.dumps(msg.to_dict()) + b"\n"


def write_capture(path: Path | str, messages: Iterable[RawMessage]) -> int:
    path = Path(path)
    if capture_format(path) == "parquet":
        path.parent.mkdir(parents=True, exist_ok=True)
        return _write_parquet(path, messages)
    return write_lines(path, (encode_line(m) for m in messages))


def write_lines(path: Path | str, lines: Iterable[bytes]) -> int:
    """Encoded JSON Lines records -> a .jsonl or .jsonl.gz file; returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    # No name and mtime=0 in the gzip header: identical input gives identical bytes.
    with open(path, "wb") as raw:
        f = gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=6) \
            if str(path).lower().endswith(".gz") else raw
        buf: list[bytes] = []
        for line in lines:
            buf.append(line)
            if len(buf) >= 4096:
                f.write(b"".join(buf))
                n += len(buf)
                buf.clear()
        f.write(b"".join(buf))
        n += len(buf)
        if f is not raw:
            f.close()
    return n


def _schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("ts_recv", pa.int64()),
            ("exchange", pa.string()),
            ("kind", pa.string()),
            ("channel", pa.string()),
            ("symbol", pa.string()),
            ("payload", pa.string()),
            ("encoding", pa.string()),
        ]
    )


def _write_parquet(path: Path, messages: Iterable[RawMessage]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema()
    n = 0
    cols: dict[str, list] = {c: [] for c in _COLUMNS}
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:

        def flush() -> None:
            if cols["ts_recv"]:
                writer.write_table(pa.table(cols, schema=schema), row_group_size=PARQUET_ROW_GROUP)
                for v in cols.values():
                    v.clear()

        for msg in messages:
            for c in _COLUMNS:
                cols[c].append(getattr(msg, c))
            n += 1
            if len(cols["ts_recv"]) >= PARQUET_ROW_GROUP:
                flush()
        flush()
    return n


def _read_parquet(path: Path, progress: Callable[[float], None] | None = None) -> Iterator[RawMessage]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    missing = set(_COLUMNS) - set(pf.schema_arrow.names)
    if missing:
        raise CaptureError(f"{path}: missing column(s) {sorted(missing)}")
    row = 0
    for batch in pf.iter_batches(columns=list(_COLUMNS)):
        for d in batch.to_pylist():
            row += 1
            if d.get("encoding") is None:
                d.pop("encoding", None)
            try:
                yield RawMessage.from_dict(d)
            except RawMessageError as exc:
                raise CaptureError(f"{path}: row {row}: {exc}") from None
            if progress is not None and row % PROGRESS_EVERY == 0:
                progress(float(row))
    if progress is not None:
        progress(float(row))
