"""The local cluster's images as the kubelet gets them: built (or reused from the cache) by
``localk8s.images``, imported into a scratch containerd of our own and run with ``ctr run``.

Needs root and Debian's containerd and runc; the first build takes a few minutes (cached after).
The smoke commands are ``localk8s.imagecheck.SMOKE``, the ones ``python -m localk8s images
--check`` runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localk8s import images, oci
from localk8s.imagecheck import SMOKE, ScratchContainerd, SmokeCommand

pytestmark = [
    pytest.mark.timeout(1500),
    pytest.mark.skipif(os.geteuid() != 0, reason="building and running images needs root"),
    pytest.mark.skipif(shutil.which("containerd") is None, reason="needs Debian's containerd"),
]


@pytest.fixture(scope="module")
def built() -> dict[str, images.BuiltImage]:
    return images.build()


@pytest.fixture(scope="module")
def ctrd(built: dict[str, images.BuiltImage]) -> Iterator[ScratchContainerd]:
    with ScratchContainerd() as scratch:
        for image in built.values():
            assert images.import_into(scratch.socket, image) is True
        yield scratch


CASES = [(name, command) for name, commands in SMOKE.items() for command in commands]


@pytest.mark.parametrize(
    ("name", "command"),
    CASES,
    ids=[f"{name}:{' '.join(cmd.argv)[:30].split(chr(10))[0]}" for name, cmd in CASES],
)
def test_smoke(
    ctrd: ScratchContainerd,
    built: dict[str, images.BuiltImage],
    name: str,
    command: SmokeCommand,
) -> None:
    code, out = ctrd.run(built[name].ref, command.argv)
    assert code == 0, out
    for text in command.expect:
        assert text in out, out


def test_import_into_skips_an_image_already_there(
    ctrd: ScratchContainerd, built: dict[str, images.BuiltImage]
) -> None:
    assert images.import_into(ctrd.socket, built["pause"]) is False
    listed = ctrd.ctr("images", "list", "--quiet").stdout.split()
    assert {image.ref for image in built.values()} <= set(listed)


def test_pause_exits_0_on_sigterm(
    ctrd: ScratchContainerd, built: dict[str, images.BuiltImage]
) -> None:
    cid = f"pause-sigterm-{os.getpid()}"
    proc = subprocess.Popen(
        ["ctr", "--address", ctrd.socket, "--namespace", "k8s.io", "run", "--rm"]
        + [built["pause"].ref, cid],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if "RUNNING" in ctrd.ctr("tasks", "list").stdout:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the pause task did not start")
        assert proc.poll() is None  # it sleeps
        ctrd.ctr("tasks", "kill", "--signal", "SIGTERM", cid)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("name", ["primehub-notebook", "primehub-hub"])
def test_python_image_config(built: dict[str, images.BuiltImage], name: str) -> None:
    read = oci.read_archive(built[name].tar)
    [desc] = read["index"]["manifests"]
    assert desc["annotations"]["io.containerd.image.name"] == built[name].ref
    config = read["config"]["config"]
    assert config["User"] == "1000:100"
    path = next(e for e in config["Env"] if e.startswith("PATH="))
    assert path.startswith("PATH=/opt/venv/bin:")
    if name == "primehub-notebook":
        assert config["WorkingDir"] == "/home/jovyan"
        assert config["Cmd"] == ["jupyterhub-singleuser"]
    else:
        assert config["Cmd"] == ["jupyterhub"]
    assert built[name].ref.split(":")[-1] != "latest"


def test_scratch_containerd_leaves_nothing_behind(built: dict[str, images.BuiltImage]) -> None:
    scratch = ScratchContainerd()
    with scratch:
        images.import_into(scratch.socket, built["pause"])
        code, out = scratch.run(built["pause"].ref, ["/pause", "--version"])
        assert code == 0, out
        directory = scratch.dir
    assert not directory.exists()
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(directory) not in mounts
