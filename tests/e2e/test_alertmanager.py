"""End to end with the real Prometheus Alertmanager (Debian's `prometheus-alertmanager`, which
`.ci/run` installs): it runs on a free loopback port with a webhook receiver pointing at a
daemon this test serves; an alert pushed to Alertmanager's API becomes an incident, and the
same alert pushed again with `endsAt` in the past resolves it. A group of two alerts: the
incident's text follows each notification (both firing, then one resolved, then both), and it
resolves with a resolved message. Without the binary the tests are skipped on a laptop and
fail under CI=true."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from live_server import serve
from test_browser import free_ports
from testkit import wait_for

from oncall_opt.api import create_app
from oncall_opt.engine.settings import Settings
from oncall_opt.engine.store import Store

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

CONFIG = """\
route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: oncall
    webhook_configs:
      - url: {url}
        send_resolved: true
"""


@pytest.fixture
def alertmanager_binary() -> str:
    if BINARY is None:
        message = "prometheus-alertmanager not found: apt-get install prometheus-alertmanager"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return BINARY


def alert(ends: datetime | None = None, instance: str = "web-1", summary: str = "") -> list[dict]:
    now = datetime.now(UTC)
    item = {
        "labels": {"alertname": "CheckoutDown", "severity": "critical", "instance": instance},
        "annotations": {"summary": summary or "Checkout is down", "description": "5xx always"},
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        "generatorURL": "http://prometheus.example/graph",
    }
    if ends is not None:
        item["endsAt"] = ends.isoformat()
    return [item]


@contextlib.contextmanager
def alertmanager(binary: str, folder: Path, receiver: str) -> Iterator[str]:
    """Alertmanager on a free loopback port, sending its notifications to `receiver`; yields
    its URL. When an assertion fails inside, its log's tail is added to the message."""
    config = folder / "alertmanager.yml"
    config.write_text(CONFIG.format(url=receiver))
    [port] = free_ports(1)
    log = (folder / "alertmanager.log").open("w")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={folder / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    manager = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(manager, proc), 60, "Alertmanager to answer on its /-/ready")
        yield manager
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nAlertmanager's log:\n{_tail(folder)}") from None
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def push(manager: str, alerts: list[dict]) -> None:
    pushed = httpx.post(f"{manager}/api/v2/alerts", json=alerts, timeout=10)
    assert pushed.status_code == 200, pushed.text


def test_a_real_alertmanager_pages_and_resolves_through_the_receiver(
    alertmanager_binary, tmp_path: Path
):
    store = Store(tmp_path / "oncall.duckdb")
    app = create_app(store, Settings(), run_jobs=False)
    with serve(app) as daemon, httpx.Client(base_url=daemon) as api:
        service = api.post("/services", json={"Name": "checkout"}).json()
        receiver = f"{daemon}/integrations/alertmanager/{service['IntegrationKey']}"
        with alertmanager(alertmanager_binary, tmp_path, receiver) as manager:
            push(manager, alert())

            def incident():
                items = api.get("/incidents", params={"Status": "all"}).json()["Items"]
                return items[0] if items else None

            opened = wait_for(incident, 60, "the incident Alertmanager's webhook opens")
            assert opened["ServiceId"] == service["Id"] and opened["Status"] == "triggered"
            assert opened["Body"].startswith("[FIRING:1] Checkout is down")
            assert opened["Severity"] == "critical" and opened["Source"] == "alertmanager"
            assert 'alertname="CheckoutDown"' in opened["DedupKey"]

            push(manager, alert(ends=datetime.now(UTC) - timedelta(seconds=5)))
            resolved = wait_for(
                lambda: (i := incident()) and i["Status"] == "resolved" and i,
                60,
                "Alertmanager's resolved notification to resolve the incident",
            )
            assert resolved["Id"] == opened["Id"]
            assert len(api.get("/incidents", params={"Status": "all"}).json()["Items"]) == 1
    store.close()


def test_the_incident_follows_a_group_whose_alerts_change(alertmanager_binary, tmp_path: Path):
    store = Store(tmp_path / "oncall.duckdb")
    app = create_app(store, Settings(), run_jobs=False)
    with serve(app) as daemon, httpx.Client(base_url=daemon) as api:
        service = api.post("/services", json={"Name": "checkout"}).json()
        receiver = f"{daemon}/integrations/alertmanager/{service['IntegrationKey']}"

        def incident():
            items = api.get("/incidents", params={"Status": "all"}).json()["Items"]
            assert len(items) <= 1, "one group, one incident"
            return items[0] if items else None

        def says(*parts: str, status: str = "triggered") -> dict:
            return wait_for(
                lambda: (i := incident()) and i["Status"] == status
                and all(p in i["Body"] for p in parts) and i,
                60, f"the incident to be {status} and say {parts}",
            )  # fmt: skip

        with alertmanager(alertmanager_binary, tmp_path, receiver) as manager:
            push(manager, alert(instance="web-1", summary="web-1 answers 503")
                 + alert(instance="web-2", summary="web-2 answers 503"))  # fmt: skip
            both = says("[FIRING:2]", "on web-1: web-1 answers 503", "on web-2: web-2 answers 503")

            gone = datetime.now(UTC) - timedelta(seconds=5)
            push(manager, alert(ends=gone, instance="web-1", summary="web-1 answers 503"))
            one = says("[FIRING:1]", "on web-2: web-2 answers 503")
            assert "web-1" not in one["Body"]  # it resolved: the text no longer names it
            assert one["Id"] == both["Id"] and one["Count"] > both["Count"]

            push(manager, alert(ends=gone, instance="web-2", summary="web-2 answers 503"))
            done = says("[RESOLVED]", status="resolved")
            assert done["Id"] == both["Id"] and "[FIRING" not in done["Body"]
            assert done["AcknowledgedAt"] is None  # resolving is not acknowledging
    store.close()


def _ready(manager: str, proc: subprocess.Popen) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"Alertmanager exited with {proc.returncode}")
    try:
        return httpx.get(f"{manager}/-/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _tail(folder: Path) -> str:
    path = folder / "alertmanager.log"
    return "\n".join(path.read_text().splitlines()[-30:]) if path.exists() else "(none)"
