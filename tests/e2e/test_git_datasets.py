"""Git datasets on a real hub and the local cluster: a repository served by ``git daemon`` on the
pod bridge is cloned into the server before it starts, pulled every ``syncInterval``, mounted
read-only, and a URL that cannot be cloned fails the spawn at once with git's reason."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import yaml

from localk8s.hubtesting import free_port
from localk8s.testing import wait_for

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
]


def git(repo, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.org",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(repo),
            "PATH": "/usr/bin:/bin",
        },
    ).stdout


@pytest.fixture
def repository(tmp_path, k8s_cluster):
    """A repository with one commit, served read-only by ``git daemon`` on the pod bridge
    (``git://<bridge>:<port>/docs.git``); yields (work tree, URL)."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "hello.txt").write_text("first\n")
    git(work, "add", "hello.txt")
    git(work, "commit", "-q", "-m", "first")
    served = tmp_path / "served"
    served.mkdir()
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(work), str(served / "docs.git")], check=True
    )
    git(work, "remote", "add", "served", str(served / "docs.git"))
    host = k8s_cluster.bridge_ip
    port = free_port(host)
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            f"--base-path={served}",
            f"--listen={host}",
            f"--port={port}",
            str(served),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield work, f"git://{host}:{port}/docs.git", port
    finally:
        daemon.terminate()
        daemon.wait(10)


def add_group(catalog_file, user: str, datasets: dict) -> None:
    catalog = yaml.safe_load(catalog_file.read_text())
    catalog["datasets"].update(datasets)
    catalog["groups"][f"{user}-group"] = {
        "members": [user],
        "instanceTypes": ["cpu-small"],
        "datasets": {name: {} for name in datasets},
    }
    catalog_file.write_text(yaml.safe_dump(catalog))
    time.sleep(1.1)  # a new modification time: the hub re-reads the file at the next spawn


def start(hub, user: str) -> tuple[str, list[dict]]:
    """Start the user's server; the token and the spawn's progress events (a spawn that failed
    within the hub's slow-spawn wait answers 503 at once: one failed event with its message)."""
    hub.create_user(user)
    token = hub.user_token(user)
    resp = hub.start_server(user, {"group": f"{user}-group", "instance_type": "cpu-small"})
    if resp.status_code == 503:
        return token, [{"failed": True, "message": resp.json()["message"]}]
    assert resp.status_code in (201, 202), resp.text
    return token, hub.progress_events(user, token, timeout=150)


def test_the_notebook_sees_the_repository_and_its_new_commits(
    hub, pods, stop_all, catalog_file, repository
):
    work, url, _ = repository
    add_group(
        catalog_file,
        "gina",
        {"docs": {"type": "git", "url": url, "ref": "main", "syncInterval": 2}},
    )
    stop_all("gina")
    token, events = start(hub, "gina")
    assert events[-1].get("ready"), events
    pod = pods("gina")[0]
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["git-clone-0-docs"]
    assert "git-sync-0-docs" in [c["name"] for c in pod["spec"]["containers"]]

    code = (
        "import os\n"
        "print(open('/datasets/docs/hello.txt').read().strip())\n"
        "try:\n"
        "    open('/datasets/docs/mine.txt', 'w')\n"
        "except OSError as e:\n"
        "    print('read-only', e.errno)\n"
    )
    run = hub.run_code("gina", token, code)
    assert run.error is None, run
    assert run.stdout.split("\n")[:2] == ["first", "read-only 30"], run.stdout  # EROFS

    (work / "news.txt").write_text("second\n")
    git(work, "add", "news.txt")
    git(work, "commit", "-q", "-m", "second")
    git(work, "push", "-q", "served", "main")

    def sees_the_new_commit() -> bool:
        out = hub.run_code(
            "gina", token, "import os; print(os.path.exists('/datasets/docs/news.txt'))"
        )
        return out.stdout.strip() == "True"

    wait_for(sees_the_new_commit, 60, interval=2, what="the sidecar pulled the new commit")


def test_a_url_that_cannot_be_cloned_fails_the_spawn_at_once(
    hub, pods, stop_all, catalog_file, k8s_cluster
):
    closed = free_port(k8s_cluster.bridge_ip)
    bad = f"git://{k8s_cluster.bridge_ip}:{closed}/docs.git"
    add_group(catalog_file, "hugo", {"broken": {"type": "git", "url": bad}})
    stop_all("hugo")
    _, events = start(hub, "hugo")
    assert events[-1].get("failed"), events
    message = events[-1]["message"]
    assert f"Cannot clone git dataset 'broken' from {bad}" in message, message
    assert "unable to connect" in message or "Connection refused" in message, message
    wait_for(lambda: not pods("hugo"), 60, what="hugo's pod removed")
