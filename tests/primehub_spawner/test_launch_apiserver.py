"""The golden pod manifests and their PVCs are accepted by a real API server (dry-run)."""

import json

import pytest
from launch_cases import CASES, build

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize("case", sorted(CASES))
def test_apiserver_accepts_the_plan(k8s_cluster, k8s_namespace, catalog, case):
    plan, manifest = build(catalog, *CASES[case])
    manifest["metadata"]["namespace"] = k8s_namespace
    for obj in [manifest, *plan.pvcs]:
        proc = k8s_cluster.kubectl(
            "create",
            "--dry-run=server",
            "-n",
            k8s_namespace,
            "-o",
            "json",
            "-f",
            "-",
            input=json.dumps(obj),
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        created = json.loads(proc.stdout)
        assert created["metadata"]["name"] == obj["metadata"]["name"]
    # the server kept what matters (nothing silently dropped)
    pod = json.loads(
        k8s_cluster.kubectl(
            "create",
            "--dry-run=server",
            "-n",
            k8s_namespace,
            "-o",
            "json",
            "-f",
            "-",
            input=json.dumps(manifest),
        ).stdout
    )
    c = pod["spec"]["containers"][0]
    assert c["resources"]["limits"] == manifest["spec"]["containers"][0]["resources"]["limits"]
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["metadata"]["annotations"]["primehub.io/usage"]
