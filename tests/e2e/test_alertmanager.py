"""End to end with the real Prometheus Alertmanager (Debian's `prometheus-alertmanager`, which
`.ci/run` installs): it runs on a free loopback port with a webhook receiver pointing at a
daemon this test serves; an alert pushed to Alertmanager's API becomes an incident, and the
same alert pushed again with `endsAt` in the past resolves it. Without the binary the test is
skipped on a laptop and fails under CI=true."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import wait_for
from live_server import serve
from test_browser import free_ports

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


def alert(ends: datetime | None = None) -> list[dict]:
    now = datetime.now(UTC)
    item = {
        "labels": {"alertname": "CheckoutDown", "severity": "critical", "instance": "web-1"},
        "annotations": {"summary": "Checkout is down", "description": "5xx on every request"},
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        "generatorURL": "http://prometheus.example/graph",
    }
    if ends is not None:
        item["endsAt"] = ends.isoformat()
    return [item]


def test_a_real_alertmanager_pages_and_resolves_through_the_receiver(
    alertmanager_binary, tmp_path: Path
):
    store = Store(tmp_path / "oncall.duckdb")
    app = create_app(store, Settings(), run_jobs=False)
    with serve(app) as daemon, httpx.Client(base_url=daemon) as api:
        service = api.post("/services", json={"Name": "checkout"}).json()
        receiver = f"{daemon}/integrations/alertmanager/{service['IntegrationKey']}"
        config = tmp_path / "alertmanager.yml"
        config.write_text(CONFIG.format(url=receiver))
        [port] = free_ports(1)
        log = (tmp_path / "alertmanager.log").open("w")
        proc = subprocess.Popen(
            [
                alertmanager_binary,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        manager = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: _ready(manager, proc), 60, "Alertmanager to answer on its /-/ready")
            pushed = httpx.post(f"{manager}/api/v2/alerts", json=alert(), timeout=10)
            assert pushed.status_code == 200, pushed.text

            def incident():
                items = api.get("/incidents", params={"Status": "all"}).json()["Items"]
                return items[0] if items else None

            opened = wait_for(incident, 60, "the incident Alertmanager's webhook opens")
            assert opened["ServiceId"] == service["Id"] and opened["Status"] == "triggered"
            assert opened["Body"].startswith("[FIRING:1] Checkout is down")
            assert opened["Severity"] == "critical" and opened["Source"] == "alertmanager"
            assert 'alertname="CheckoutDown"' in opened["DedupKey"]

            ended = alert(ends=datetime.now(UTC) - timedelta(seconds=5))
            assert httpx.post(f"{manager}/api/v2/alerts", json=ended, timeout=10).is_success
            resolved = wait_for(
                lambda: (i := incident()) and i["Status"] == "resolved" and i,
                60,
                "Alertmanager's resolved notification to resolve the incident",
            )
            assert resolved["Id"] == opened["Id"]
            assert len(api.get("/incidents", params={"Status": "all"}).json()["Items"]) == 1
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nAlertmanager's log:\n{_tail(tmp_path)}") from None
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
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
