"""Kubelet behaviours of the node agent the hub and jobs rely on."""

from __future__ import annotations

import subprocess
from pathlib import Path

from localk8s.testing import Cluster, wait_for


def _pod(name: str, script: str, **spec: object) -> dict:
    container = {"name": "main", "image": "none", "command": ["sh", "-c", script]}
    container.update(spec.pop("container", {}))  # type: ignore[arg-type]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container], **spec},
    }


def test_on_failure_restarts_until_success(k8s_cluster: Cluster, k8s_namespace: str) -> None:
    script = "if [ -f /state/tried ]; then echo second; exit 0; fi; touch /state/tried; exit 1"
    k8s_cluster.apply(
        _pod(
            "retry",
            script,
            restartPolicy="OnFailure",
            volumes=[{"name": "state", "emptyDir": {}}],
            container={"volumeMounts": [{"name": "state", "mountPath": "/state"}]},
        ),
        k8s_namespace,
    )
    pod = k8s_cluster.wait_pod(
        k8s_namespace,
        "retry",
        lambda p: p["status"].get("phase") == "Succeeded",
        what="phase Succeeded",
    )
    status = pod["status"]["containerStatuses"][0]
    assert status["restartCount"] == 1
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert k8s_cluster.kubectl("logs", "retry", "-n", k8s_namespace).stdout.strip() == "second"


def test_active_deadline_fails_the_pod(k8s_cluster: Cluster, k8s_namespace: str) -> None:
    k8s_cluster.apply(
        _pod("slow", "exec sleep 600", restartPolicy="Never", activeDeadlineSeconds=2),
        k8s_namespace,
    )
    pod = k8s_cluster.wait_pod(
        k8s_namespace, "slow", lambda p: p["status"].get("phase") == "Failed", what="phase Failed"
    )
    assert pod["status"]["reason"] == "DeadlineExceeded"


def test_config_volumes_env_from_and_working_dir(k8s_cluster: Cluster, k8s_namespace: str) -> None:
    ns = k8s_namespace
    k8s_cluster.kubectl("create", "configmap", "settings", "--from-literal=mode=fast", "-n", ns)
    k8s_cluster.kubectl(
        "create", "secret", "generic", "creds", "--from-literal=token=s3cret", "-n", ns
    )
    script = (
        "pwd; cat /etc/app/mode; echo; cat /secrets/token; echo; echo $mode; echo $HOME; "
        "touch /etc/app/x 2>/dev/null && echo writable || echo read-only"
    )
    k8s_cluster.apply(
        _pod(
            "configured",
            script,
            restartPolicy="Never",
            volumes=[
                {"name": "cfg", "configMap": {"name": "settings"}},
                {"name": "sec", "secret": {"secretName": "creds"}},
                {"name": "work", "emptyDir": {}},
            ],
            container={
                "workingDir": "/home/jovyan",
                "env": [{"name": "HOME", "value": "/home/jovyan"}],
                "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": ""}],
                "volumeMounts": [
                    {"name": "cfg", "mountPath": "/etc/app", "readOnly": True},
                    {"name": "sec", "mountPath": "/secrets", "readOnly": True},
                    {"name": "work", "mountPath": "/home/jovyan"},
                ],
            },
        ),
        ns,
    )
    k8s_cluster.wait_pod(
        ns, "configured", lambda p: p["status"].get("phase") == "Succeeded", what="phase Succeeded"
    )
    out = k8s_cluster.kubectl("logs", "configured", "-n", ns).stdout.splitlines()
    assert out == ["/home/jovyan", "fast", "s3cret", "fast", "/home/jovyan", "read-only"]


def test_missing_configmap_keeps_pod_pending_with_event(
    k8s_cluster: Cluster, k8s_namespace: str
) -> None:
    k8s_cluster.apply(
        _pod("needs-cm", "true", container={"envFrom": [{"configMapRef": {"name": "absent"}}]}),
        k8s_namespace,
    )
    pod = k8s_cluster.wait_pod(
        k8s_namespace,
        "needs-cm",
        lambda p: (
            (p["status"].get("containerStatuses") or [{}])[0]
            .get("state", {})
            .get("waiting", {})
            .get("reason")
            == "CreateContainerConfigError"
        ),
        what="CreateContainerConfigError",
    )
    assert pod["status"]["phase"] == "Pending"
    events = wait_for(
        lambda: [
            e for e in k8s_cluster.events_for(k8s_namespace, "needs-cm") if e["reason"] == "Failed"
        ],
        what="Failed event",
    )
    assert 'configmap "absent" not found' in events[0]["message"]
    # Creating the configmap lets the pod start.
    k8s_cluster.kubectl("create", "configmap", "absent", "--from-literal=a=b", "-n", k8s_namespace)
    k8s_cluster.wait_pod(
        k8s_namespace,
        "needs-cm",
        lambda p: p["status"].get("phase") in ("Running", "Succeeded"),
        what="start after the configmap exists",
    )


def test_logs_follow_streams_until_exit(k8s_cluster: Cluster, k8s_namespace: str) -> None:
    k8s_cluster.apply(
        _pod("ticker", "for i in 1 2 3; do echo tick $i; sleep 1; done", restartPolicy="Never"),
        k8s_namespace,
    )
    k8s_cluster.wait_pod(
        k8s_namespace,
        "ticker",
        lambda p: p["status"].get("phase") in ("Running", "Succeeded"),
        what="start",
    )
    proc = subprocess.run(
        [
            k8s_cluster.kubectl_path,
            f"--kubeconfig={k8s_cluster.kubeconfig}",
            "logs",
            "-f",
            "ticker",
            "-n",
            k8s_namespace,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["tick 1", "tick 2", "tick 3"]


def test_readiness_probe_gates_ready(k8s_cluster: Cluster, k8s_namespace: str) -> None:
    # Ready only once the file served on the probe path exists (created after a delay).
    script = (
        "mkdir -p /srv/www; (sleep 2; touch /srv/www/ok) & exec python -m http.server 8000 "
        "--directory /srv/www"
    )
    k8s_cluster.apply(
        _pod(
            "probed",
            script,
            volumes=[{"name": "www", "emptyDir": {}}],
            container={
                "volumeMounts": [{"name": "www", "mountPath": "/srv/www"}],
                "ports": [{"name": "web", "containerPort": 8000}],
                "readinessProbe": {"httpGet": {"path": "/ok", "port": "web"}, "periodSeconds": 1},
            },
        ),
        k8s_namespace,
    )
    seen_unready = k8s_cluster.wait_pod(
        k8s_namespace,
        "probed",
        lambda p: p["status"].get("phase") == "Running",
        what="phase Running",
    )
    pod = k8s_cluster.wait_pod(
        k8s_namespace,
        "probed",
        lambda p: any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p["status"].get("conditions", [])
        ),
        what="Ready condition",
    )
    assert pod["status"]["containerStatuses"][0]["ready"] is True
    assert seen_unready["status"]["phase"] == "Running"


def test_exec_probe_and_host_network(k8s_cluster: Cluster, k8s_namespace: str) -> None:
    # The exec probe runs inside the container's view (its volume is visible to the probe).
    k8s_cluster.apply(
        _pod(
            "execprobe",
            "sleep 1; touch /state/ready; exec sleep 600",
            hostNetwork=True,
            volumes=[{"name": "state", "emptyDir": {}}],
            container={
                "volumeMounts": [{"name": "state", "mountPath": "/state"}],
                "readinessProbe": {
                    "exec": {"command": ["test", "-f", "/state/ready"]},
                    "periodSeconds": 1,
                },
            },
        ),
        k8s_namespace,
    )
    pod = k8s_cluster.wait_pod(
        k8s_namespace,
        "execprobe",
        lambda p: any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p["status"].get("conditions", [])
        ),
        what="Ready via exec probe",
    )
    assert pod["status"]["podIP"] == pod["status"]["hostIP"]


def test_liveness_probe_restarts_container(k8s_cluster: Cluster, k8s_namespace: str) -> None:
    # Healthy for its first run only: the probe file exists until the container restarts.
    script = (
        "if [ -f /state/ran ]; then echo second run; exec sleep 600; fi; touch /state/ran; "
        "touch /state/alive; (sleep 1; rm /state/alive) & exec sleep 600"
    )
    k8s_cluster.apply(
        _pod(
            "flaky",
            script,
            volumes=[{"name": "state", "emptyDir": {}}],
            container={
                "volumeMounts": [{"name": "state", "mountPath": "/state"}],
                "livenessProbe": {
                    "exec": {"command": ["test", "-f", "/state/alive"]},
                    "periodSeconds": 1,
                    "failureThreshold": 2,
                },
            },
            terminationGracePeriodSeconds=1,
        ),
        k8s_namespace,
    )
    pod = k8s_cluster.wait_pod(
        k8s_namespace,
        "flaky",
        lambda p: (
            (p["status"].get("containerStatuses") or [{}])[0].get("restartCount", 0) >= 1
            and p["status"]["containerStatuses"][0]["state"].get("running")
        ),
        what="restart after failed liveness probe",
    )
    assert pod["status"]["phase"] == "Running"
    events = [e["reason"] for e in k8s_cluster.events_for(k8s_namespace, "flaky")]
    assert "Unhealthy" in events


def test_unknown_command_fails_with_start_error(k8s_cluster: Cluster, k8s_namespace: str) -> None:
    pod = _pod("typo", "unused", restartPolicy="Never")
    pod["spec"]["containers"][0]["command"] = ["jupyterhub-singleuserr"]
    k8s_cluster.apply(pod, k8s_namespace)
    pod = k8s_cluster.wait_pod(
        k8s_namespace, "typo", lambda p: p["status"].get("phase") == "Failed", what="phase Failed"
    )
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["reason"] == "StartError"
    assert '"jupyterhub-singleuserr": executable file not found' in terminated["message"]


def test_home_and_default_working_dir(k8s_cluster: Cluster, k8s_namespace: str) -> None:
    # Without workingDir a container starts in HOME; a HOME from env that does not exist on the
    # host is created inside the container only.
    script = "pwd; echo $HOME; touch here"
    k8s_cluster.apply(_pod("home-default", script, restartPolicy="Never"), k8s_namespace)
    k8s_cluster.apply(
        _pod(
            "home-env",
            script,
            restartPolicy="Never",
            container={"env": [{"name": "HOME", "value": "/home/jovyan-test"}]},
        ),
        k8s_namespace,
    )
    for name in ("home-default", "home-env"):
        k8s_cluster.wait_pod(
            k8s_namespace,
            name,
            lambda p: p["status"].get("phase") == "Succeeded",
            what="phase Succeeded",
        )
    default = k8s_cluster.kubectl("logs", "home-default", "-n", k8s_namespace).stdout.split()
    assert default[0] == default[1] and "/pods/" in default[0]
    env = k8s_cluster.kubectl("logs", "home-env", "-n", k8s_namespace).stdout.split()
    assert env == ["/home/jovyan-test", "/home/jovyan-test"]
    if not k8s_cluster.external:
        assert not Path("/home/jovyan-test").exists()
