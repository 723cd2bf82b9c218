"""Unit tests of the pure pod-spec translation (no cluster, fake filesystem)."""

from __future__ import annotations

import pytest

from localk8s import podspec
from localk8s.podspec import Lookups, Mount, PodSpecError


class FakeFs:
    """A host filesystem described by a dict: path -> 'dir' | 'file' | ('link', target)."""

    def __init__(self, entries: dict[str, object]) -> None:
        self.entries = {"/": "dir", **entries}

    def kind(self, path: str) -> str:
        value = self.entries.get(path, "missing")
        return "link" if isinstance(value, tuple) else str(value)

    def listdir(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return sorted(
            p[len(prefix) :]
            for p in self.entries
            if p.startswith(prefix) and "/" not in p[len(prefix) :] and p != "/"
        )

    def readlink(self, path: str) -> str:
        return self.entries[path][1]  # type: ignore[index]


HOST = FakeFs(
    {
        "/usr": "dir",
        "/bin": ("link", "usr/bin"),
        "/etc": "dir",
        "/home": "dir",
        "/home/other": "dir",
        "/var": "dir",
        "/var/run": ("link", "/run"),
        "/run": "dir",
        "/run/lock": "dir",
        "/tmp": "dir",
        "/proc": "dir",
        "/dev": "dir",
        "/srv": "dir",
    }
)


def _pairs(args: list[str], flag: str) -> list[tuple[str, str]]:
    return [(args[i + 1], args[i + 2]) for i, a in enumerate(args) if a == flag]


def test_expand_follows_kubernetes_rules() -> None:
    env = {"A": "1", "B": "x"}
    assert podspec.expand("$(A)-$(B)", env) == "1-x"
    assert podspec.expand("$(MISSING) stays", env) == "$(MISSING) stays"
    assert podspec.expand("$$(A) escaped", env) == "$(A) escaped"
    assert podspec.expand("$HOME untouched", env) == "$HOME untouched"


def test_container_env_order_field_refs_and_lookups() -> None:
    pod = {"metadata": {"name": "p1", "namespace": "ns1", "labels": {"app": "x"}}, "spec": {}}
    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
        "env": [
            {"name": "LATER", "value": "$(FIRST)"},
            {"name": "FIRST", "value": "one"},
            {"name": "REF", "value": "$(FIRST)/$(CM_k)"},
            {"name": "EMPTY"},
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
        ],
    }
    lookups = Lookups(config_maps={"cm": {"k": "v"}}, secrets={"s": {"pw": "hunter2"}})
    env = podspec.container_env(pod, container, lookups, "10.244.0.9", "node")
    assert env == {
        "CM_k": "v",
        "LATER": "$(FIRST)",
        "FIRST": "one",
        "REF": "one/v",
        "EMPTY": "",
        "NAME": "p1",
        "NS": "ns1",
        "IP": "10.244.0.9",
        "APP": "x",
        "PW": "hunter2",
    }


def test_missing_secret_key_is_a_clear_error_unless_optional() -> None:
    pod = {"metadata": {"name": "p"}, "spec": {}}
    ref = {"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "nope"}}}
    with pytest.raises(PodSpecError, match='secret "s" has no key "nope"'):
        podspec.container_env(pod, {"env": [ref]}, Lookups(secrets={"s": {}}), "", "n")
    ref["valueFrom"]["secretKeyRef"]["optional"] = True
    assert podspec.container_env(pod, {"env": [ref]}, Lookups(), "", "n") == {}


def test_resource_field_ref_rounds_up_and_falls_back_to_node() -> None:
    c = {"resources": {"limits": {"cpu": "1500m"}, "requests": {"memory": "1Gi"}}}
    assert podspec.resource_ref(c, {"resource": "limits.cpu"}, {}) == "2"
    assert podspec.resource_ref(c, {"resource": "requests.memory", "divisor": "1Mi"}, {}) == "1024"
    assert podspec.resource_ref(c, {"resource": "limits.memory"}, {"memory": "2Gi"}) == str(2**31)


def test_process_env_puts_project_path_first_and_defaults_home() -> None:
    env = podspec.process_env({"A": "1"}, ["/venv/bin"], "/pods/x/home", "p")
    assert env["PATH"].startswith("/venv/bin:") and env["PATH"].endswith("/usr/bin:/sbin:/bin")
    assert env["HOME"] == "/pods/x/home" and env["HOSTNAME"] == "p"
    assert podspec.process_env({"HOME": "/home/jovyan"}, [], "/x", "p")["HOME"] == "/home/jovyan"


def test_command_line_expands_and_requires_a_command() -> None:
    c = {"name": "c", "command": ["echo", "$(A)"], "args": ["$(B)", "$$(A)"]}
    assert podspec.command_line(c, {"A": "a", "B": "b"}) == ["echo", "a", "b", "$(A)"]
    with pytest.raises(PodSpecError, match="no command"):
        podspec.command_line({"name": "c", "image": "x"}, {})


def test_sandbox_binds_existing_target_directly() -> None:
    args = podspec.sandbox_args([Mount("/vol/a", "/srv", True)], HOST, tmp_dir="/t", hostname="h")
    assert args[:3] == ["--dev-bind", "/", "/"]
    assert ("/vol/a", "/srv") in _pairs(args, "--ro-bind")
    assert ("/t", "/tmp") in _pairs(args, "--bind")
    assert "--tmpfs" not in args
    assert args[args.index("--hostname") + 1] == "h"
    assert "--chdir" not in args


def test_sandbox_never_creates_mount_points_on_the_host() -> None:
    """A missing target under an existing dir: tmpfs over that dir, host entries bound back."""
    args = podspec.sandbox_args(
        [Mount("/vol/home", "/home/jovyan/work")], HOST, tmp_dir="/t", hostname="h"
    )
    assert args[args.index("--tmpfs") + 1] == "/home"
    assert ("/home/other", "/home/other") in _pairs(args, "--dev-bind")
    assert ("/vol/home", "/home/jovyan/work") in _pairs(args, "--bind")
    # Order matters: the tmpfs comes before the bind into it.
    assert args.index("--tmpfs") < args.index("/home/jovyan/work")


def test_sandbox_top_level_target_rebuilds_root_from_host_entries() -> None:
    args = podspec.sandbox_args(
        [Mount("/vol/ds", "/datasets/mnist", True)], HOST, tmp_dir="/t", hostname="h"
    )
    assert ["--dev-bind", "/", "/"] != args[:3]
    binds = _pairs(args, "--dev-bind")
    assert ("/usr", "/usr") in binds and ("/etc", "/etc") in binds and ("/dev", "/dev") in binds
    assert ("usr/bin", "/bin") in _pairs(args, "--symlink")
    assert ("/proc", "/proc") not in binds
    assert ("/vol/ds", "/datasets/mnist") in _pairs(args, "--ro-bind")


def test_sandbox_resolves_symlinked_parents() -> None:
    sa = "/var/run/secrets/kubernetes.io/serviceaccount"
    args = podspec.sandbox_args([Mount("/s", sa, True)], HOST, tmp_dir="/t", hostname="h")
    assert args[args.index("--tmpfs") + 1] == "/run"
    assert ("/run/lock", "/run/lock") in _pairs(args, "--dev-bind")
    assert ("/s", "/run/secrets/kubernetes.io/serviceaccount") in _pairs(args, "--ro-bind")


def test_sandbox_nested_new_dirs_are_synthesized_once() -> None:
    fs = FakeFs({**HOST.entries, "/home/other/deep": "dir"})
    args = podspec.sandbox_args(
        [Mount("/a", "/home/new/x"), Mount("/b", "/home/other/deep/y/z")],
        fs,
        tmp_dir="/t",
        hostname="h",
    )
    tmpfs = [args[i + 1] for i, a in enumerate(args) if a == "--tmpfs"]
    assert tmpfs == ["/home"]
    dirs = [args[i + 1] for i, a in enumerate(args) if a == "--dir"]
    assert "/home/other" in dirs and "/home/other/deep" in dirs


def test_volume_mounts_subpath_and_unknown_volume() -> None:
    c = {"volumeMounts": [{"name": "v", "mountPath": "/m", "subPath": "sub", "readOnly": True}]}
    assert podspec.volume_mounts(c, {"v": "/host/v"}) == [Mount("/host/v/sub", "/m", True)]
    with pytest.raises(PodSpecError, match="no volume"):
        podspec.volume_mounts({"volumeMounts": [{"name": "x", "mountPath": "/m"}]}, {})
    with pytest.raises(PodSpecError, match="subPath"):
        podspec.volume_mounts(
            {"volumeMounts": [{"name": "v", "mountPath": "/m", "subPath": "../etc"}]}, {"v": "/h"}
        )


def test_referenced_objects_and_quantities() -> None:
    pod = {
        "spec": {
            "containers": [
                {
                    "envFrom": [{"secretRef": {"name": "s1"}}],
                    "env": [
                        {"name": "a", "valueFrom": {"configMapKeyRef": {"name": "c1", "key": "k"}}}
                    ],
                }
            ],
            "volumes": [
                {"name": "v", "secret": {"secretName": "s2"}},
                {"name": "w", "projected": {"sources": [{"configMap": {"name": "c2"}}]}},
            ],
        }
    }
    assert podspec.referenced_objects(pod) == ({"c1", "c2"}, {"s1", "s2"})


def test_sandbox_working_dir_is_created_inside_only() -> None:
    args = podspec.sandbox_args([], HOST, tmp_dir="/t", hostname="h", workdir="/home/jovyan")
    assert args[args.index("--tmpfs") + 1] == "/home"
    assert args[-4:] == ["--dir", "/home/jovyan", "--chdir", "/home/jovyan"]


def test_sandbox_keeps_a_project_under_tmp_visible() -> None:
    """A clone in /tmp (CI's usual place) stays visible behind the pod's private /tmp."""
    fs = FakeFs({**HOST.entries, "/tmp": "dir", "/tmp/clone": "dir", "/tmp/clone/.venv/bin": "dir"})
    args = podspec.sandbox_args(
        [],
        fs,
        tmp_dir="/t",
        hostname="h",
        host_paths=["/tmp/clone", "/tmp/clone/.venv/bin", "/opt/project", "/tmp/missing"],
    )
    binds = _pairs(args, "--bind")
    assert ("/tmp/clone", "/tmp/clone") in binds
    # The private /tmp is mounted first, the project bound back into it afterwards.
    assert binds.index(("/t", "/tmp")) < binds.index(("/tmp/clone", "/tmp/clone"))
    # Paths outside /tmp are visible anyway; missing ones are not invented.
    assert ("/opt/project", "/opt/project") not in binds
    assert ("/tmp/missing", "/tmp/missing") not in binds
