"""Where producers of raw messages (the live clients) put them: Kafka (`raw.<venue>`,
idempotent, acks=all) and/or a capture file, in batches."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

from cobflow.capture import encode_line
from cobflow.config import KafkaSettings
from cobflow.kafka_io import producer, to_record
from cobflow.raw import RawMessage


class KafkaRawSink:
    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self.producer = producer(settings)
        self.failures: list[str] = []
        self.count = 0

    def _delivered(self, err, _msg) -> None:  # type: ignore[no-untyped-def]
        if err is not None:
            self.failures.append(str(err))

    def __call__(self, raw: RawMessage) -> None:
        key, value, headers, ts_ms = to_record(raw)
        while True:
            try:
                self.producer.produce(self.settings.raw_topic(raw.exchange), value, key, headers=headers,
                                      timestamp=ts_ms, on_delivery=self._delivered)
                break
            except BufferError:
                self.producer.poll(0.1)
        self.count += 1
        if self.count % 500 == 0:
            self.producer.poll(0)

    def close(self) -> None:
        left = self.producer.flush(30)
        if left or self.failures:
            raise RuntimeError(f"{left} raw messages unacknowledged, {len(self.failures)} failed "
                               f"({self.failures[:1]})")


class FileRawSink:
    """JSON Lines (.jsonl / .jsonl.gz), written in batches; a recording in ts_recv order per venue."""

    def __init__(self, path: Path | str, batch: int = 1000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._raw = open(self.path, "wb")
        self._f = gzip.GzipFile(filename="", fileobj=self._raw, mode="wb", mtime=0) \
            if self.path.name.endswith(".gz") else self._raw
        self._buf: list[bytes] = []
        self._batch = batch
        self._lock = threading.Lock()
        self.count = 0

    def __call__(self, raw: RawMessage) -> None:
        with self._lock:
            self._buf.append(encode_line(raw))
            self.count += 1
            if len(self._buf) >= self._batch:
                self.flush()

    def flush(self) -> None:
        if self._buf:
            self._f.write(b"".join(self._buf))
            self._buf.clear()
            self._f.flush()

    def close(self) -> None:
        with self._lock:
            self.flush()
            if self._f is not self._raw:
                self._f.close()
            self._raw.close()
