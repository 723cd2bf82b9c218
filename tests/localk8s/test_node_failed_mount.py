"""The node agent reports a volume it cannot set up as a kubelet does: a ``FailedMount`` event
(``MountVolume.SetUp failed for volume "<name>" : <why>``) with the containers left
``ContainerCreating``, retried until the object appears. Env references to a missing object stay
``Failed`` / ``CreateContainerConfigError``, as with a kubelet.

The agent's pod runner runs in-process here (its API lookups replaced by dicts), so the test
reads exactly what the agent would post."""

from __future__ import annotations

import asyncio
from pathlib import Path

from localk8s import podspec
from localk8s.podruntime import PodRunner
from localk8s.settings import Settings


def _pod(volumes: list[dict], env_from: list[dict] | None = None) -> dict:
    container = {"name": "main", "image": "x", "command": ["true"]}
    if env_from:
        container["envFrom"] = env_from
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "uid-1"},
        "spec": {"containers": [container], "volumes": volumes, "restartPolicy": "Never"},
    }


def _first_event(tmp_path: Path, pod: dict, secrets: dict | None = None):
    """Run the runner's setup until it posts its first event; return it and the runner."""
    events: list[tuple[str, str, str]] = []

    async def fetch(_pod: dict):
        lookups = podspec.Lookups()
        lookups.secrets.update(secrets or {})
        return lookups, {}

    async def event(_pod, kind, reason, message, _container):
        events.append((kind, reason, message))
        runner.stopping = True  # one attempt is enough

    async def go() -> None:
        await asyncio.wait_for(runner._setup_with_retry(), 30)

    runner = PodRunner(Settings(state_dir=tmp_path), pod, "10.0.0.2", fetch, lambda r: None, event)
    asyncio.run(go())
    return events, runner


def test_a_missing_secret_volume_is_a_failed_mount_event(tmp_path):
    pod = _pod([{"name": "creds", "secret": {"secretName": "absent"}}])
    events, runner = _first_event(tmp_path, pod)
    assert events == [
        (
            "Warning",
            "FailedMount",
            'MountVolume.SetUp failed for volume "creds" : secret "absent" not found',
        )
    ]
    assert runner.containers[0].waiting_reason == "ContainerCreating"


def test_a_missing_host_directory_is_a_failed_mount_event(tmp_path):
    missing = tmp_path / "no-such-dir"
    pod = _pod([{"name": "ds", "hostPath": {"path": str(missing), "type": "Directory"}}])
    events, _ = _first_event(tmp_path, pod)
    assert events == [
        (
            "Warning",
            "FailedMount",
            f'MountVolume.SetUp failed for volume "ds" : hostPath {missing} (type Directory) '
            "does not exist",
        )
    ]


def test_a_missing_secret_in_env_stays_a_config_error_not_a_mount_failure(tmp_path):
    pod = _pod([], env_from=[{"secretRef": {"name": "absent"}}])
    events, runner = _first_event(tmp_path, pod)
    assert events == [("Warning", "Failed", 'Error: secret "absent" not found')]
    assert runner.containers[0].waiting_reason == "CreateContainerConfigError"
