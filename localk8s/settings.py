"""Cluster settings: where state lives, which ports and addresses are used, the node's capacity.

Values come from environment variables (``LOCALK8S_*``) or command-line options of ``up``; ``up``
writes them to ``<state>/settings.json`` so the node agent and ``status`` read the same values.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_state_dir() -> Path:
    """``$LOCALK8S_STATE`` or ``.state/localk8s`` in the repository root (git-ignored)."""
    return Path(os.environ.get("LOCALK8S_STATE") or REPO_ROOT / ".state" / "localk8s").resolve()


def _parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"node label {item!r} must look like key=value")
        labels[key] = value
    return labels


@dataclass
class Settings:
    """Everything that identifies one local cluster (one per machine: ports, bridge)."""

    state_dir: Path = field(default_factory=default_state_dir)
    etcd_client_port: int = 12379
    etcd_peer_port: int = 12380
    api_port: int = 16443
    kubelet_port: int = 16250
    node_name: str = "local-node"
    node_cpu: str = "16"
    node_memory: str = "64Gi"
    node_pods: str = "110"
    node_gpu: str = "2"
    node_labels: dict[str, str] = field(default_factory=lambda: {"gpu": "true"})
    pod_cidr: str = "10.244.0.0/24"
    service_cidr: str = "10.96.0.0/16"
    bridge: str = "lk8s0"
    #: "agent": pods as local processes (no images); "containerd": a real kubelet + containerd.
    runtime: str = "agent"
    # Directories prepended to PATH of every container (the project venv's bin by default) so
    # commands such as jupyterhub-singleuser resolve to the project's environment.
    container_path_prefix: list[str] = field(default_factory=list)

    @classmethod
    def from_env(cls) -> Settings:
        """Defaults overridden by ``LOCALK8S_*`` environment variables."""
        s = cls()
        env = os.environ
        s.node_name = env.get("LOCALK8S_NODE_NAME", s.node_name)
        s.node_cpu = env.get("LOCALK8S_NODE_CPU", s.node_cpu)
        s.node_memory = env.get("LOCALK8S_NODE_MEMORY", s.node_memory)
        s.node_pods = env.get("LOCALK8S_NODE_PODS", s.node_pods)
        s.node_gpu = env.get("LOCALK8S_NODE_GPU", s.node_gpu)
        if "LOCALK8S_NODE_LABELS" in env:
            s.node_labels = _parse_labels(env["LOCALK8S_NODE_LABELS"])
        s.pod_cidr = env.get("LOCALK8S_POD_CIDR", s.pod_cidr)
        s.api_port = int(env.get("LOCALK8S_API_PORT", s.api_port))
        s.runtime = env.get("LOCALK8S_RUNTIME", s.runtime)
        return s

    @property
    def bridge_ip(self) -> str:
        """Host address on the pod bridge (first of the pod CIDR); pods reach the host here."""
        return str(next(ipaddress.ip_network(self.pod_cidr).hosts()))

    @property
    def api_server(self) -> str:
        """URL of the API server."""
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig path."""
        return self.state_dir / "kubeconfig"

    def to_json(self) -> str:
        """Serialise for ``settings.json``."""
        data = asdict(self)
        data["state_dir"] = str(self.state_dir)
        return json.dumps(data, indent=2)

    def save(self) -> None:
        """Write ``<state>/settings.json``."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "settings.json").write_text(self.to_json())

    @classmethod
    def load(cls, state_dir: Path) -> Settings:
        """Read ``<state>/settings.json`` written by ``up``."""
        data = json.loads((state_dir / "settings.json").read_text())
        data["state_dir"] = Path(data["state_dir"])
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


RUNTIMES = ("agent", "containerd")


def check_runtime(name: str) -> str:
    """``name`` if it is a known runtime, else ValueError saying which ones exist."""
    if name not in RUNTIMES:
        raise ValueError(f"runtime {name!r} is unknown: use one of {', '.join(RUNTIMES)}")
    return name


def parse_labels(text: str) -> dict[str, str]:
    """Parse ``a=b,c=d`` into a dict (raises ValueError naming the bad item)."""
    return _parse_labels(text)
