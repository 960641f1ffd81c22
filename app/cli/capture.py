"""Captures: `import-capture`, `books verify`, `record` (Kafka -> file), `replay` (file -> Kafka)."""

from __future__ import annotations

import argparse
import heapq
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cobflow.config import Settings
    from cobflow.raw import RawMessage

from cobflow.app.cli.common import Subparsers, command, err, speed

CAPTURE_SUFFIXES = (".jsonl", ".gz", ".parquet", ".ndjson")


def cmd_import_capture(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.capture import write_capture
    from cobflow.connectors.cryptofeed import import_cryptofeed

    messages = import_cryptofeed(args.src)
    n = write_capture(args.dst, messages)
    venues = sorted({m.exchange for m in messages})
    print(f"wrote {n} raw messages ({', '.join(venues)}) to {args.dst}")
    return 0


def read_messages(path: Path, fmt: str) -> Iterable[RawMessage]:
    """A capture file (CAPTURE.md), or a cryptofeed recording (by --format or its name)."""
    from cobflow.capture import read_capture
    from cobflow.connectors.cryptofeed import read_cryptofeed

    if fmt == "cryptofeed" or (fmt == "auto" and not str(path).lower().endswith(CAPTURE_SUFFIXES)):
        return read_cryptofeed(path)
    return read_capture(path)


def merged(paths: list[Path], fmt: str) -> Iterator[RawMessage]:

    return heapq.merge(*(read_messages(p, fmt) for p in paths), key=lambda m: m.ts_recv)


def cmd_books_verify(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.connectors.verify import format_report, verify

    dead: list = []
    messages = itertools.chain.from_iterable(
        read_messages(p, args.format) for p in args.files) if len(args.files) == 1 else merged(args.files, args.format)
    result = verify(messages, dead)
    print(format_report(result))
    if args.dead_letters:
        args.dead_letters.parent.mkdir(parents=True, exist_ok=True)
        with open(args.dead_letters, "wb") as f:
            for d in dead:
                f.write(d.to_json() + b"\n")
        print(f"{len(dead)} dead letters written to {args.dead_letters}")
    return 0 if result.ok else 1


def cmd_record(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.capture import write_capture
    from cobflow.kafka_io import record
    from cobflow.progress import Progress
    from cobflow.times import parse_time

    start = parse_time(args.start) if args.start else None
    end = parse_time(args.end) if args.end else None
    with Progress("record") as bar:
        messages = record(settings.kafka, args.venues, start, end, bar)
    n = write_capture(args.out, messages)
    venues = sorted({m.exchange for m in messages})
    print(f"recorded {n:,} raw messages ({', '.join(venues) or 'none'}) to {args.out}")
    return 0


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.replay import replay

    if args.reset and args.append:
        return err("--reset or --append, not both")
    n = replay(settings, Path(args.file), speed(args.speed), args.reset, args.append)
    print(f"published {n} messages")
    return 0


def add_commands(sub: Subparsers) -> None:
    s = command(sub, "import-capture", "convert recordings into a capture file (CAPTURE.md)", cmd_import_capture)
    s.add_argument("--format", choices=["cryptofeed"], required=True, help="the recordings' format")
    s.add_argument("src", nargs="+", type=Path, help="recording files, merged by receive time")
    s.add_argument("dst", type=Path, help="output: .jsonl, .jsonl.gz or .parquet")

    s = command(sub, "books", "check captures against the venues' sync rules and checksums")
    bsub = s.add_subparsers(dest="books_action", required=True, metavar="ACTION")
    v = command(bsub, "verify", "parse and apply every frame; print counts per venue and market", cmd_books_verify)
    v.add_argument("files", nargs="+", type=Path, help="capture files (or cryptofeed recordings), merged by ts_recv")
    v.add_argument("--format", choices=["auto", "capture", "cryptofeed"], default="auto",
                   help="auto: .jsonl/.jsonl.gz/.parquet are captures, anything else a cryptofeed recording")
    v.add_argument("--dead-letters", type=Path, metavar="JSONL",
                   help="write every malformed frame, gap and checksum failure, with its reason, here")

    s = command(sub, "record", "Kafka raw.<venue> topics -> a capture file", cmd_record)
    s.add_argument("--out", "--output", type=Path, required=True, help=".jsonl, .jsonl.gz or .parquet")
    s.add_argument("--from", dest="start", help="first ts_recv to keep (ISO 8601 or ns)")
    s.add_argument("--to", dest="end", help="ts_recv to stop before (ISO 8601 or ns)")
    s.add_argument("--venues", nargs="+", help="only these venues (default: every raw.<venue> topic)")

    s = command(sub, "replay", "publish a capture file into the raw.<venue> Kafka topics", cmd_replay)
    s.add_argument("file", help="capture file (.jsonl, .jsonl.gz, .parquet)")
    s.add_argument("--speed", default="max", help="'max' (default), 1 = as recorded, 10 = 10x faster")
    s.add_argument("--reset", action="store_true", help="delete and recreate the topics first")
    s.add_argument("--append", action="store_true",
                   help="publish even where the topics already hold records of the capture's time range")
