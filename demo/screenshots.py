"""Regenerate the README's pictures of the demo with Playwright driving Debian Chromium.

    .venv/bin/python demo/screenshots.py [spawn-form] [jobs-panel]     (default: both)

- ``docs/images/spawn-form.png``: the spawn form of the demo hub (``jupyterhub_config.py`` with
  ``demo/catalog.yaml``) as ``bob`` sees it; needs the local cluster running
  (``python -m localk8s up``); the hub runs on free ports in a namespace of its own.
- ``docs/images/demo-jobs-panel.png``: JupyterLab's PrimeHub jobs panel with a succeeded, a
  failed and a running job (a standalone ``jupyter lab`` with the local job backend; no cluster).

Each PNG is checked to stay under 200 KB.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IMAGES = ROOT / "docs" / "images"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
MAX_BYTES = 200_000
PASSWORD = "screenshots"
TIMEOUT_MS = 240_000


def _check(path: Path) -> None:
    size = path.stat().st_size
    if size >= MAX_BYTES:
        raise SystemExit(f"{path} is {size} bytes: keep pictures under {MAX_BYTES} bytes")
    print(f"wrote {path.relative_to(ROOT)} ({size // 1024} KB)")


def _kubectl(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "localk8s", "kubectl", *args], cwd=ROOT, check=True)


def spawn_form(browser) -> None:
    """bob's spawn form on the demo hub: two groups, their instance types, images, datasets."""
    from localk8s.hubtesting import running_hub

    status = json.loads(
        subprocess.run(
            [sys.executable, "-m", "localk8s", "status", "--json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    if not status.get("running"):
        raise SystemExit("the spawn form needs the local cluster: python -m localk8s up")
    namespace = f"screenshots-{secrets.token_hex(3)}"
    _kubectl("create", "namespace", namespace)
    try:
        with tempfile.TemporaryDirectory() as work:
            env = {
                **os.environ,
                "KUBECONFIG": status["kubeconfig"],
                "PRIMEHUB_NAMESPACE": namespace,
                "PRIMEHUB_STATE_DIR": work,
                "PRIMEHUB_DEMO_PASSWORD": PASSWORD,
                "PYTHONPATH": str(ROOT),
            }
            config = ROOT / "jupyterhub_config.py"
            with running_hub(config, Path(work), hub_ip=status["bridge_ip"], env=env) as hub:
                context = browser.new_context(viewport={"width": 960, "height": 1000})
                context.set_default_timeout(TIMEOUT_MS)
                page = context.new_page()
                page.goto(hub.url + "/hub/login")
                page.fill("#username_input", "bob")
                page.fill("#password_input", PASSWORD)
                page.click("#login_submit")
                page.goto(hub.url + "/hub/spawn")
                page.wait_for_selector("#primehub-group")
                page.select_option("#primehub-group", "phusers")
                page.locator('section[data-group="phusers"]').wait_for()
                out = IMAGES / "spawn-form.png"
                page.screenshot(path=str(out), full_page=True)
                context.close()
                _check(out)
    finally:
        _kubectl("delete", "namespace", namespace, "--wait=false")


def _notebook(path: Path, *sources: str) -> None:
    cells = [
        {"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None}
        for s in sources
    ]
    nb = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))


def _api(url: str, token: str, method: str, path: str, body: object = None) -> object:
    request = urllib.request.Request(
        url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=60) as resp:
        return json.loads(resp.read() or b"null")


def jobs_panel(browser) -> None:
    """The jobs panel with a succeeded, a failed and a running job of the local backend."""
    from localk8s.hubtesting import free_port

    with tempfile.TemporaryDirectory() as work:
        base = Path(work)
        root = base / "root"
        root.mkdir()
        news = base / "settings" / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True)
        (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
        _notebook(root / "train.ipynb", "epochs = 3", "for e in range(epochs):\n    print(e)")
        _notebook(root / "report.ipynb", "raise ValueError('no data for 2026-03')")
        _notebook(root / "sweep.ipynb", "import time\nfor i in range(600):\n    time.sleep(1)")
        port, token = free_port(), secrets.token_hex(16)
        env = {
            **os.environ,
            "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
            "JUPYTER_CONFIG_DIR": str(base / "config"),
            "JUPYTER_DATA_DIR": str(base / "data"),
            "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        }
        env.pop("JUPYTERHUB_API_TOKEN", None)
        with open(base / "lab.log", "wb") as log:
            lab = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "jupyterlab",
                    "--allow-root",
                    "--no-browser",
                    "--ServerApp.ip=127.0.0.1",
                    f"--ServerApp.port={port}",
                    f"--IdentityProvider.token={token}",
                    f"--ServerApp.root_dir={root}",
                    "--LabApp.news_url=",
                    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                ],
                cwd=root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    _api(url, token, "GET", "/api/status")
                    break
                except OSError:
                    if lab.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit((base / "lab.log").read_text()[-3000:]) from None
                    time.sleep(0.5)
            for path, params in (("report.ipynb", None), ("train.ipynb", {"epochs": 5})):
                body = {"path": path, **({"parameters": params} if params else {})}
                _api(url, token, "POST", "/primehub/api/jobs", body)
            deadline = time.monotonic() + 240
            while True:
                jobs = _api(url, token, "GET", "/primehub/api/jobs")["jobs"]
                if all(j["status"] in ("succeeded", "failed") for j in jobs):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"jobs did not end: {jobs}")
                time.sleep(1)
            _api(url, token, "POST", "/primehub/api/jobs", {"path": "sweep.ipynb"})
            context = browser.new_context(viewport={"width": 1200, "height": 640})
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            page.goto(f"{url}/lab?token={token}&reset")
            page.wait_for_selector(".jp-LauncherCard")
            page.locator(".lm-MenuBar-itemLabel", has_text="PrimeHub").click()
            page.locator("#jp-mainmenu-primehub .lm-Menu-itemLabel", has_text="Jobs").click()
            panel = page.locator("#primehub-jobs-panel")
            panel.wait_for()
            page.locator('.jp-PrimeHub-job[data-status="running"]').first.wait_for()
            out = IMAGES / "demo-jobs-panel.png"
            page.screenshot(path=str(out))
            context.close()
            _check(out)
        finally:
            lab.terminate()
            try:
                lab.wait(30)
            except subprocess.TimeoutExpired:
                lab.kill()
                lab.wait()


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    wanted = argv or ["spawn-form", "jobs-panel"]
    shots = {"spawn-form": spawn_form, "jobs-panel": jobs_panel}
    unknown = [w for w in wanted if w not in shots]
    if unknown:
        raise SystemExit(f"unknown picture(s) {unknown}: choose from {sorted(shots)}")
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    IMAGES.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name in wanted:
                shots[name](browser)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
