"""The real node of ``up --runtime containerd``: containerd, a kubelet and kube-proxy.

Containers are real here: images come from containerd's ``k8s.io`` namespace (imported from the
OCI tars of ``localk8s.images``, never pulled from a registry), memory and CPU limits are cgroup
limits enforced by runc, pods get their network from the CNI ``bridge`` plugin on the same bridge
and pod CIDR the node agent uses, and Services work through kube-proxy's iptables rules.

Everything is private to the state dir: containerd's root, state and socket, the kubelet's root
dir, the CNI configuration and IPAM data, and the pods' network namespaces. ``cleanup`` stops
whatever containers are left and unmounts what containerd and the kubelet mounted there.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from localk8s import build
from localk8s.pki import Pki, ensure_node_cert, ensure_token, write_kubeconfig
from localk8s.settings import Settings

#: Start order (stop order is the reverse).
COMPONENTS = ("containerd", "kubelet", "kube-proxy", "node-addons")
CNI_BIN_DIR = "/usr/lib/cni"  # where Debian's containernetworking-plugins installs them
CNI_NETWORK = "localk8s"
GPU_RESOURCE = "nvidia.com/gpu"  # fake GPUs the node advertises (node_addons)
# kubelet's own ports, besides its API port (settings.kubelet_port); loopback only
PROXY_HEALTHZ_PORT = 16256
PROXY_METRICS_PORT = 16249


class RealNodeError(RuntimeError):
    """The containerd node cannot start; the message says what is missing."""


def node_dir(settings: Settings) -> Path:
    """Root of everything the real node keeps (``<state>/node``)."""
    return settings.state_dir / "node"


def containerd_socket(settings: Settings) -> Path:
    """The private containerd socket (``ctr -a``)."""
    return node_dir(settings) / "containerd.sock"


def check_tools() -> None:
    """Raise RealNodeError naming the Debian package of a missing tool."""
    for tool, package in (
        ("containerd", "containerd"),
        ("runc", "runc"),
        ("ctr", "containerd"),
        ("iptables", "iptables"),
    ):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            raise RealNodeError(f"'{tool}' not found: install the Debian package {package}")
    if not Path(CNI_BIN_DIR, "bridge").exists():
        raise RealNodeError(
            f"{CNI_BIN_DIR}/bridge not found: install the Debian package "
            "containernetworking-plugins"
        )


def containerd_config(settings: Settings, sandbox_image: str) -> str:
    """containerd 1.6 config (TOML): private paths, CRI with overlayfs and our CNI config."""
    d = node_dir(settings)
    return f"""version = 2
root = "{d / "containerd" / "root"}"
state = "{d / "containerd" / "state"}"
oom_score = 0

[grpc]
  address = "{containerd_socket(settings)}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  # the machine is itself a container: raising a process's OOM priority to -998 is refused
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{d / "cni"}"
"""


def cni_config(settings: Settings) -> dict:
    """A bridge + host-local + portmap conflist on the cluster's bridge and pod CIDR."""
    return {
        "cniVersion": "0.4.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": settings.bridge,
                "isGateway": True,
                # pods talk to the host and each other only; no masquerading to the outside
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": settings.pod_cidr, "gateway": settings.bridge_ip}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(node_dir(settings) / "cni-ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def prepare(settings: Settings, pki: Pki, sandbox_image: str) -> None:
    """Write configs, credentials and the kubelet's serving certificate (before the API starts)."""
    d = node_dir(settings)
    for sub in ("containerd", "cni", "cni-ipam", "kubelet"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "containerd.toml").write_text(containerd_config(settings, sandbox_image))
    (d / "cni" / "10-localk8s.conflist").write_text(json.dumps(cni_config(settings), indent=2))
    node_user = f"system:node:{settings.node_name}"
    # least privilege: the Node authorizer lets a node read only what its own pods use
    node_token = ensure_token(pki, node_user, "node-" + settings.node_name, "system:nodes")
    proxy_token = ensure_token(pki, "system:kube-proxy", "kube-proxy", "system:node-proxier")
    write_kubeconfig(
        d / "kubelet.kubeconfig", settings.api_server, pki.ca_cert, node_token, node_user
    )
    write_kubeconfig(
        d / "kube-proxy.kubeconfig",
        settings.api_server,
        pki.ca_cert,
        proxy_token,
        "system:kube-proxy",
    )
    ensure_node_cert(pki, settings.node_name, (settings.bridge_ip, "127.0.0.1"))
    # resolv.conf for pods of dnsPolicy Default (and ClusterFirst, there is no cluster DNS)
    host = Path("/etc/resolv.conf")
    (d / "resolv.conf").write_text(host.read_text() if host.exists() else "")


def containerd_command(settings: Settings) -> list[str]:
    """containerd with the private config."""
    return ["containerd", "--config", str(node_dir(settings) / "containerd.toml")]


def kubelet_command(settings: Settings, pki: Pki) -> list[str]:
    """kubelet flags for a node inside a container (see docs/localk8s.md for why each)."""
    d = node_dir(settings)
    labels = ",".join(f"{k}={v}" for k, v in settings.node_labels.items())
    return [
        str(build.binary("kubelet")),
        f"--kubeconfig={d / 'kubelet.kubeconfig'}",
        "--container-runtime=remote",
        f"--container-runtime-endpoint=unix://{containerd_socket(settings)}",
        f"--root-dir={d / 'kubelet'}",
        f"--cert-dir={d / 'kubelet' / 'pki'}",
        f"--hostname-override={settings.node_name}",
        f"--node-ip={settings.bridge_ip}",
        f"--address={settings.bridge_ip}",
        f"--port={settings.kubelet_port}",
        f"--tls-cert-file={pki.node_cert}",
        f"--tls-private-key-file={pki.node_key}",
        # only the API server (client certificate of our CA) may use the kubelet API
        "--anonymous-auth=false",
        f"--client-ca-file={pki.ca_cert}",
        "--read-only-port=0",
        "--healthz-port=0",
        f"--node-labels={labels}",
        f"--max-pods={settings.node_pods}",
        f"--resolv-conf={d / 'resolv.conf'}",
        # cgroup v1 through cgroupfs, as kind's node image does inside a container
        "--cgroup-driver=cgroupfs",
        "--cgroups-per-qos=false",
        "--enforce-node-allocatable=",
        "--fail-swap-on=false",
        # no evictions or image garbage collection on a developer's disk
        "--eviction-hard=",
        "--image-gc-high-threshold=100",
        "--image-gc-low-threshold=99",
        "--serialize-image-pulls=false",
        # mounted ConfigMaps (a catalog edited in place) reach pods within seconds, not a minute
        "--sync-frequency=10s",
        # kube-proxy makes the chains it needs and removes them on `down`; the kubelet's own
        # (KUBE-FIREWALL, ...) would stay in the host's firewall
        "--make-iptables-util-chains=false",
        "--v=1",
    ]


def kube_proxy_command(settings: Settings) -> list[str]:
    """kube-proxy in iptables mode, without touching conntrack sysctls (read-only here)."""
    d = node_dir(settings)
    return [
        str(build.binary("kube-proxy")),
        f"--kubeconfig={d / 'kube-proxy.kubeconfig'}",
        f"--hostname-override={settings.node_name}",
        "--proxy-mode=iptables",
        f"--cluster-cidr={settings.pod_cidr}",
        "--conntrack-max-per-core=0",
        "--conntrack-tcp-timeout-established=0",
        "--conntrack-tcp-timeout-close-wait=0",
        f"--healthz-bind-address=127.0.0.1:{PROXY_HEALTHZ_PORT}",
        f"--metrics-bind-address=127.0.0.1:{PROXY_METRICS_PORT}",
        "--v=1",
    ]


def enable_bridge_netfilter() -> None:
    """Let iptables see bridged traffic (a pod reaching a Service backed by a pod on the bridge)."""
    for key in ("net/bridge/bridge-nf-call-iptables", "net/ipv4/ip_forward"):
        path = Path("/proc/sys") / key
        try:
            if path.read_text().strip() != "1":
                path.write_text("1")
        except OSError:
            pass  # not fatal: only pod -> Service -> pod on the same bridge needs it


def ctr(settings: Settings, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``ctr`` against the private containerd, namespace k8s.io (the kubelet's)."""
    return subprocess.run(
        ["ctr", "-a", str(containerd_socket(settings)), "-n", "k8s.io", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def containerd_ready(settings: Settings) -> bool:
    """True once containerd answers on its socket."""
    if not containerd_socket(settings).exists():
        return False
    return ctr(settings, "version", timeout=10).returncode == 0


def cleanup(settings: Settings) -> None:
    """After the components stopped: kill leftover containers, unmount, remove bridge state.

    containerd's shims outlive containerd by design (containers survive a restart of it), so on
    ``down`` they are killed here by their socket address, and every mount under the node dir
    (container root file systems, volumes, network namespaces) is unmounted, deepest first.
    """
    d = node_dir(settings)
    if not d.exists():
        return
    sock = str(containerd_socket(settings))
    for pid in _shim_pids(sock):
        _kill_tree(pid)
    for mount in sorted(_mounts_under(d), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True)
    # kube-proxy removes its own iptables chains
    if build.binary("kube-proxy").exists():
        subprocess.run(
            [str(build.binary("kube-proxy")), "--cleanup", "--proxy-mode=iptables"],
            capture_output=True,
        )
    # the next start allocates pod IPs from scratch (the old pods' addresses are gone)
    subprocess.run(["rm", "-rf", str(d / "cni-ipam")], capture_output=True)


def _shim_pids(socket_address: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            argv
            and argv[0].endswith(b"containerd-shim-runc-v2")
            and socket_address.encode() in argv
        ):
            pids.append(int(proc.name))
    return pids


def _children(pid: int) -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(proc.name))
    return out


def _kill_tree(pid: int) -> None:
    tree = [pid]
    i = 0
    while i < len(tree):
        tree.extend(_children(tree[i]))
        i += 1
    for p in reversed(tree):
        try:
            os.kill(p, 9)
        except ProcessLookupError:
            pass
    time.sleep(0.2)


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve()) + "/"
    out = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        target = line.split()[1].replace("\\040", " ")
        if target.startswith(prefix):
            out.append(target)
    return out
