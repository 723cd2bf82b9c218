"""Unit tests of the image builder's pure parts: the OCI writer and the inputs hash (no root,
no containerd, nothing built)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from localk8s import images, oci

REF = "localhost/tiny:0123456789ab"


def _tiny_rootfs(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "hello").write_text("#!/bin/sh\necho hello\n")
    os.chmod(root / "bin" / "hello", 0o755)
    (root / "etc").mkdir()
    (root / "etc" / "motd").write_text("hi\n")
    os.link(root / "etc" / "motd", root / "etc" / "motd.hard")
    (root / "etc" / "motd.link").symlink_to("motd")
    (root / "tmp").mkdir()
    (root / "tmp" / "scratch").write_text("left out\n")
    return root


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_layer_is_sorted_numeric_and_keeps_links(tmp_path: Path) -> None:
    root = _tiny_rootfs(tmp_path / "rootfs")
    layer = tmp_path / "layer.tar"
    blob = oci.write_layer(root, layer, skip=lambda name: name.startswith("tmp/"))
    assert blob.digest == _sha256(layer)
    assert blob.size == layer.stat().st_size
    with tarfile.open(layer) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == [
        "bin",
        "etc",
        "tmp",
        "bin/hello",
        "etc/motd",
        "etc/motd.hard",
        "etc/motd.link",
    ]
    by_name = {m.name: m for m in members}
    assert by_name["bin/hello"].mode == 0o755
    assert by_name["etc/motd.hard"].islnk() and by_name["etc/motd.hard"].linkname == "etc/motd"
    assert by_name["etc/motd.link"].issym() and by_name["etc/motd.link"].linkname == "motd"
    assert all(m.uname == "" and m.gname == "" for m in members)
    assert all(m.uid == os.getuid() for m in members)


def test_archive_digests_are_consistent(tmp_path: Path) -> None:
    root = _tiny_rootfs(tmp_path / "rootfs")
    layer = tmp_path / "layer.tar"
    blob = oci.write_layer(root, layer)
    config = oci.ImageConfig(
        env=("PATH=/opt/venv/bin:/usr/bin:/bin", "LANG=C.UTF-8"),
        user="1000:100",
        working_dir="/home/jovyan",
        entrypoint=("tini", "--"),
        cmd=("jupyterhub-singleuser",),
    )
    out = tmp_path / "image.tar"
    manifest_blob = oci.write_archive(out, REF, [(layer, blob)], config)

    # Read it back by hand (not with read_archive) and check every digest and size.
    with tarfile.open(out) as tar:
        files = {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in files.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    index = json.loads(files["index.json"])
    assert index["schemaVersion"] == 2
    [desc] = index["manifests"]
    assert desc["mediaType"] == oci.MEDIA_MANIFEST
    assert desc["digest"] == manifest_blob.digest
    assert desc["annotations"] == {
        "io.containerd.image.name": REF,
        "org.opencontainers.image.ref.name": "0123456789ab",
    }
    assert desc["platform"] == {"architecture": "amd64", "os": "linux"}
    manifest_bytes = files[f"blobs/sha256/{manifest_blob.hex}"]
    assert desc["size"] == len(manifest_bytes)
    manifest = json.loads(manifest_bytes)
    assert manifest["config"]["mediaType"] == oci.MEDIA_CONFIG
    config_bytes = files[f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}"]
    assert manifest["config"]["size"] == len(config_bytes)
    [layer_desc] = manifest["layers"]
    assert layer_desc == {"mediaType": oci.MEDIA_LAYER, "digest": blob.digest, "size": blob.size}
    assert files[f"blobs/sha256/{blob.hex}"] == layer.read_bytes()

    image_config = json.loads(config_bytes)
    assert image_config["architecture"] == "amd64"
    assert image_config["os"] == "linux"
    # An uncompressed layer's diff_id is its digest.
    assert image_config["rootfs"] == {"type": "layers", "diff_ids": [blob.digest]}
    assert image_config["config"] == {
        "Env": ["PATH=/opt/venv/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
        "User": "1000:100",
        "WorkingDir": "/home/jovyan",
        "Entrypoint": ["tini", "--"],
        "Cmd": ["jupyterhub-singleuser"],
    }
    # read_archive agrees and verifies the blobs itself.
    read = oci.read_archive(out)
    assert read["manifest"] == manifest
    assert read["config"] == image_config


def test_read_archive_refuses_a_tampered_blob(tmp_path: Path) -> None:
    root = _tiny_rootfs(tmp_path / "rootfs")
    layer = tmp_path / "layer.tar"
    blob = oci.write_layer(root, layer)
    out = tmp_path / "image.tar"
    oci.write_archive(out, REF, [(layer, blob)], oci.ImageConfig(cmd=("true",)))
    data = bytearray(out.read_bytes())
    pos = data.find(b"echo hello")
    data[pos] = ord("E")
    out.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match"):
        oci.read_archive(out)


def test_archive_needs_a_tag(tmp_path: Path) -> None:
    layer = tmp_path / "layer.tar"
    blob = oci.write_layer(_tiny_rootfs(tmp_path / "rootfs"), layer)
    with pytest.raises(ValueError, match="tag"):
        oci.write_archive(tmp_path / "x.tar", "localhost/tiny", [(layer, blob)], oci.ImageConfig())


# ---- inputs hash ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout's files that could matter (no venv, node_modules or git)."""
    dest = tmp_path_factory.mktemp("project") / "p"
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "node_modules", ".state", ".make", "build", "dist", "*.egg-info", "lib"
    )
    shutil.copytree(images.PROJECT, dest, ignore=ignore, symlinks=True)
    return dest


def _edit(path: Path, text: str) -> str:
    old = path.read_text()
    path.write_text(old + text)
    return old


@pytest.mark.parametrize(
    ("rel", "changes"),
    [
        ("images/hub/install.sh", {"primehub-hub"}),
        ("images/hub/requirements.txt", {"primehub-hub"}),
        ("images/notebook/install.sh", {"primehub-notebook"}),
        ("images/notebook/requirements.txt", {"primehub-notebook"}),
        ("package.json", {"primehub-hub"}),  # configurable-http-proxy's version range
        ("primehub_spawner/spawner.py", {"primehub-hub", "primehub-notebook"}),
        ("labextension/src/index.ts", {"primehub-hub", "primehub-notebook"}),
        ("setup.cfg", {"primehub-hub", "primehub-notebook"}),
        ("localk8s/pause.c", set(images.NAMES)),
        ("localk8s/oci.py", set(images.NAMES)),
        ("tests/localk8s/test_images.py", set()),
        ("docs/README.md", set()),
        ("README.md", set()),
        ("localk8s/node.py", set()),
    ],
)
def test_inputs_hash_follows_the_inputs(project_copy: Path, rel: str, changes: set[str]) -> None:
    before = {name: images.inputs_hash(name, project_copy) for name in images.NAMES}
    path = project_copy / rel
    assert path.is_file(), rel
    old = _edit(path, "\n# edited by the test\n")
    try:
        after = {name: images.inputs_hash(name, project_copy) for name in images.NAMES}
    finally:
        path.write_text(old)
    assert {name for name in images.NAMES if before[name] != after[name]} == changes
    assert {name: images.inputs_hash(name, project_copy) for name in images.NAMES} == before


def test_inputs_hash_ignores_build_outputs_and_bytecode(project_copy: Path) -> None:
    before = images.inputs_hash("primehub-notebook", project_copy)
    made = [
        project_copy / "jupyterlab_primehub" / "labextension" / "static" / "new.js",
        project_copy / "primehub_spawner" / "__pycache__" / "x.cpython-311.pyc",
    ]
    for path in made:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("output")
    try:
        assert images.inputs_hash("primehub-notebook", project_copy) == before
    finally:
        for path in made:
            path.unlink()


def test_refs_never_say_latest_and_are_cheap() -> None:
    for name in images.NAMES:
        ref = images.ref(name)
        host, rest = ref.split("/", 1)
        repo, tag = rest.split(":")
        assert (host, repo) == ("localhost", name)
        assert len(tag) == 12 and tag != "latest"
        assert images.tar_path(name).name == f"{name}-{tag}.tar"
    with pytest.raises(images.ImageBuildError, match="unknown image"):
        images.ref("nope")


def test_the_images_command_says_what_is_wrong_and_exits_1() -> None:
    """``python -m localk8s images`` as the Makefile runs it: an unknown image name is refused
    with a message and exit code 1, before anything is built."""
    proc = subprocess.run(
        [sys.executable, "-m", "localk8s", "images", "--json", "no-such-image"],
        cwd=Path(images.__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("localk8s images failed:") and "no-such-image" in proc.stderr
    assert proc.stdout == ""
