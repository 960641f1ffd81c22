"""librdkafka's own lines (a refused connection, `GETPID` while a broker starts) go to
<services home>/logs/librdkafka.log, not over the terminal's progress bars (issue 37)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def test_librdkafka_lines_go_to_the_log_file_not_to_stderr(tmp_path):
    code = textwrap.dedent("""
        from cobflow.config import KafkaSettings
        from cobflow.kafka_io import producer
        p = producer(KafkaSettings(port=1))  # nothing listens on port 1: refused, again and again
        p.produce("x", b"y")
        p.flush(2)
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COBFLOW_")}
    env["COBFLOW_SERVICES__HOME"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "|FAIL|" not in proc.stderr and "rdkafka" not in proc.stderr, proc.stderr
    log = (tmp_path / "logs" / "librdkafka.log").read_text()
    assert "Connection refused" in log and "FAIL" in log
