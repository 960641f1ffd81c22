"""Fetch, start, health-check and stop the local Kafka and QuestDB servers.

Layout under `services.home` (git-ignored):
    cache/kafka-<version>/*.jar     cache/questdb-<version>/questdb-<version>.jar
    run/kafka/{server.properties,data/,kafka.log,pid}
    run/questdb/{conf/server.conf,db/,questdb.log,pid}
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from cobflow.config import Settings
from cobflow.names import SERVERS

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
LOG4J = HERE / "log4j2.properties"


class ServiceError(RuntimeError):
    """A server could not be fetched, started or stopped; the message says why."""


@dataclass
class Status:
    name: str
    version: str
    pid: int | None
    running: bool
    healthy: bool
    endpoints: str
    log: Path

    def line(self) -> str:
        state = "healthy" if self.healthy else ("running, not answering" if self.running else "stopped")
        pid = f"pid {self.pid}" if self.running else "-"
        return f"{self.name:<8} {self.version:<8} {state:<24} {pid:<12} {self.endpoints}  log: {self.log}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (ours, exited, not yet reaped) is not alive.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _say(msg: str) -> None:
    print(f"[services] {msg}", file=sys.stderr, flush=True)


class _Server:
    name: str
    main_marker: str  # identifies our process in /proc/<pid>/cmdline

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.services.home
        self.run_dir = self.home / "run" / self.name
        self.pid_file = self.run_dir / "pid"
        self.log = self.run_dir / f"{self.name}.log"

    # -- overridden ------------------------------------------------------------------
    version: str
    heap: str

    def ports(self) -> list[int]:
        raise NotImplementedError

    def endpoints(self) -> str:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Write configuration, format storage: whatever must exist before the first start."""

    def healthy(self) -> bool:
        raise NotImplementedError

    def fetch_args(self) -> list[str]:
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------
    @property
    def lib_dir(self) -> Path:
        return self.home / "cache" / f"{self.name}-{self.version}"

    def fetch(self) -> None:
        done = self.lib_dir / ".complete"
        if done.exists():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ServiceError(
                "Maven (mvn) is not installed; it fetches the server jars from Maven Central. "
                "Install it (Debian: apt-get install maven) and Java 17+."
            )
        _say(f"fetching {self.name} {self.version} from Maven Central into {self.lib_dir} ...")
        tmp = self.lib_dir.with_name(self.lib_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [
            mvn, "-B", "-q", "-f", str(POM),
            "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            f"-Dkafka.version={self.settings.services.kafka_version}",
            f"-Dquestdb.version={self.settings.services.questdb_version}",
            *self.fetch_args(),
        ]  # fmt: skip
        t0 = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ServiceError(
                f"fetching {self.name} {self.version} failed (exit {proc.returncode}):\n"
                f"  {' '.join(cmd)}\n{(proc.stdout + proc.stderr)[-3000:]}"
            )
        shutil.rmtree(self.lib_dir, ignore_errors=True)
        tmp.rename(self.lib_dir)
        done.touch()
        _say(f"fetched {self.name} {self.version} in {time.monotonic() - t0:.1f} s")

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if _pid_alive(pid) and self.main_marker in _cmdline(pid):
            return pid
        return None

    def status(self) -> Status:
        pid = self.pid()
        running = pid is not None
        return Status(
            self.name, self.version, pid, running, running and self.healthy(), self.endpoints(), self.log
        )

    def start(self) -> bool:
        """Start unless already running; returns True if this call started it."""
        if self.pid() is not None:
            if not self.wait_healthy(self.settings.services.start_timeout_s, self.pid()):
                raise ServiceError(f"{self.name} is running (pid {self.pid()}) but not healthy; see {self.log}")
            _say(f"{self.name} {self.version} already running (pid {self.pid()})")
            return False
        self.pid_file.unlink(missing_ok=True)  # stale after a crash
        busy = [p for p in self.ports() if _port_open("127.0.0.1", p)]
        if busy:
            raise ServiceError(
                f"cannot start {self.name}: port(s) {busy} on 127.0.0.1 are taken by another process. "
                f"Stop it, or choose other ports (COBFLOW_KAFKA__PORT, COBFLOW_QUESTDB__HTTP_PORT, ...)."
            )
        java = shutil.which("java")
        if java is None:
            raise ServiceError("Java 17+ is required to run the servers; `java` is not on PATH")
        self.fetch()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        _say(f"starting {self.name} {self.version} ({self.endpoints()}) ...")
        with open(self.log, "ab") as log:
            proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.run_dir,
                start_new_session=True,  # survives the CLI, stopped by `down`
            )
        self.pid_file.write_text(str(proc.pid))
        t0 = time.monotonic()
        if not self.wait_healthy(self.settings.services.start_timeout_s, proc.pid):
            tail = self.log.read_text(errors="replace")[-3000:]
            self.stop()
            raise ServiceError(f"{self.name} did not become healthy; last log lines ({self.log}):\n{tail}")
        _say(f"{self.name} {self.version} healthy in {time.monotonic() - t0:.1f} s (pid {proc.pid})")
        return True

    def wait_healthy(self, timeout: float, pid: int | None) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pid is not None and not _pid_alive(pid):
                return False
            if self.healthy():
                return True
            time.sleep(0.5)
        return False

    def stop(self) -> bool:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        _say(f"stopping {self.name} (pid {pid}) ...")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _pid_alive(pid):
            _say(f"{self.name} did not stop in 30 s; killing pid {pid}")
            os.kill(pid, signal.SIGKILL)
            while _pid_alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def wipe(self) -> None:
        if self.pid() is not None:
            raise ServiceError(f"stop {self.name} before wiping its data")
        shutil.rmtree(self.run_dir, ignore_errors=True)


class Kafka(_Server):
    name = "kafka"
    main_marker = "kafka.Kafka"

    @property
    def version(self) -> str:  # type: ignore[override]
        return self.settings.services.kafka_version

    def ports(self) -> list[int]:
        return [self.settings.kafka.port, self.settings.kafka.controller_port]

    def endpoints(self) -> str:
        return f"bootstrap 127.0.0.1:{self.settings.kafka.port}"

    def fetch_args(self) -> list[str]:
        return ["-DexcludeArtifactIds=questdb", "-DincludeScope=runtime"]

    @property
    def props(self) -> Path:
        return self.run_dir / "server.properties"

    def prepare(self) -> None:
        k = self.settings.kafka
        data = self.run_dir / "data"
        self.props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{k.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{k.port},CONTROLLER://127.0.0.1:{k.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{k.port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={data}",
                    f"num.partitions={k.partitions}",
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "delete.topic.enable=true",
                    # retention is checked every 5 s from the start (not every 5 min after 30 s),
                    # so that a topic that would delete old records (by timestamp: ts_recv)
                    # does so within a test's time
                    "log.retention.check.interval.ms=5000",
                    "log.initial.task.delay.ms=0",
                    "",
                ]
            )
        )
        if not (data / "meta.properties").exists():
            # one in 32 such ids starts with "-": given as "-t ID", the tool took it for an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            proc = subprocess.run(
                [*self._java(), "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(self.props)],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                raise ServiceError(f"formatting Kafka storage failed:\n{proc.stdout}{proc.stderr}")

    def _java(self) -> list[str]:
        return [
            "java",
            f"-Xmx{self.settings.services.kafka_heap}",
            "-Xms256m",
            f"-Dlog4j2.configurationFile={LOG4J}",
            "-cp",
            f"{self.lib_dir}/*",
        ]

    def command(self) -> list[str]:
        return [*self._java(), "kafka.Kafka", str(self.props)]

    def healthy(self) -> bool:
        from confluent_kafka.admin import AdminClient

        if not _port_open("127.0.0.1", self.settings.kafka.port):
            return False
        try:
            md = AdminClient(
                {"bootstrap.servers": f"127.0.0.1:{self.settings.kafka.port}", "log_level": 0}
            ).list_topics(timeout=3)
        except Exception:
            return False
        return bool(md.brokers)


class QuestDB(_Server):
    name = "questdb"
    main_marker = "io.questdb.ServerMain"

    @property
    def version(self) -> str:  # type: ignore[override]
        return self.settings.services.questdb_version

    def ports(self) -> list[int]:
        q = self.settings.questdb
        return [q.http_port, q.pg_port, q.ilp_tcp_port, q.min_http_port]

    def endpoints(self) -> str:
        q = self.settings.questdb
        return f"http://127.0.0.1:{q.http_port} pg 127.0.0.1:{q.pg_port}"

    def fetch_args(self) -> list[str]:
        return ["-DincludeArtifactIds=questdb"]

    def prepare(self) -> None:
        q = self.settings.questdb
        conf = self.run_dir / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "server.conf").write_text(
            "\n".join(
                [
                    f"http.bind.to=127.0.0.1:{q.http_port}",
                    f"http.min.net.bind.to=127.0.0.1:{q.min_http_port}",
                    f"pg.net.bind.to=127.0.0.1:{q.pg_port}",
                    f"line.tcp.net.bind.to=127.0.0.1:{q.ilp_tcp_port}",
                    "line.udp.enabled=false",
                    "telemetry.enabled=false",
                    "",
                ]
            )
        )
        # Errors and advisories only: at INFO QuestDB logs every HTTP request and WAL commit
        # (2 million lines, 530 MB, for one benchmark hour), a tenth of its CPU time spent so.
        (conf / "log.conf").write_text(
            "writers=stdout\n"
            "w.stdout.class=io.questdb.log.LogConsoleWriter\n"
            "w.stdout.level=ERROR,CRITICAL,ADVISORY\n"
        )

    def command(self) -> list[str]:
        jar = self.lib_dir / f"questdb-{self.version}.jar"
        return [
            "java",
            f"-Xmx{self.settings.services.questdb_heap}",
            "-Xms256m",
            "-p",
            str(jar),
            "-m",
            "io.questdb/io.questdb.ServerMain",
            "-d",
            str(self.run_dir),
        ]

    def healthy(self) -> bool:
        import urllib.request

        url = f"http://127.0.0.1:{self.settings.questdb.http_port}/exec?query=select%201"
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                return resp.status == 200
        except OSError:
            return False


class Services:
    """Kafka and QuestDB together, in start order."""

    NAMES = SERVERS

    def __init__(self, settings: Settings, only: str | None = None) -> None:
        """`only`: one of NAMES, to start, stop or restart that server alone."""
        if only is not None and only not in self.NAMES:
            raise ServiceError(f"unknown server {only!r}; known: {', '.join(self.NAMES)}")
        self.servers: list[_Server] = [s for s in (Kafka(settings), QuestDB(settings)) if only in (None, s.name)]

    def up(self) -> list[str]:
        """Start what is not running; returns the names this call started."""
        return [s.name for s in self.servers if s.start()]

    def down(self, wipe: bool = False) -> list[str]:
        stopped = [s.name for s in reversed(self.servers) if s.stop()]
        if wipe:
            for s in self.servers:
                s.wipe()
        return stopped

    def restart(self) -> list[str]:
        """Stop, then start again (its data kept); returns the names started."""
        self.down()
        return self.up()

    def stop(self, names: list[str]) -> None:
        for s in reversed(self.servers):
            if s.name in names:
                s.stop()

    def status(self) -> list[Status]:
        return [s.status() for s in self.servers]

    def versions(self) -> str:
        return ", ".join(f"{s.name} {s.version}" for s in self.servers)
