"""Consumer lag of a dataflow's Kafka partitions, measured as it reads them.

The flows' Kafka source (`cobflow.dataflows.sources.RawTopicsSource`) keeps its offsets in the Bytewax
recovery store, not in a consumer group, so no outside tool can see how far behind a flow
is: the source reports it itself, into the consumer_lag table (at most once per wall second
per partition, and again when it catches up).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from cobflow.kafka_io import client_config
from cobflow.tables import CONSUMER_LAG, TableRow


class LagMeter:
    """Given the last offset read of each partition after a batch, returns consumer_lag rows."""

    def __init__(self, servers: str, interval_s: float = 1.0, timeout_s: float = 2.0,
                 known_end: Callable[[str, int], int | None] | None = None) -> None:
        self._servers = servers
        self._known_end = known_end  # an end offset the reader already has, if any (no round trip)
        self._interval = interval_s
        self._timeout = timeout_s
        self._consumer: Consumer | None = None
        self._lock = threading.Lock()  # safe to share between worker threads
        # (topic, partition) -> [last measured (monotonic), last end offset, last lag]
        self._state: dict[tuple[str, int], list[Any]] = {}

    def _end_offset(self, topic: str, partition: int) -> int | None:
        if self._known_end is not None:
            end = self._known_end(topic, partition)
            if end is not None:
                return end
        if self._consumer is None:
            self._consumer = Consumer(client_config({"bootstrap.servers": self._servers,
                                                     "group.id": "cobflow-lag-meter", "enable.auto.commit": False}))
        try:
            _low, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                              timeout=self._timeout)
        except KafkaException:
            return None  # the broker is unreachable for now: measure again on the next batch
        return high

    def __call__(self, last: dict[tuple[str, int], int], force: bool = False) -> list[TableRow]:
        """`force`: measure every partition now (the reader's last batch: the table ends on
        the true lag of each partition however recently it was measured)."""
        rows: list[TableRow] = []
        now = time.monotonic()
        with self._lock:
            for (topic, partition), offset in last.items():
                st = self._state.setdefault((topic, partition), [-1e18, None, None])
                # Caught up with the last end seen? Measure again (at most every 0.1 s) so the
                # table ends on the true lag, not on the last once-a-second sample.
                recheck = st[1] is not None and offset + 1 >= st[1] and st[2] != 0 and now - st[0] >= 0.1
                if now - st[0] < self._interval and not recheck and not force:
                    continue
                end = self._end_offset(topic, partition)
                if end is None:
                    continue
                lag = max(0, end - offset - 1)
                st[:] = [now, end, lag]
                rows.append(TableRow(CONSUMER_LAG.name, time.time_ns(), {"topic": topic},
                                     {"kafka_partition": partition, "consumed_offset": offset,
                                      "end_offset": end, "lag": lag}))
        return rows
