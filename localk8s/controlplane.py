"""Start, detect and stop the local cluster: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and the node agent, all detached and recorded by PID in the state dir."""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from localk8s import build, network, realnode
from localk8s.pki import Pki, ensure_pki, write_kubeconfig
from localk8s.processes import ProcessTable
from localk8s.settings import Settings

CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
#: Start order of the agent runtime; stop order is the reverse: the node agent first (it kills
#: pods and removes their namespaces), etcd last.
COMPONENTS = (*CONTROL_PLANE, "node-agent")
#: Everything any runtime may have started, in start order (``down`` stops what was recorded).
ALL_COMPONENTS = (*COMPONENTS, *realnode.COMPONENTS)


def components(settings: Settings) -> tuple[str, ...]:
    """The processes of this cluster's runtime, in start order."""
    if settings.runtime == "containerd":
        return (*CONTROL_PLANE, *realnode.COMPONENTS)
    return COMPONENTS


# Everything here is on loopback: never send it through an HTTP proxy from the environment.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ClusterError(RuntimeError):
    """The cluster cannot be started or reached; the message says what to do."""


def _say(msg: str) -> None:
    print(f"[localk8s] {msg}", flush=True)


@contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """Serialise up/down across processes (two test sessions starting at once)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def api_get(settings: Settings, path: str, timeout: float = 5) -> dict[str, Any]:
    """GET from the API server with the admin token (synchronous; for the CLI and fixtures)."""
    pki = Pki(settings.state_dir / "pki")
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    req = urllib.request.Request(
        settings.api_server + path, headers={"Authorization": f"Bearer {pki.token('admin')}"}
    )
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)
    )
    with opener.open(req, timeout=timeout) as resp:
        body = resp.read()
    try:
        return json.loads(body)
    except ValueError:
        return {"raw": body.decode(errors="replace")}


def api_ready(settings: Settings) -> bool:
    """True if /readyz answers ok."""
    try:
        return api_get(settings, "/readyz").get("raw") == "ok"
    except (OSError, KeyError, ValueError):
        return False


def node_ready(settings: Settings) -> bool:
    """True if the node exists with condition Ready=True and without the not-ready taint."""
    try:
        node = api_get(settings, f"/api/v1/nodes/{settings.node_name}")
    except (OSError, KeyError, ValueError):
        return False
    conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
    taints = [t["key"] for t in node.get("spec", {}).get("taints", []) or []]
    return conds.get("Ready") == "True" and "node.kubernetes.io/not-ready" not in taints


def _wait(what: str, check: Any, timeout: float, procs: ProcessTable, names: list[str]) -> None:
    _say(f"waiting for {what}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        for name in names:
            if not procs.alive(name):
                log = procs.log_dir / f"{name}.log"
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                raise ClusterError(f"{name} exited during start-up; last log lines:\n{tail}")
        time.sleep(0.3)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what} (logs: {procs.log_dir})")


def is_up(settings: Settings) -> bool:
    """True if this state dir's cluster runs (all components alive and the API ready)."""
    procs = ProcessTable(settings.state_dir)
    return all(procs.alive(n) for n in components(settings)) and api_ready(settings)


def load_settings(state_dir: Path | None = None) -> Settings:
    """Settings of the cluster in ``state_dir`` (as saved by ``up``), else from the environment."""
    settings = Settings.from_env()
    if state_dir is not None:
        settings.state_dir = state_dir
    saved = settings.state_dir / "settings.json"
    if saved.exists():
        return Settings.load(settings.state_dir)
    return settings


def _check_pod_cidr(settings: Settings) -> None:
    """Refuse a pod CIDR that overlaps an address or route the machine already uses."""
    net = ipaddress.ip_network(settings.pod_cidr)
    for dev, cidr in network.used_networks():
        if dev == settings.bridge:
            continue
        if ipaddress.ip_network(cidr, strict=False).overlaps(net):
            raise ClusterError(
                f"pod CIDR {net} overlaps {cidr} on {dev}: set LOCALK8S_POD_CIDR to an unused /24"
            )


def up(settings: Settings, timeout: float = 180) -> dict[str, Any]:
    """Start the cluster unless it already runs; return the status dict."""
    with _locked(settings.state_dir):
        if is_up(settings):
            _say(f"cluster already running (state dir {settings.state_dir})")
            return status(settings)
        procs = ProcessTable(settings.state_dir)
        # A partly running cluster (a component crashed) is restarted from scratch.
        _stop_all(settings, procs, quiet=True)
        if os.geteuid() != 0:
            raise ClusterError(
                "the node agent needs root (network namespaces, bridge, bind mounts)"
            )
        for port in (
            settings.etcd_client_port,
            settings.etcd_peer_port,
            settings.api_port,
            settings.kubelet_port,
        ):
            if not _port_free(port):
                raise ClusterError(
                    f"port 127.0.0.1:{port} is in use: another cluster (other state dir?) or "
                    "program runs; stop it first (python -m localk8s down)"
                )
        _check_pod_cidr(settings)
        if settings.runtime == "containerd":
            realnode.check_tools()
        build.build()
        settings.save()
        try:
            _start(settings, procs, timeout)
        except BaseException:
            # Ctrl-C or a failed start: leave nothing half-running behind.
            _say("start-up failed or interrupted: stopping what was started")
            _stop_all(settings, procs)
            raise
        _say(f"cluster ready: kubeconfig {settings.kubeconfig}")
        return status(settings)


def _start(settings: Settings, procs: ProcessTable, timeout: float) -> None:
    state = settings.state_dir
    svc_net = ipaddress.ip_network(settings.service_cidr)
    pki = ensure_pki(state / "pki", str(next(svc_net.hosts())))
    if settings.runtime == "containerd":
        from localk8s import images

        _say("building (or reusing) the pod sandbox image")
        pause = images.build(["pause"])["pause"]
        # node credentials are static tokens: written before the API server reads them
        realnode.prepare(settings, pki, pause.ref)
        # the bridge (the node's IP) and its firewall rules exist before the API server listens
        network.setup_bridge(settings)
    write_kubeconfig(
        settings.kubeconfig, settings.api_server, pki.ca_cert, pki.token("admin"), "admin"
    )
    for user, fname in (
        ("system:kube-controller-manager", "kcm.kubeconfig"),
        ("system:kube-scheduler", "scheduler.kubeconfig"),
        ("system:node-agent", "node.kubeconfig"),
    ):
        write_kubeconfig(state / fname, settings.api_server, pki.ca_cert, pki.token(user), user)
    bins = build.bin_dir()
    etcd_url = f"http://127.0.0.1:{settings.etcd_client_port}"
    peer_url = f"http://127.0.0.1:{settings.etcd_peer_port}"
    _say("starting etcd")
    procs.start(
        "etcd",
        [
            "etcd",
            "--name=localk8s",
            f"--data-dir={state / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=localk8s={peer_url}",
            "--log-level=warn",
        ],
    )
    _wait("etcd", lambda: _http_ok(etcd_url + "/health"), 60, procs, ["etcd"])
    _say(f"starting kube-apiserver on {settings.api_server}")
    procs.start(
        "kube-apiserver",
        [
            str(bins / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            *_api_addresses(settings),
            f"--secure-port={settings.api_port}",
            "--insecure-port=0",
            f"--cert-dir={state / 'apiserver'}",
            f"--tls-cert-file={pki.apiserver_cert}",
            f"--tls-private-key-file={pki.apiserver_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--token-auth-file={pki.tokens_csv}",
            "--authorization-mode=Node,RBAC",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={settings.service_cidr}",
            "--enable-priority-and-fairness=false",
            "--allow-privileged=true",
            # Logs and exec go to the node agent's HTTPS endpoint, verified with our CA.
            f"--kubelet-certificate-authority={pki.ca_cert}",
            f"--kubelet-client-certificate={pki.kubelet_client_cert}",
            f"--kubelet-client-key={pki.kubelet_client_key}",
            "--kubelet-preferred-address-types=InternalIP",
            "--profiling=false",
        ],
    )
    _wait("kube-apiserver /readyz", lambda: api_ready(settings), 120, procs, ["kube-apiserver"])
    _say("starting kube-controller-manager and kube-scheduler")
    procs.start(
        "kube-controller-manager",
        [
            str(bins / "kube-controller-manager"),
            f"--kubeconfig={state / 'kcm.kubeconfig'}",
            f"--service-account-private-key-file={pki.sa_key}",
            f"--root-ca-file={pki.ca_cert}",
            f"--cluster-signing-cert-file={pki.ca_cert}",
            f"--cluster-signing-key-file={pki.ca_key}",
            "--leader-elect=false",
            "--controllers=*,-nodeipam,-nodelifecycle",
            "--port=0",
            "--secure-port=0",
            "--profiling=false",
        ],
    )
    procs.start(
        "kube-scheduler",
        [
            str(bins / "kube-scheduler"),
            f"--kubeconfig={state / 'scheduler.kubeconfig'}",
            "--leader-elect=false",
            "--port=0",
            "--secure-port=0",
            "--profiling=false",
        ],
    )
    if settings.runtime == "containerd":
        _start_real_node(settings, procs, timeout)
        return
    _say(f"starting the node agent ({settings.node_name}, pods as local processes)")
    procs.start(
        "node-agent",
        [sys.executable, "-m", "localk8s", "node"],
        env=_python_env(settings.state_dir),
    )
    _wait(
        f"node {settings.node_name} Ready",
        lambda: node_ready(settings),
        timeout,
        procs,
        list(COMPONENTS),
    )


def _python_env(state: Path) -> dict[str, str]:
    """Environment of our own Python components (the state dir, this checkout importable)."""
    env = dict(os.environ, LOCALK8S_STATE=str(state), PYTHONUNBUFFERED="1")
    repo = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = repo + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _start_real_node(settings: Settings, procs: ProcessTable, timeout: float) -> None:
    """containerd, the pause image, kubelet, kube-proxy and the node add-ons."""
    from localk8s import images

    realnode.enable_bridge_netfilter()
    _say("starting containerd")
    procs.start("containerd", realnode.containerd_command(settings))
    names = [*CONTROL_PLANE, "containerd"]
    _wait("containerd", lambda: realnode.containerd_ready(settings), 60, procs, names)
    images.import_into(str(realnode.containerd_socket(settings)), images.build(["pause"])["pause"])
    _say(f"starting kubelet and kube-proxy (node {settings.node_name}, real containers)")
    pki = Pki(settings.state_dir / "pki")
    procs.start("kubelet", realnode.kubelet_command(settings, pki))
    procs.start("kube-proxy", realnode.kube_proxy_command(settings))
    procs.start(
        "node-addons",
        [sys.executable, "-m", "localk8s", "node-addons"],
        env=_python_env(settings.state_dir),
    )
    _wait(
        f"node {settings.node_name} Ready",
        lambda: (
            node_ready(settings) and (settings.node_gpu in ("", "0") or _node_has_gpus(settings))
        ),
        timeout,
        procs,
        list(components(settings)),
    )


def _node_has_gpus(settings: Settings) -> bool:
    try:
        node = api_get(settings, f"/api/v1/nodes/{settings.node_name}")
    except (OSError, KeyError, ValueError):
        return False
    return bool((node.get("status", {}).get("allocatable") or {}).get(realnode.GPU_RESOURCE))


def _api_addresses(settings: Settings) -> list[str]:
    """Where the API server listens and what the ``kubernetes`` Service points at.

    With the agent, only the host talks to the API (loopback; the Service gets no endpoints: a
    loopback address is refused as one). On the containerd node, pods in the cluster use it too
    (the hub runs in a pod): it listens on all addresses, the bridge address becomes the endpoint
    of ``kubernetes.default`` (10.96.0.1:443 through kube-proxy), and a firewall rule of
    ``network.setup_bridge`` drops what comes from other machines.
    """
    if settings.runtime == "containerd":
        return [
            "--bind-address=0.0.0.0",
            f"--advertise-address={settings.bridge_ip}",
            "--endpoint-reconciler-type=lease",
        ]
    return [
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        "--endpoint-reconciler-type=none",
    ]


def _http_ok(url: str) -> bool:
    try:
        with _NO_PROXY.open(url, timeout=2) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def down(settings: Settings) -> None:
    """Stop everything this state dir started; remove leftover pod namespaces and the bridge."""
    with _locked(settings.state_dir):
        _stop_all(settings, ProcessTable(settings.state_dir))
        _say("cluster stopped")


def _stop_all(settings: Settings, procs: ProcessTable, quiet: bool = False) -> None:
    for name in reversed(ALL_COMPONENTS):
        if procs.alive(name) and not quiet:
            _say(f"stopping {name}")
        procs.stop(name, timeout=40 if name in ("node-agent", "containerd") else 15)
    # The agent cleans up after itself; this catches an agent that was killed.
    from localk8s import podruntime

    podruntime.cleanup_leftovers(settings)
    # containerd's shims and mounts outlive it by design
    realnode.cleanup(settings)
    network.teardown(settings)


def status(settings: Settings) -> dict[str, Any]:
    """Machine-readable status (``python -m localk8s status --json``)."""
    procs = ProcessTable(settings.state_dir)
    alive = {name: procs.alive(name) for name in components(settings)}
    ready = all(alive.values()) and api_ready(settings)
    return {
        "running": ready,
        "node_ready": ready and node_ready(settings),
        "runtime": settings.runtime,
        "components": alive,
        "state_dir": str(settings.state_dir),
        "kubeconfig": str(settings.kubeconfig),
        "api_server": settings.api_server,
        "bridge_ip": settings.bridge_ip,
        "pod_cidr": settings.pod_cidr,
        "node_name": settings.node_name,
        "kubectl": str(build.binary("kubectl")),
        "logs_dir": str(settings.state_dir / "logs"),
    }


def kubectl(settings: Settings, args: list[str]) -> int:
    """Run the cached kubectl against this cluster; return its exit code."""
    exe = build.binary("kubectl")
    if not exe.exists():
        raise ClusterError("kubectl not built yet: run python -m localk8s build")
    return subprocess.call([str(exe), f"--kubeconfig={settings.kubeconfig}", *args])
