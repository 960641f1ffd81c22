from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import datetime

from confluent_kafka import Consumer, KafkaError

from cobflow.config import KafkaSettings


def run(env: dict, *args: str, timeout: float = 300) -> str:
    proc = subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{out[-4000:]}"
    return out


def cobflow(env: dict, *args: str) -> str:
    return run(env, sys.executable, "-m", "cobflow", *args)


def run_top_of_book(env: dict) -> str:
    """The dataflow exactly as a user runs it."""
    return run(env, sys.executable, "-m", "bytewax.run", "cobflow.dataflows.top_of_book:kafka_flow()")


def second(ts: str) -> int:
    """QuestDB's '2021-10-12T00:28:32.000000Z' -> epoch seconds."""
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp())


def consume_all(settings: KafkaSettings, topic: str) -> list:
    c = Consumer(
        {
            "bootstrap.servers": settings.servers,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    c.subscribe([topic])
    parts = None
    eof: set[int] = set()
    out = []
    deadline = time.monotonic() + 120  # to reach the end of every partition, however many messages
    try:
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if parts is None and c.assignment():
                parts = {p.partition for p in c.assignment()}
            if msg is None:
                if parts is not None and eof >= parts:
                    break
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(msg.partition())
                    if parts is not None and eof >= parts:
                        break
                    continue
                raise RuntimeError(msg.error())
            out.append(msg)
    finally:
        c.close()
    return out
