"""The jobs panel learns a job's start and end from the server's event stream: with every
listing request refused once the stream is open, a job submitted elsewhere still appears in the
panel and ends there 'succeeded'."""

from __future__ import annotations

import re

import pytest
from lab_ui import show_jobs_panel, wait_for_job

pytestmark = pytest.mark.browser

LISTING = re.compile(r".*/primehub/api/jobs(\?[^/]*)?$")


def _is_event_stream(response) -> bool:
    return response.url.split("?")[0].endswith("/primehub/api/jobs/events")


def test_panel_shows_a_job_end_the_server_pushed(page, lab) -> None:
    lab.write_notebook("pushed.ipynb", [("code", "x = 1", []), ("code", "print(x + 1)", [])])
    with page.expect_response(_is_event_stream) as opened:
        page.reload()
    stream = opened.value
    assert stream.status == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    page.wait_for_selector(".jp-LauncherCard")
    show_jobs_panel(page)

    def refuse(route) -> None:
        route.fulfill(status=503, content_type="application/json", body='{"message": "refused"}')

    page.route(LISTING, refuse)  # from now on only the stream can tell the panel anything
    status, job = lab.api("POST", "/primehub/api/jobs", {"path": "pushed.ipynb", "name": "pushed"})
    assert status == 201, job
    wait_for_job(page, lab, "pushed", "succeeded")
