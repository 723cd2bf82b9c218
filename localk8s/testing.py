"""pytest plugin: the session-scoped ``k8s_cluster`` fixture (and ``k8s_namespace``).

Enable with ``pytest_plugins = ["localk8s.testing"]`` in a conftest. The fixture

* uses an external cluster when ``PRIMEHUB_TEST_KUBECONFIG`` is set (``PRIMEHUB_TEST_HUB_IP`` then
  names the address pods reach the host at),
* otherwise reuses a local cluster that is already up, or starts one; a cluster started by test
  sessions is stopped when the last session using it ends, whatever the tests' outcome (a cluster
  started by ``python -m localk8s up`` keeps running).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localk8s import build, controlplane
from localk8s.processes import start_time


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker of tests that stop and restart the local cluster."""
    config.addinivalue_line(
        "markers",
        "restarts_cluster: stops and restarts the local cluster (run at the end of the session)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run cluster-restarting tests last, so no other test's session fixture loses its pods."""
    items.sort(key=lambda item: item.get_closest_marker("restarts_cluster") is not None)


class WaitTimeout(AssertionError):
    """A condition polled by ``wait_for`` did not become true in time."""


def wait_for(
    check: Callable[[], Any], timeout: float = 120, interval: float = 0.3, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns something truthy; return that (WaitTimeout otherwise)."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # the condition may fail until it holds
            last_exc = exc
        time.sleep(interval)
    raise WaitTimeout(
        f"timed out after {timeout:.0f}s waiting for {what}"
        + (f" (last error: {last_exc})" if last_exc else "")
    )


@dataclass
class Cluster:
    """Handle on the cluster under test."""

    kubeconfig: Path
    bridge_ip: str
    api_server: str
    kubectl_path: str
    external: bool = False
    state_dir: Path | None = None
    #: True when this test session started the local cluster.
    started_here: bool = False
    leases: SessionLeases | None = None
    #: "agent" or "containerd" (see ``python -m localk8s up --runtime``); "" for an external one
    runtime: str = ""

    def used_by_others(self) -> bool:
        """True if other test sessions use this local cluster right now."""
        if self.leases is None:
            return True
        with self.leases.locked():
            return bool(self.leases.others())

    @property
    def env(self) -> dict[str, str]:
        """Environment for a process (e.g. JupyterHub) that talks to this cluster."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against the cluster; raises AssertionError with its stderr on failure."""
        proc = subprocess.run(
            [self.kubectl_path, f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def get(self, *args: str) -> dict[str, Any]:
        """``kubectl get ... -o json`` decoded."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, manifest: dict[str, Any] | str, namespace: str | None = None) -> None:
        """``kubectl apply`` a manifest (dict or YAML/JSON text)."""
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        ns = ["-n", namespace] if namespace else []
        self.kubectl("apply", *ns, "-f", "-", input=text)

    def create_namespace(self, prefix: str = "test") -> str:
        """A fresh namespace whose default service account is ready to run pods."""
        name = f"{prefix}-{secrets.token_hex(3)}"
        self.kubectl("create", "namespace", name)

        def sa_ready() -> bool:
            sa = self.get("serviceaccount", "default", "-n", name)
            return bool(sa.get("secrets"))

        wait_for(sa_ready, 60, what=f"default service account in {name}")
        return name

    def delete_namespace(self, name: str, wait: bool = False) -> None:
        """Delete a namespace (and everything in it)."""
        self.kubectl("delete", "namespace", name, f"--wait={str(wait).lower()}", check=False)

    def pod(self, namespace: str, name: str) -> dict[str, Any]:
        """The pod object."""
        return self.get("pod", name, "-n", namespace)

    def wait_pod(
        self,
        namespace: str,
        name: str,
        check: Callable[[dict], bool],
        timeout: float = 120,
        what: str = "pod condition",
    ) -> dict[str, Any]:
        """Poll the pod until ``check(pod)``; return the pod."""
        return wait_for(
            lambda: (lambda p: p if check(p) else None)(self.pod(namespace, name)),
            timeout,
            what=f"{what} of {namespace}/{name}",
        )

    def pod_gone(self, namespace: str, name: str) -> bool:
        """True once the pod object no longer exists."""
        proc = self.kubectl("get", "pod", name, "-n", namespace, check=False)
        return proc.returncode != 0 and "NotFound" in proc.stderr

    def events_for(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """Events whose involvedObject is the named object."""
        items = self.get("events", "-n", namespace)["items"]
        return [e for e in items if e["involvedObject"].get("name") == name]


def _external() -> Cluster | None:
    path = os.environ.get("PRIMEHUB_TEST_KUBECONFIG")
    if not path:
        return None
    kubectl = os.environ.get("PRIMEHUB_TEST_KUBECTL") or str(build.binary("kubectl"))
    return Cluster(
        kubeconfig=Path(path),
        bridge_ip=os.environ.get("PRIMEHUB_TEST_HUB_IP", ""),
        api_server="",
        kubectl_path=kubectl,
        external=True,
    )


class SessionLeases:
    """Test sessions sharing one local cluster (several engineers or pytest runs at once).

    Each session holds a lease file while it uses the cluster. A cluster started by a test session
    is stopped by the LAST session that leaves, so one session ending never pulls the cluster from
    under another. A cluster started by a person (``python -m localk8s up``) is never stopped here.
    """

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "test-sessions"
        self.marker = state_dir / "started-by-tests"
        self.lock_path = state_dir / ".test-sessions.lock"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise lease changes across processes."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def others(self) -> list[int]:
        """PIDs of other live sessions (stale leases of dead sessions are removed)."""
        live = []
        for lease in self.dir.glob("*.lease"):
            pid = int(lease.stem)
            if pid == os.getpid():
                continue
            if start_time(pid) is None or start_time(pid) != lease.read_text().strip():
                lease.unlink(missing_ok=True)
            else:
                live.append(pid)
        return live

    def acquire(self) -> None:
        """Register this session."""
        (self.dir / f"{os.getpid()}.lease").write_text(start_time(os.getpid()) or "")

    def release(self) -> None:
        """Unregister this session."""
        (self.dir / f"{os.getpid()}.lease").unlink(missing_ok=True)


def session_cluster(runtime: str = "agent") -> Iterator[Cluster]:
    """Body of a session fixture (or, wrapped in ``contextmanager``, of a benchmark): the local
    cluster with ``runtime`` for the whole session.

    A cluster that runs with another runtime is restarted with this one only if test sessions
    started it and no other session uses it; a cluster someone started by hand is never stopped
    (ClusterError, saying how to stop it).
    """
    external = _external()
    if external is not None:
        yield external
        return
    settings = controlplane.load_settings()
    leases = SessionLeases(settings.state_dir)
    started = False
    with leases.locked():
        if controlplane.is_up(settings) and settings.runtime != runtime:
            if not leases.marker.exists() or leases.others():
                raise controlplane.ClusterError(
                    f"the local cluster runs with runtime {settings.runtime!r} (started by hand or "
                    f"used by another test session); this needs {runtime!r}: stop it with "
                    "`python -m localk8s down`"
                )
            controlplane.down(settings)
        if not controlplane.is_up(settings):
            settings.runtime = runtime
            controlplane.up(settings)
            leases.marker.write_text(str(os.getpid()))
            started = True
        leases.acquire()
    info = controlplane.status(settings)
    try:
        yield Cluster(
            kubeconfig=Path(info["kubeconfig"]),
            bridge_ip=info["bridge_ip"],
            api_server=info["api_server"],
            kubectl_path=info["kubectl"],
            state_dir=settings.state_dir,
            started_here=started,
            leases=leases,
            runtime=info["runtime"],
        )
    finally:
        with leases.locked():
            leases.release()
            if leases.marker.exists() and not leases.others():
                controlplane.down(settings)
                leases.marker.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def k8s_cluster() -> Iterator[Cluster]:
    """The Kubernetes cluster for the whole test session (see module docstring): the node agent
    runtime (``tests/containers`` overrides this fixture with the containerd runtime)."""
    yield from session_cluster("agent")


@pytest.fixture
def k8s_namespace(k8s_cluster: Cluster) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    name = k8s_cluster.create_namespace()
    try:
        yield name
    finally:
        k8s_cluster.delete_namespace(name)
