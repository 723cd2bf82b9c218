"""Pod networking: a host bridge plus one network namespace and veth pair per pod.

The host owns the first address of the pod CIDR on the bridge, so pods reach the host (JupyterHub)
there and the host reaches every pod at its pod IP. Each namespace has its own ``lo``, so
``localhost`` is private to the pod, as in Kubernetes.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess

from localk8s.settings import Settings

NETNS_PREFIX = "lk8s-"
VETH_PREFIX = "lkv"


class NetworkError(RuntimeError):
    """An ``ip``/``iptables`` command failed."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def used_networks() -> list[tuple[str, str]]:
    """(device, CIDR) of every IPv4 address and route on the machine."""
    out: list[tuple[str, str]] = []
    for link in json.loads(_ip("-j", "-4", "addr", "show").stdout or "[]"):
        for addr in link.get("addr_info", []):
            out.append((link["ifname"], f"{addr['local']}/{addr['prefixlen']}"))
    for route in json.loads(_ip("-j", "-4", "route", "show").stdout or "[]"):
        if route.get("dst") and route["dst"] != "default":
            out.append((route.get("dev", "?"), route["dst"]))
    return out


def _iptables_rules(settings: Settings) -> list[list[str]]:
    br = settings.bridge
    # On the containerd node the API server listens on all addresses (pods reach it through the
    # bridge): other machines must not.
    api_guard = [
        "INPUT", "-p", "tcp", "--dport", str(settings.api_port), "!", "-i", br,
        "-m", "addrtype", "!", "--src-type", "LOCAL", "-j", "DROP",
    ]  # fmt: skip
    return [
        ["INPUT", "-i", br, "-j", "ACCEPT"],
        ["FORWARD", "-i", br, "-o", br, "-j", "ACCEPT"],
        api_guard,
    ]


def _iptables(op: str, rule: list[str]) -> bool:
    try:
        proc = subprocess.run(["iptables", "-w", op, *rule], capture_output=True, text=True)
    except FileNotFoundError:
        return False
    return proc.returncode == 0


def setup_bridge(settings: Settings) -> None:
    """Create the bridge with the host address (idempotent) and let bridge traffic through."""
    net = ipaddress.ip_network(settings.pod_cidr)
    if _ip("link", "show", settings.bridge, check=False).returncode != 0:
        _ip("link", "add", settings.bridge, "type", "bridge")
    addrs = _ip("-j", "-4", "addr", "show", "dev", settings.bridge).stdout
    want = f"{settings.bridge_ip}/{net.prefixlen}"
    have = [
        f"{a['local']}/{a['prefixlen']}"
        for link in json.loads(addrs or "[]")
        for a in link.get("addr_info", [])
    ]
    if want not in have:
        _ip("addr", "add", want, "dev", settings.bridge)
    _ip("link", "set", settings.bridge, "up")
    # Hosts with a restrictive firewall (e.g. FORWARD DROP) must still pass host<->pod traffic.
    for rule in _iptables_rules(settings):
        if not _iptables("-C", rule):
            _iptables("-I", rule)


def teardown(settings: Settings) -> None:
    """Remove every pod namespace, veth and the bridge (used by ``down``)."""
    for ns in list_pod_netns():
        delete_pod_netns(ns)
    for rule in _iptables_rules(settings):
        while _iptables("-C", rule):
            if not _iptables("-D", rule):
                break
    _ip("link", "del", settings.bridge, check=False)


def list_pod_netns() -> list[str]:
    """Names of the namespaces made by the agent."""
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(NETNS_PREFIX)]


def netns_name(pod_uid: str) -> str:
    """Namespace name of a pod (from its UID, stable across agent restarts)."""
    return NETNS_PREFIX + pod_uid.replace("-", "")[:10]


def create_pod_netns(settings: Settings, pod_uid: str, ip: str) -> str:
    """Create the pod's namespace with ``eth0`` = ``ip`` on the bridge and ``lo`` up."""
    ns = netns_name(pod_uid)
    veth = VETH_PREFIX + pod_uid.replace("-", "")[:10]
    prefix = ipaddress.ip_network(settings.pod_cidr).prefixlen
    delete_pod_netns(ns)
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("link", "set", veth, "master", settings.bridge, "up")
        _ip("-n", ns, "addr", "add", f"{ip}/{prefix}", "dev", "eth0")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "route", "add", "default", "via", settings.bridge_ip)
    except NetworkError:
        delete_pod_netns(ns)
        raise
    return ns


def delete_pod_netns(ns: str) -> None:
    """Delete a pod namespace and its host-side veth (no error if already gone)."""
    veth = VETH_PREFIX + ns[len(NETNS_PREFIX) :]
    _ip("link", "del", veth, check=False)
    _ip("netns", "del", ns, check=False)
