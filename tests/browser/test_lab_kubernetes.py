"""JupyterLab's Kubernetes backend and schedules in a real browser, inside a real hub on the
local cluster: the lab talks to the hub's primehub-jobs service with the user's own token, and
every job runs as a Kubernetes Job.

- "Run on: kubernetes" with an instance type and an image: submit, watch it in the jobs panel,
  open the output, download the artifacts; the dialog and the panel in the dark theme.
- "Run on a schedule": the cron preview (description, next runs, time zone), a refused
  expression, the schedule listed with its next run, pause/resume, run now (the run is a job).

Screenshots go to tests/artifacts/ (not committed).
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path

import pytest
from conftest import ARTIFACTS
from lab_ui import (
    JOB_TIMEOUT_MS,
    press_submit,
    run_menu_item,
    show_jobs_panel,
    submit_dialog,
    wait_for_job,
)

from localk8s.hubtesting import start_hub
from localk8s.settings import REPO_ROOT
from localk8s.testing import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.cluster]
PASSWORD = "browser-k8s-password"
USER = "alice"
TIMEOUT_MS = 120_000
CATALOG = REPO_ROOT / "tests" / "e2e" / "catalog.yaml"  # group team: cpu-1, gpu-1; images


def _notebook(*sources: str, parameters: str | None = None) -> dict:
    cells = []
    if parameters is not None:
        cells.append(
            {
                "cell_type": "code",
                "metadata": {"tags": ["parameters"]},
                "source": parameters,
                "outputs": [],
                "execution_count": None,
            }
        )
    cells += [
        {"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None}
        for s in sources
    ]
    return {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


class LabInHub:
    """alice's JupyterLab in the hub: the URL, an API token and the contents API."""

    def __init__(self, hub, token: str) -> None:
        self.hub = hub
        self.token = token
        self.base = f"{hub.url}/user/{USER}"

    def call(self, method: str, path: str, body: object | None = None):
        return self.hub.session.request(
            method,
            f"{self.base}/{path.lstrip('/')}",
            headers={"Authorization": f"token {self.token}"},
            json=body,
            timeout=30,
        )

    def put_notebook(self, path: str, nb: dict) -> None:
        folder = path.rsplit("/", 1)[0]
        made = self.call("PUT", f"api/contents/{folder}", {"type": "directory"})
        assert made.status_code in (200, 201), made.text
        resp = self.call("PUT", f"api/contents/{path}", {"type": "notebook", "content": nb})
        assert resp.status_code in (200, 201), resp.text


@pytest.fixture(scope="module")
def lab_in_hub(k8s_cluster, tmp_path_factory):
    """The reference hub with the e2e catalog; alice's server (team, cpu-1) with ~/team."""
    namespace = k8s_cluster.create_namespace("browser-k8s")
    workdir = tmp_path_factory.mktemp("k8s-hub")
    env = {
        **k8s_cluster.env,
        "PRIMEHUB_CATALOG": str(CATALOG),
        "PRIMEHUB_NAMESPACE": namespace,
        "PRIMEHUB_STATE_DIR": str(workdir),
        "PRIMEHUB_DEMO_PASSWORD": PASSWORD,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    hub = start_hub(
        REPO_ROOT / "jupyterhub_config.py", workdir, hub_ip=k8s_cluster.bridge_ip, env=env
    )
    try:
        hub.create_user(USER)
        token = hub.user_token(USER)
        resp = hub.start_server(USER, {"group": "team", "instance_type": "cpu-1"})
        assert resp.status_code in (201, 202), resp.text
        hub.wait_server(USER)
        # ~/team -> /project/team: the pod's postStart hook on a real node (localk8s runs none)
        pvc = k8s_cluster.get("pvc", f"claim-{USER}", "-n", namespace)
        pv = k8s_cluster.get("pv", pvc["spec"]["volumeName"])
        home = Path(pv["spec"]["hostPath"]["path"])
        if not (home / "team").is_symlink():
            (home / "team").symlink_to("/project/team")
        lab = LabInHub(hub, token)
        wait_for(lambda: lab.call("GET", "api/contents/team").ok, 60, what="~/team in the server")
        yield lab
    finally:
        k8s_cluster.kubectl("delete", "jobs", "-n", namespace, "-l", "component=primehub-job")
        hub.stop()
        k8s_cluster.delete_namespace(namespace)


@pytest.fixture
def lab_page(browser, lab_in_hub, request):
    """A logged-in browser page of alice (failing tests leave a screenshot)."""
    context = browser.new_context(viewport={"width": 1400, "height": 950}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    hub = lab_in_hub.hub
    page.goto(hub.url + "/hub/login")
    page.fill("#username_input", USER)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    page.wait_for_url("**/hub/**")
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-FAILED.png"))
            except Exception as err:
                print(f"no failure screenshot: {err}")
        context.close()


def open_in_lab(page, lab, path: str) -> None:
    page.goto(f"{lab.base}/lab/tree/{path}?reset")  # not the tabs of the previous test
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(timeout=TIMEOUT_MS)
    page.locator(".jp-StatusBar-Widget", has_text="Idle").first.wait_for(timeout=TIMEOUT_MS)


class ApiLab:
    """What lab_ui.wait_for_job needs to explain a timeout: the lab's jobs API."""

    def __init__(self, lab: LabInHub) -> None:
        self.lab = lab

    def api(self, method: str, path: str):
        resp = self.lab.call(method, path)
        return resp.status_code, resp.json() if resp.content else None


def test_run_on_kubernetes_with_instance_type_and_image_output_artifacts_dark_theme(
    lab_page, lab_in_hub, screenshot
):
    page, lab = lab_page, lab_in_hub
    lab.put_notebook(
        "team/lab-k8s/report.ipynb",
        _notebook(
            "import os, pathlib\n"
            "out = pathlib.Path(os.environ['PRIMEHUB_JOB_ARTIFACTS'])\n"
            "(out / 'result.txt').write_text(f'rows={rows}')\n"
            "print('k8s rows', rows, os.environ.get('INSTANCE_TYPE'))",
            parameters="rows = 3",
        ),
    )
    open_in_lab(page, lab, "team/lab-k8s/report.ipynb")
    # the dark theme, as a user picks it (Settings > Theme)
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^JupyterLab Dark$")).click()
    page.wait_for_selector('body[data-jp-theme-light="false"]', state="attached")

    run_menu_item(page, "Submit Notebook as Job")
    dialog = submit_dialog(page)
    dialog.locator("summary", has_text="Advanced").click()
    dialog.locator('select[name="backend"]').select_option("kubernetes")
    resources = dialog.locator(".jp-PrimeHub-remote")
    assert resources.is_visible()
    dialog.locator('select[name="instanceType"]').select_option("cpu-1")
    image = dialog.locator('select[name="image"]')
    # a GPU-only image is not offered for a CPU instance type
    assert image.locator('option[value="cuda"]').is_disabled()
    image.select_option("base")
    dialog.locator('.jp-PrimeHub-parameter[data-parameter="rows"] input').fill("7")
    dialog.locator(".jp-PrimeHub-jobNameInput").fill("k8s-report")
    screenshot(page, "dark-submit-dialog")
    press_submit(dialog)
    dialog.wait_for(state="detached")

    show_jobs_panel(page)
    row = wait_for_job(page, ApiLab(lab), "k8s-report", "succeeded")
    assert "kubernetes" in row.locator(".jp-PrimeHub-backend").inner_text()
    assert "cpu-1" in row.locator(".jp-PrimeHub-backend").inner_text()
    screenshot(page, "dark-jobs-panel")
    # the panel's colours come from the dark theme, not hard-coded light ones
    background = page.locator("#primehub-jobs-panel").evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    channels = [int(c) for c in background[background.index("(") + 1 : -1].split(",")[:3]]
    assert max(channels) < 128, background

    with page.expect_download() as download_info:
        row.locator('button[data-action="artifacts"]').click()
    download = download_info.value
    data = Path(download.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read("result.txt").decode() == "rows=7"

    row.locator('button[data-action="output"]').click()
    output = page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output", has_text="k8s rows 7")
    output.first.wait_for(timeout=JOB_TIMEOUT_MS)
    assert "cpu-1" in output.first.inner_text()
    screenshot(page, "dark-output")


def test_schedule_from_the_dialog_pause_resume_and_run_now(lab_page, lab_in_hub, screenshot):
    page, lab = lab_page, lab_in_hub
    lab.put_notebook("team/lab-k8s/nightly.ipynb", _notebook("print('nightly run')"))
    open_in_lab(page, lab, "team/lab-k8s/nightly.ipynb")
    run_menu_item(page, "Submit Notebook as Job")
    dialog = submit_dialog(page)
    dialog.locator(".jp-PrimeHub-jobNameInput").fill("nightly")
    dialog.get_by_label("Run on a schedule").check()
    dialog.locator('select[name="recurrence"]').select_option("custom")
    cron = dialog.locator(".jp-PrimeHub-cronInput")
    zone = dialog.locator(".jp-PrimeHub-timezoneInput")
    preview = dialog.locator(".jp-PrimeHub-schedulePreview")

    cron.fill("61 * * * *")
    assert dialog.get_by_text("minute: 61 is out of range 0-59").is_visible()
    press_submit(dialog)  # refused in the dialog, which stays open
    assert dialog.get_by_text("Please fix the highlighted fields.").is_visible()

    cron.fill("30 9 * * mon-fri")
    zone.fill("Asia/Taipei")
    assert "At 09:30, on Monday through Friday" in preview.inner_text()
    assert "Next runs (Asia/Taipei):" in preview.inner_text()
    assert preview.locator(".jp-PrimeHub-nextRuns li").count() == 5
    assert "09:30" in preview.locator(".jp-PrimeHub-nextRuns li").first.inner_text()
    screenshot(page, "schedule-dialog")
    press_submit(dialog)
    dialog.wait_for(state="detached")

    show_jobs_panel(page)
    schedule = page.locator(".jp-PrimeHub-schedule").filter(
        has=page.locator(".jp-PrimeHub-scheduleName", has_text="nightly")
    )
    schedule.wait_for()
    assert "Next run:" in schedule.inner_text() and "(Asia/Taipei)" in schedule.inner_text()
    assert "09:30" in schedule.locator(".jp-PrimeHub-scheduleNext").inner_text()
    made = lab.call("GET", "primehub/api/schedules").json()["schedules"]
    assert [(s["name"], s["cron"], s["timezone"]) for s in made] == [
        ("nightly", "30 9 * * mon-fri", "Asia/Taipei")
    ]

    schedule.locator('button[data-action="pause"]').click()
    page.locator('.jp-PrimeHub-schedule[data-paused="true"]').wait_for()
    assert "Paused: no next run" in schedule.inner_text()
    assert lab.call("GET", "primehub/api/schedules").json()["schedules"][0]["nextRunAt"] is None
    schedule.locator('button[data-action="resume"]').click()
    page.locator('.jp-PrimeHub-schedule[data-paused="false"]').wait_for()
    assert "Next run:" in schedule.inner_text()

    schedule.locator('button[data-action="run"]').click()
    # the run is a job of the panel (the hub's id, the schedule's name)
    wait_for_job(page, ApiLab(lab), "nightly", "succeeded")
    wait_for(
        lambda: "Last run: succeeded" in schedule.inner_text(),
        60,
        what="the schedule's last result",
    )
    screenshot(page, "schedule-panel")
    listed = lab.call("GET", "primehub/api/jobs").json()["jobs"]
    runs = [j for j in listed if j["name"] == "nightly"]
    assert runs and runs[0]["backend"] == "kubernetes", json.dumps(listed)[:2000]

    schedule.locator('button[data-action="delete"]').click()
    page.locator(".jp-Dialog .jp-mod-warn").click()
    schedule.wait_for(state="detached")
    assert lab.call("GET", "primehub/api/schedules").json()["schedules"] == []
