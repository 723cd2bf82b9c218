"""The hub inside the cluster, deployed with ``deploy/`` as an admin applies it.

On the containerd node: the images ``primehub-hub`` and ``primehub-notebook`` built here, the
Secret created as the docs say, then ``kubectl apply -k`` of an overlay that only names the
namespace and the images, adds the tests' catalog and, on top of ``deploy/z2jh-values.yaml``, a
login for the test users. The hub runs with its own ServiceAccount; the test talks to it only
through the ``proxy-public`` Service, as users do (kubectl with the admin credentials only to
look and to play the admin).
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from localk8s import images, realnode
from localk8s.controlplane import load_settings
from localk8s.hubtesting import HubProcess
from localk8s.settings import REPO_ROOT
from localk8s.testing import Cluster, session_cluster, wait_for

HERE = Path(__file__).parent
PASSWORD = "incluster-password"
# What the tests add to the admin's values: a login (dummy, one password) and an admin
# service token (from the Secret, like every token here).
TEST_VALUES = {
    "config": {
        "Authenticator": {"allow_all": True},
        "DummyAuthenticator": {"password": PASSWORD},
    },
    "services": {"test-admin": {}},
    "loadRoles": {
        "test-admin": {
            "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users"],
            "services": ["test-admin"],
        }
    },
}


@pytest.fixture(scope="session")
def k8s_cluster() -> Iterator[Cluster]:
    """The local cluster with the containerd runtime."""
    yield from session_cluster("containerd")


@pytest.fixture(scope="session")
def refs(k8s_cluster: Cluster) -> dict[str, str]:
    """The hub and notebook images, built (or cached) and imported into the node."""
    built = images.build(["primehub-hub", "primehub-notebook"])
    socket = str(realnode.containerd_socket(load_settings()))
    for image in built.values():
        images.import_into(socket, image)
    return {name: image.ref for name, image in built.items()}


def write_overlay(folder: Path, namespace: str, refs: dict[str, str]) -> None:
    """An overlay of ``deploy/`` as an admin writes one, plus the tests' additions."""
    folder.mkdir(parents=True, exist_ok=True)
    catalog = (
        (HERE / "catalog.yaml").read_text().replace("NOTEBOOK_IMAGE", refs["primehub-notebook"])
    )
    (folder / "catalog.yaml").write_text(catalog)
    values = yaml.safe_load((REPO_ROOT / "deploy" / "z2jh-values.yaml").read_text())
    for key, extra in TEST_VALUES.items():
        values["hub"].setdefault(key, {})
        for name, item in extra.items():
            if isinstance(item, dict) and isinstance(values["hub"][key].get(name), dict):
                values["hub"][key][name].update(item)
            else:
                values["hub"][key][name] = item
    (folder / "values.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    shutil.copy(
        REPO_ROOT / "deploy" / "hub" / "jupyterhub_config.py", folder / "jupyterhub_config.py"
    )
    base = os.path.relpath(REPO_ROOT / "deploy", folder)
    (folder / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "namespace": namespace,
                "bases": [base],
                "images": [
                    {
                        "name": "primehub-hub",
                        "newName": refs["primehub-hub"].rsplit(":", 1)[0],
                        "newTag": refs["primehub-hub"].rsplit(":", 1)[1],
                    },
                ],
                "configMapGenerator": [
                    {"name": "primehub-catalog", "behavior": "replace", "files": ["catalog.yaml"]},
                    {
                        "name": "hub-config",
                        "behavior": "replace",
                        "files": ["jupyterhub_config.py", "values.yaml"],
                    },
                ],
                "patchesStrategicMerge": ["hub-test-token.yaml"],
            },
            sort_keys=False,
        )
    )
    (folder / "hub-test-token.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "hub"},
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "hub",
                                    "env": [
                                        {
                                            "name": "HUB_SERVICE_TOKEN_TEST_ADMIN",
                                            "valueFrom": {
                                                "secretKeyRef": {
                                                    "name": "primehub-secrets",
                                                    "key": "test-admin-token",
                                                }
                                            },
                                        }
                                    ],
                                }
                            ]
                        }
                    }
                },
            }
        )
    )


class InClusterHub(HubProcess):
    """REST helpers of ``HubProcess`` for the hub pod, reached through ``proxy-public``."""

    cluster: Cluster
    namespace: str

    def log_tail(self, lines: int = 80) -> str:
        proc = self.cluster.kubectl(
            "logs", "deploy/hub", "-n", self.namespace, f"--tail={lines}", check=False
        )
        return proc.stdout + proc.stderr

    def stop(self, timeout: float = 90) -> None:
        self.session.close()


def wait_rollout(cluster: Cluster, namespace: str, *names: str, timeout: int = 240) -> None:
    for name in names:
        cluster.kubectl(
            "rollout",
            "status",
            f"deployment/{name}",
            "-n",
            namespace,
            f"--timeout={timeout}s",
            timeout=timeout + 30,
        )


@pytest.fixture(scope="session")
def deployment(k8s_cluster, refs, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """``deploy/`` applied into a fresh namespace; yields names and tokens, deletes it after."""
    namespace = k8s_cluster.create_namespace("incluster")
    admin_token = secrets.token_hex(32)
    k8s_cluster.kubectl(
        "create",
        "secret",
        "generic",
        "primehub-secrets",
        "-n",
        namespace,
        f"--from-literal=proxy-token={secrets.token_hex(32)}",
        f"--from-literal=primehub-jobs-token={secrets.token_hex(32)}",
        f"--from-literal=test-admin-token={admin_token}",
    )
    overlay = tmp_path_factory.mktemp("overlay")
    write_overlay(overlay, namespace, refs)
    k8s_cluster.kubectl("apply", "-k", str(overlay))
    try:
        wait_rollout(k8s_cluster, namespace, "proxy", "primehub-jobs", "hub")
        yield {"namespace": namespace, "overlay": overlay, "admin_token": admin_token}
    finally:
        if not os.environ.get("PRIMEHUB_TEST_KEEP_NAMESPACE"):  # set it to look after a failure
            k8s_cluster.delete_namespace(namespace, wait=True)


@pytest.fixture(scope="session")
def hub(k8s_cluster, deployment) -> InClusterHub:
    """The deployed hub, through its proxy-public Service."""
    namespace = deployment["namespace"]
    ip = k8s_cluster.get("service", "proxy-public", "-n", namespace)["spec"]["clusterIP"]
    hub = InClusterHub(
        url=f"http://{ip}",
        token=deployment["admin_token"],
        proc=None,
        workdir=Path("."),
        log_path=Path("/dev/null"),
    )
    hub.cluster, hub.namespace = k8s_cluster, namespace
    wait_for(lambda: hub.api("GET", "/").status_code == 200, 120, what="hub API through the proxy")
    return hub


@pytest.fixture(scope="session")
def seen_labels() -> dict[str, dict[str, str]]:
    """Labels of pods that earlier tests made (gateway, notebook, job), for the policy test."""
    return {}


@pytest.fixture
def pods(k8s_cluster, deployment):
    """``pods(user)``: the user's pods in the deployment's namespace."""

    def list_pods(user: str) -> list[dict]:
        return k8s_cluster.get(
            "pods", "-n", deployment["namespace"], "-l", f"primehub.io/user={user}"
        )["items"]

    return list_pods


@pytest.fixture
def stop_all(hub, pods):
    """Stops every server of the named users after the test (and waits for their pods)."""
    users: list[str] = []
    yield users.append
    for name in users:
        for server in list(hub.user(name).get("servers", {})):
            path = f"/users/{name}/servers/{server}" if server else f"/users/{name}/server"
            hub.api("DELETE", path)
        wait_for(
            lambda n=name: (
                not [
                    p for p in pods(n) if p["metadata"]["labels"].get("component") != "primehub-job"
                ]
            ),
            120,
            what=f"servers of {name} deleted",
        )


def login(hub, user: str) -> requests.Session:
    """A browser-like session of ``user`` (cookies, XSRF) after the login form."""
    s = requests.Session()
    s.trust_env = False
    s.get(hub.url + "/hub/login", timeout=30)
    r = s.post(
        hub.url + "/hub/login",
        data={"username": user, "password": PASSWORD, "_xsrf": s.cookies.get("_xsrf")},
        timeout=30,
    )
    assert r.status_code == 200, f"login {r.status_code}\n--- hub log ---\n{hub.log_tail(40)}"
    return s


def wait_ready(hub, user: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = hub.user(user)
        server = model.get("servers", {}).get("")
        if server and server.get("ready"):
            return
        time.sleep(1)
    raise AssertionError(f"{user}'s server not ready: {hub.user(user)}\n{hub.log_tail()}")
