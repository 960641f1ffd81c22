"""docker-compose.yml, the Dockerfile and .env.example, checked without a Docker engine:
Debian's `docker-compose config -q` validates the file; the rest are the properties a user
relies on (healthy servers before the apps, nothing published beyond loopback, every
setting documented, the image installed the way the tests install)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from cobflow.config import PROJECT_ROOT, load_settings

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
APPS = ("simulator", "live", "cob", "strategy", "learner")
GATEWAY = "gateway"  # the order gateway: an app only with COMPOSE_PROFILES=trading
SERVERS = ("kafka", "questdb", "grafana")


def compose_binary() -> str:
    found = shutil.which("docker-compose")
    if found:
        return found
    if load_settings().require_compose:
        pytest.fail("docker-compose is not installed (Debian: apt-get install docker-compose)")
    pytest.skip("docker-compose is not installed (Debian: apt-get install docker-compose); CI installs it")


def compose_config(*env_file: str, extra_env: dict[str, str] | None = None) -> dict:
    """The file as Compose resolves it (interpolated, anchors merged)."""
    args = [compose_binary(), "-f", str(COMPOSE)]
    if env_file:
        args += ["--env-file", env_file[0]]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COMPOSE_", "SIMULATOR_")) and k != "COBFLOW_SYMBOLS_FILE"}
    proc = subprocess.run([*args, "config"], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env={**env, **(extra_env or {})})
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


def port(p) -> tuple[str, int]:
    """(host ip, container port) from Compose v1's short or v2's long syntax."""
    if isinstance(p, dict):
        return p.get("host_ip", ""), int(p["target"])
    parts = str(p).split("/")[0].split(":")
    return (parts[0] if len(parts) == 3 else ""), int(parts[-1])


def mounts(svc: dict) -> dict[str, str]:
    """target -> source, from either syntax."""
    out = {}
    for v in svc.get("volumes", []):
        if isinstance(v, dict):
            out[v["target"]] = v["source"]
        else:
            src, target, *_ = v.split(":")
            out[target] = src
    return out


def test_compose_file_validates_with_docker_compose_config():
    proc = subprocess.run([compose_binary(), "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True,
                          cwd=PROJECT_ROOT)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([compose_binary(), "-f", str(COMPOSE), "--env-file", str(PROJECT_ROOT / ".env.example"),
                           "config", "-q"], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert proc.returncode == 0, proc.stderr


def test_servers_are_healthchecked_and_apps_wait_for_them():
    services = compose_config()["services"]
    assert set(services) == {*SERVERS, *APPS, GATEWAY}
    for name in SERVERS:
        assert services[name]["healthcheck"]["test"], name
    for name in (*APPS, GATEWAY):
        dep = services[name]["depends_on"]
        assert {k: v["condition"] for k, v in dep.items()} == {"kafka": "service_healthy",
                                                                "questdb": "service_healthy"}, name
        assert services[name]["environment"]["COBFLOW_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert services[name]["environment"]["COBFLOW_QUESTDB__HOST"] == "questdb"
    assert services["grafana"]["depends_on"] == {"questdb": {"condition": "service_healthy"}}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["questdb"]["image"].startswith("questdb/questdb:")
    assert services["grafana"]["image"].startswith("grafana/grafana-oss:")


def test_server_versions_match_the_ones_the_tests_run():
    from cobflow.config import ServicesSettings

    s = ServicesSettings()
    services = compose_config()["services"]
    assert services["kafka"]["image"] == f"apache/kafka:{s.kafka_version}"
    assert services["questdb"]["image"] == f"questdb/questdb:{s.questdb_version}"


def test_simulator_by_default_live_feeds_by_configuration():
    default = compose_config()["services"]
    assert default["simulator"].get("scale", 1) == 1 and default["live"]["profiles"] == ["live"]
    live = compose_config(extra_env={"SIMULATOR_SCALE": "0", "COMPOSE_PROFILES": "live"})["services"]
    assert live["simulator"]["scale"] == 0


def test_only_user_facing_ports_are_published_and_only_on_loopback():
    services = compose_config()["services"]
    published = {}
    for name, svc in services.items():
        for p in svc.get("ports", []):
            host_ip, target = port(p)
            assert host_ip == "127.0.0.1", (name, p)
            published[name] = published.get(name, set()) | {target}
    assert published == {"grafana": {3000}, "questdb": {9000, 8812}, "kafka": {29092}}


def test_data_lives_in_named_volumes_and_grafana_mounts_its_provisioning():
    cfg = compose_config()
    assert {"kafka-data", "questdb-data", "grafana-data", "cob-recovery", "strategy-recovery", "strategy-models",
            "strategy-trading"} <= set(cfg["volumes"])
    grafana = mounts(cfg["services"]["grafana"])
    assert Path(grafana["/etc/grafana/provisioning"]) == PROJECT_ROOT / "grafana" / "provisioning"
    dashboards = Path(grafana["/var/lib/grafana/dashboards"])
    assert dashboards == PROJECT_ROOT / "grafana" / "dashboards"
    from cobflow.app.dashboards import DATASOURCE_FILE, PROVIDER_FILE

    provider = yaml.safe_load(PROVIDER_FILE.read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    home = cfg["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (dashboards / Path(home).name).is_file()
    # every ${VAR} the datasource provisioning refers to is set in Grafana's environment
    ds_vars = set(re.findall(r"\$\{(\w+)\}", DATASOURCE_FILE.read_text()))
    assert ds_vars and ds_vars <= set(cfg["services"]["grafana"]["environment"])


def test_every_app_mounts_the_symbols_file_a_user_names_in_env(tmp_path):
    """COBFLOW_SYMBOLS_FILE in .env (a host path) is what every app reads; by default the
    repository's symbols.yaml."""
    mine = tmp_path / "mine.yaml"
    for env, host in (({}, PROJECT_ROOT / "symbols.yaml"), ({"COBFLOW_SYMBOLS_FILE": str(mine)}, mine)):
        cfg = compose_config(extra_env=env)
        for app in (*APPS, GATEWAY):
            svc = cfg["services"][app]
            assert Path(mounts(svc)["/etc/cobflow/symbols.yaml"]) == host, app
            assert svc["environment"]["COBFLOW_SYMBOLS_FILE"] == "/etc/cobflow/symbols.yaml"


def test_every_setting_is_in_env_example_and_no_secret_is_committed():
    used = set(re.findall(r"\$\{(\w+)(?::-[^}]*)?\}", COMPOSE.read_text()))
    example = dict(line.split("=", 1) for line in (PROJECT_ROOT / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert used <= set(example), used - set(example)
    assert ".env" in (PROJECT_ROOT / ".gitignore").read_text().split()
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=PROJECT_ROOT).stdout.split()
    assert ".env" not in tracked


def test_image_installs_the_project_the_way_make_install_does():
    docker = (PROJECT_ROOT / "Dockerfile").read_text()
    make = (PROJECT_ROOT / "Makefile").read_text()
    assert re.search(r"pip install --quiet -e '\.\[dev,docs\]'", make)
    assert re.search(r"pip install --no-cache-dir -e \.\s", docker)  # same, without the test and docs extras
    assert "requirements" not in docker  # one list of dependencies: pyproject.toml
    py = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    version = re.search(r"FROM python:(\d+)\.(\d+)", docker)
    assert version and py["project"]["requires-python"] == ">=3.11,<3.13" and (3, 11) <= tuple(
        map(int, version.groups())) < (3, 13)
    copied = set(re.findall(r"^COPY (\S+) ", docker, re.MULTILINE))
    for folder in py["tool"]["setuptools"]["package-dir"].values():
        assert folder in copied, folder  # every folder the install maps into `cobflow` is in the image
    assert "grafana" in copied and re.search(r"^COPY .*symbols\.yaml", docker, re.MULTILINE)
    assert "native" in copied  # pyproject.toml names native/Cargo.toml: the install reads it


def test_app_commands_are_cobflow_commands_the_tests_run():
    """The integration tests (test_compose_commands.py) run exactly these argument lists."""
    from tests.integration.test_compose_commands import TESTED_COMMANDS

    services = compose_config()["services"]
    assert {name: services[name]["command"] for name in APPS} == TESTED_COMMANDS


def test_the_gateway_runs_only_when_asked_testnet_with_keys_passed_through():
    cfg = compose_config(extra_env={"COBFLOW_TRADING__MODE": "shadow", "COBFLOW_BINANCE_API_KEY": "k-1",
                                    "COBFLOW_BINANCE_SECRET": "s-1"})
    gw = cfg["services"]["gateway"]
    assert gw["profiles"] == ["trading"] and gw["command"] == ["cobflow", "trade"]  # never --mainnet
    env = gw["environment"]
    assert env["COBFLOW_TRADING__MODE"] == "shadow" and env["COBFLOW_TRADING__ENVIRONMENT"] == "testnet"
    assert env["COBFLOW_BINANCE_API_KEY"] == "k-1" and env["COBFLOW_BINANCE_SECRET"] == "s-1"
    strategy = cfg["services"]["strategy"]
    assert mounts(gw)["/var/lib/cobflow/trading"] == mounts(strategy)["/var/lib/cobflow/trading"]
    assert env["COBFLOW_TRADING__RUN_ID"] == strategy["environment"]["COBFLOW_TRADING__RUN_ID"]
