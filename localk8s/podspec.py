"""PURE translation of a pod spec into what the node agent runs: environment, command line, mounts,
and the bubblewrap arguments that put volumes at their mountPaths without touching the host.

No I/O except through the ``HostFs`` view passed in, so everything here is unit-tested with a fake
filesystem.
"""

from __future__ import annotations

import base64
import os
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from primehub_spawner.quantities import parse_quantity

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class PodSpecError(ValueError):
    """The pod asks for something the node agent cannot run (message says what)."""


# ---------------------------------------------------------------------------------------------
# Environment


_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: defined refs are replaced, ``$$`` escapes, others stay."""

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _VAR_REF.sub(repl, value)


def field_ref(pod: Mapping[str, Any], path: str, pod_ip: str, node_name: str) -> str:
    """Value of a downward-API ``fieldRef.fieldPath`` for ``pod``."""
    meta = pod.get("metadata", {})
    spec = pod.get("spec", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName") or node_name,
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip,
        "status.hostIP": "127.0.0.1",
    }
    if path in simple:
        return simple[path]
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if match:
        return (meta.get(match.group(1)) or {}).get(match.group(2), "")
    if path in ("metadata.labels", "metadata.annotations"):
        items = (meta.get(path.split(".")[1]) or {}).items()
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items))
    raise PodSpecError(f"unsupported fieldRef.fieldPath {path!r}")


def resource_ref(container: Mapping[str, Any], ref: Mapping[str, Any], node_alloc: Mapping) -> str:
    """Value of a ``resourceFieldRef`` (limits default to the node's allocatable, as kubelet)."""
    res = ref.get("resource", "")
    kind, _, name = res.partition(".")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(name)
    if raw is None and kind == "limits":
        raw = node_alloc.get(name)
    if raw is None:
        return "0"
    divisor = parse_quantity(ref.get("divisor") or 1)
    value = parse_quantity(raw) / divisor
    return str(int(-(-value // 1)))  # kubelet rounds up


@dataclass
class Lookups:
    """ConfigMaps and Secrets the pod refers to, fetched by the caller: name -> data (decoded)."""

    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)


def decode_secret(secret: Mapping[str, Any]) -> dict[str, str]:
    """Secret ``data`` (base64) plus ``stringData`` as text."""
    out = {
        k: base64.b64decode(v).decode(errors="replace")
        for k, v in (secret.get("data") or {}).items()
    }
    out.update(secret.get("stringData") or {})
    return out


def referenced_objects(pod: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """Names of (configMaps, secrets) that env, envFrom and volumes of ``pod`` refer to."""
    cms: set[str] = set()
    secrets: set[str] = set()
    spec = pod.get("spec", {})
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for src in c.get("envFrom") or []:
            if "configMapRef" in src:
                cms.add(src["configMapRef"]["name"])
            if "secretRef" in src:
                secrets.add(src["secretRef"]["name"])
        for var in c.get("env") or []:
            vf = var.get("valueFrom") or {}
            if "configMapKeyRef" in vf:
                cms.add(vf["configMapKeyRef"]["name"])
            if "secretKeyRef" in vf:
                secrets.add(vf["secretKeyRef"]["name"])
    for vol in spec.get("volumes") or []:
        if "configMap" in vol:
            cms.add(vol["configMap"]["name"])
        if "secret" in vol:
            secrets.add(vol["secret"]["secretName"])
        for src in (vol.get("projected") or {}).get("sources") or []:
            if "configMap" in src:
                cms.add(src["configMap"]["name"])
            if "secret" in src:
                secrets.add(src["secret"]["name"])
    return cms, secrets


def container_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    lookups: Lookups,
    pod_ip: str,
    node_name: str,
    node_alloc: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The container's environment as Kubernetes defines it (envFrom, then env in order)."""
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        if "configMapRef" in src:
            ref = src["configMapRef"]
            data = lookups.config_maps.get(ref["name"])
            if data is None and not ref.get("optional"):
                raise PodSpecError(f'configmap "{ref["name"]}" not found')
        else:
            ref = src.get("secretRef") or {}
            data = lookups.secrets.get(ref.get("name", ""))
            if data is None and not ref.get("optional"):
                raise PodSpecError(f'secret "{ref.get("name")}" not found')
        for key, value in (data or {}).items():
            env[prefix + key] = value
    for var in container.get("env") or []:
        name = var["name"]
        vf = var.get("valueFrom")
        if vf is None:
            env[name] = expand(var.get("value", ""), env)
        elif "fieldRef" in vf:
            env[name] = field_ref(pod, vf["fieldRef"]["fieldPath"], pod_ip, node_name)
        elif "resourceFieldRef" in vf:
            env[name] = resource_ref(container, vf["resourceFieldRef"], node_alloc or {})
        elif "configMapKeyRef" in vf or "secretKeyRef" in vf:
            kind = "configMapKeyRef" if "configMapKeyRef" in vf else "secretKeyRef"
            ref = vf[kind]
            store = lookups.config_maps if kind == "configMapKeyRef" else lookups.secrets
            data = store.get(ref["name"])
            label = "configmap" if kind == "configMapKeyRef" else "secret"
            if data is None or ref["key"] not in data:
                if ref.get("optional"):
                    continue
                raise PodSpecError(f'{label} "{ref["name"]}" has no key "{ref["key"]}"')
            env[name] = data[ref["key"]]
        else:
            raise PodSpecError(f"env {name}: unsupported valueFrom {sorted(vf)}")
    return env


def process_env(
    env: Mapping[str, str], path_prefix: Iterable[str], home: str, hostname: str
) -> dict[str, str]:
    """The process environment: pod env plus PATH (project venv first), HOME and HOSTNAME."""
    out = dict(env)
    prefix = [p for p in path_prefix if p]
    out["PATH"] = ":".join([*prefix, out.get("PATH") or DEFAULT_PATH])
    out.setdefault("HOME", home)
    out.setdefault("HOSTNAME", hostname)
    return out


def command_line(container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """``command`` + ``args`` with ``$(VAR)`` expanded (no image entrypoint exists here)."""
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    argv = [expand(str(a), env) for a in command + args]
    if not argv:
        raise PodSpecError(
            f"container {container.get('name')!r} has no command: images are not pulled by "
            "localk8s, so every container needs command/args"
        )
    return argv


# ---------------------------------------------------------------------------------------------
# Volumes and the sandbox


@dataclass(frozen=True)
class Mount:
    """A host path made visible at ``target`` inside the container."""

    source: str
    target: str
    read_only: bool = False


class HostFs(Protocol):
    """The few questions about the host filesystem the sandbox layout needs."""

    def kind(self, path: str) -> str:
        """'dir', 'file', 'link' (symlink, not followed), 'other', or 'missing'."""

    def listdir(self, path: str) -> list[str]:
        """Entries of a directory."""

    def readlink(self, path: str) -> str:
        """Target of a symlink."""


class RealFs:
    """HostFs backed by the real filesystem."""

    def kind(self, path: str) -> str:  # noqa: D102
        if os.path.islink(path):
            return "link"
        if os.path.isdir(path):
            return "dir"
        if os.path.exists(path):
            return "file" if os.path.isfile(path) else "other"
        return "missing"

    def listdir(self, path: str) -> list[str]:  # noqa: D102
        return sorted(os.listdir(path))

    def readlink(self, path: str) -> str:  # noqa: D102
        return os.readlink(path)


def resolve(fs: HostFs, path: str) -> str:
    """Resolve symlinks in the existing part of ``path`` (missing tail kept as is)."""
    parts = [p for p in posixpath.normpath(path).split("/") if p]
    current = "/"
    for i, part in enumerate(parts):
        candidate = posixpath.join(current, part)
        kind = fs.kind(candidate)
        hops = 0
        while kind == "link" and hops < 40:
            target = fs.readlink(candidate)
            candidate = posixpath.normpath(posixpath.join(posixpath.dirname(candidate), target))
            candidate = resolve(fs, candidate) if candidate != path else candidate
            kind = fs.kind(candidate)
            hops += 1
        if kind == "missing":
            return posixpath.join(candidate, *parts[i + 1 :])
        current = candidate
    return current


def _ancestors(path: str) -> list[str]:
    out = []
    while path != "/":
        path = posixpath.dirname(path)
        out.append(path)
    return out


def sandbox_args(
    mounts: list[Mount],
    fs: HostFs,
    *,
    tmp_dir: str,
    hostname: str,
    workdir: str | None = None,
    host_paths: Sequence[str] = (),
) -> list[str]:
    """bubblewrap arguments: the host's filesystem, plus ``mounts`` at their targets.

    Each container gets a private ``/tmp`` (``tmp_dir``). ``host_paths`` are host directories the
    containers run programs from (the project and its venv): one under ``/tmp`` (a clone in
    ``/tmp/...``) would be hidden by that private ``/tmp``, so it is bound back at its own path.

    A mount target that does not exist on the host would be created ON THE HOST by a plain bind
    (bwrap makes missing mount points). Instead, the deepest existing ancestor directory of such a
    target is replaced by a tmpfs into which its host entries are bound back one by one, so the
    container sees the host's content plus the new mount point and the host is never modified.
    """
    resolved = [Mount(m.source, resolve(fs, m.target), m.read_only) for m in mounts]
    resolved.append(Mount(tmp_dir, "/tmp"))
    for path in host_paths:
        if path.startswith("/tmp/") and fs.kind(path) == "dir":
            resolved.append(Mount(path, path))
    targets = [m.target for m in resolved]
    if workdir:
        targets.append(resolve(fs, workdir))
    synth: set[str] = set()
    for target in targets:
        if fs.kind(target) != "missing":
            continue
        anc = next(a for a in _ancestors(target) if fs.kind(a) != "missing")
        if fs.kind(anc) != "dir":
            raise PodSpecError(f"mount path {target}: {anc} is not a directory")
        synth.add(anc)
    # Close the set: every directory between two synthesized ones is synthesized too.
    closure = set(synth)
    for d in synth:
        for other in synth:
            if other in _ancestors(d):
                closure.update(a for a in _ancestors(d) if other in _ancestors(a))
    synth = closure

    args: list[str] = []

    def emit_children(directory: str) -> None:
        for entry in fs.listdir(directory):
            path = posixpath.join(directory, entry)
            if directory == "/" and entry in ("proc", "dev", "tmp"):
                continue
            kind = fs.kind(path)
            if path in synth:
                args.extend(["--dir", path])
                emit_children(path)
            elif kind == "link":
                args.extend(["--symlink", fs.readlink(path), path])
            elif kind in ("dir", "file", "other"):
                args.extend(["--dev-bind", path, path])

    if "/" in synth:
        emit_children("/")
        args.extend(["--dev-bind", "/dev", "/dev"])
    else:
        args.extend(["--dev-bind", "/", "/"])
        for d in sorted(synth, key=lambda p: p.count("/")):
            if any(a in synth for a in _ancestors(d)):
                continue
            args.extend(["--tmpfs", d])
            emit_children(d)
    args.extend(["--proc", "/proc"])
    for m in sorted(resolved, key=lambda m: (m.target.count("/"), m.target)):
        args.extend(["--ro-bind" if m.read_only else "--bind", m.source, m.target])
    args.extend(["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", hostname])
    args.append("--die-with-parent")
    if workdir:
        # Created if missing (inside a tmpfs or volume, never on the host), like a runtime does.
        args.extend(["--dir", workdir, "--chdir", workdir])
    return args


def volume_mounts(container: Mapping[str, Any], volume_paths: Mapping[str, str]) -> list[Mount]:
    """The container's volumeMounts as host Mounts (``volume_paths``: volume name -> host path)."""
    mounts = []
    for vm in container.get("volumeMounts") or []:
        name = vm["name"]
        if name not in volume_paths:
            raise PodSpecError(f"volumeMount {name!r}: no volume with that name in the pod")
        source = volume_paths[name]
        sub = vm.get("subPath") or ""
        if sub:
            if sub.startswith("/") or ".." in sub.split("/"):
                raise PodSpecError(f"volumeMount {name!r}: subPath {sub!r} must stay inside")
            source = posixpath.join(source, sub)
        mounts.append(Mount(source, vm["mountPath"], bool(vm.get("readOnly"))))
    return mounts
