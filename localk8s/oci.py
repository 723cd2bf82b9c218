"""Write OCI images as ``oci-layout`` tar archives, with nothing but tarfile, hashlib and json.

An archive holds ``oci-layout``, ``index.json`` and ``blobs/sha256/`` with one uncompressed
layer (``application/vnd.oci.image.layer.v1.tar``), the image config and the manifest. The
index names the image for containerd (``io.containerd.image.name``, the full reference) and for
other OCI tools (``org.opencontainers.image.ref.name``, the tag), so ``ctr images import``
files it under that reference.

Uncompressed layers cost disk space but no CPU: the images are only imported into a containerd
on the same machine, never pushed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"

#: Copy buffer for blobs (large reads keep tarfile's per-call overhead low).
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Blob:
    """A content-addressed blob: ``sha256:<hex>`` digest and size in bytes."""

    digest: str
    size: int

    @property
    def hex(self) -> str:
        """The digest without its ``sha256:`` prefix (the file name under blobs/sha256/)."""
        return self.digest.split(":", 1)[1]


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of an image config (what ``docker inspect`` shows as Config)."""

    env: tuple[str, ...] = ()
    user: str = ""
    working_dir: str = ""
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``config`` object of an OCI image config (empty fields left out)."""
        out: dict[str, Any] = {}
        if self.user:
            out["User"] = self.user
        if self.env:
            out["Env"] = list(self.env)
        if self.entrypoint:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd:
            out["Cmd"] = list(self.cmd)
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.labels:
            out["Labels"] = dict(sorted(self.labels.items()))
        return out


class _HashingWriter:
    """A write-only file that hashes and counts what passes through it to ``target``."""

    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)

    def tell(self) -> int:
        return self.size


def _walk(root: Path, skip: Callable[[str], bool]) -> Iterator[tuple[str, str]]:
    """(absolute path, archive name) of everything under ``root``, sorted, parents first."""
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        prefix = "" if rel_dir == "." else rel_dir + "/"
        kept = []
        for name in sorted(dirnames):
            arcname = prefix + name
            if skip(arcname):
                continue
            full = os.path.join(dirpath, name)
            yield full, arcname
            if not os.path.islink(full):
                kept.append(name)  # os.walk does not follow symlinks to directories anyway
        dirnames[:] = kept
        for name in sorted(filenames):
            arcname = prefix + name
            if not skip(arcname):
                yield os.path.join(dirpath, name), arcname


def _tarinfo(path: str, arcname: str, st: os.stat_result) -> tarfile.TarInfo | None:
    """The tar header of one file system entry (None for sockets and other skipped kinds)."""
    info = tarfile.TarInfo(arcname)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)  # an int keeps tarfile from adding a PAX record per file
    if stat.S_ISREG(st.st_mode):
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
    elif stat.S_ISFIFO(st.st_mode):
        info.type = tarfile.FIFOTYPE
    else:
        return None  # device nodes come from the runtime's /dev; sockets make no sense here
    return info


def write_layer(rootfs: Path, out: Path, skip: Callable[[str], bool] = lambda _name: False) -> Blob:
    """Write the tree under ``rootfs`` as an uncompressed layer tar to ``out``.

    Entries are sorted, owners numeric (no user or group names), hard links kept as links.
    ``skip(archive_name)`` leaves an entry (and, for a directory, its content) out. Returns the
    layer's digest, which for an uncompressed layer is also its diff_id.
    """
    seen: dict[tuple[int, int], str] = {}
    with open(out, "wb", buffering=_CHUNK) as raw:
        # Written once, front to back (tarfile's "w" mode never seeks), hashed on the way.
        hashing = _HashingWriter(raw)
        with tarfile.open(fileobj=hashing, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path, arcname in _walk(rootfs, skip):
                st = os.lstat(path)
                info = _tarinfo(path, arcname, st)
                if info is None:
                    continue
                if info.type == tarfile.REGTYPE and st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        info.type, info.size, info.linkname = tarfile.LNKTYPE, 0, seen[key]
                        tar.addfile(info)
                        continue
                    seen[key] = arcname
                if info.type == tarfile.REGTYPE:
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return Blob("sha256:" + hashing.sha.hexdigest(), hashing.size)


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _blob_of(data: bytes) -> Blob:
    return Blob("sha256:" + hashlib.sha256(data).hexdigest(), len(data))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    tar.addfile(info)


def write_archive(
    out: Path,
    ref: str,
    layers: list[tuple[Path, Blob]],
    config: ImageConfig,
    architecture: str = "amd64",
    os_name: str = "linux",
) -> Blob:
    """Write an OCI layout tar for image ``ref`` (``host/name:tag``) to ``out``.

    ``layers`` are uncompressed layer tars (as written by :func:`write_layer`) with their blobs,
    bottom first. Returns the manifest's blob (its digest is the image's digest).
    """
    if ":" not in ref.rsplit("/", 1)[-1]:
        raise ValueError(f"image reference needs a tag: {ref}")
    tag = ref.rsplit(":", 1)[1]
    config_doc = {
        "architecture": architecture,
        "os": os_name,
        "config": config.to_json(),
        "rootfs": {"type": "layers", "diff_ids": [blob.digest for _, blob in layers]},
        "history": [{"created_by": "localk8s images"} for _ in layers],
    }
    config_bytes = _json_bytes(config_doc)
    config_blob = _blob_of(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {
            "mediaType": MEDIA_CONFIG,
            "digest": config_blob.digest,
            "size": config_blob.size,
        },
        "layers": [
            {"mediaType": MEDIA_LAYER, "digest": blob.digest, "size": blob.size}
            for _, blob in layers
        ],
    }
    manifest_bytes = _json_bytes(manifest)
    manifest_blob = _blob_of(manifest_bytes)
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [
            {
                "mediaType": MEDIA_MANIFEST,
                "digest": manifest_blob.digest,
                "size": manifest_blob.size,
                "platform": {"architecture": architecture, "os": os_name},
                "annotations": {ANNOTATION_CONTAINERD_NAME: ref, ANNOTATION_REF_NAME: tag},
            }
        ],
    }
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, "oci-layout", _json_bytes({"imageLayoutVersion": "1.0.0"}))
        _add_bytes(tar, "index.json", _json_bytes(index))
        _add_dir(tar, "blobs")
        _add_dir(tar, "blobs/sha256")
        for path, blob in layers:
            info = tarfile.TarInfo(f"blobs/sha256/{blob.hex}")
            info.size, info.mode = blob.size, 0o644
            if path.stat().st_size != blob.size:
                raise ValueError(f"layer {path} changed since it was hashed")
            with open(path, "rb") as f:
                tar.addfile(info, f)
        _add_bytes(tar, f"blobs/sha256/{config_blob.hex}", config_bytes)
        _add_bytes(tar, f"blobs/sha256/{manifest_blob.hex}", manifest_bytes)
    return manifest_blob


def read_archive(path: Path) -> dict[str, Any]:
    """The index, manifest and config of an archive written by :func:`write_archive`.

    Every blob's digest is checked against its content; a mismatch raises ValueError.
    """
    with tarfile.open(path) as tar:
        names = set(tar.getnames())

        def blob(digest: str, keep: bool = True) -> bytes:
            member = tar.extractfile(f"blobs/sha256/{digest.split(':', 1)[1]}")
            if member is None:
                raise ValueError(f"blob {digest} missing")
            sha = hashlib.sha256()
            chunks = []
            while chunk := member.read(_CHUNK):
                sha.update(chunk)
                if keep:
                    chunks.append(chunk)
            if "sha256:" + sha.hexdigest() != digest:
                raise ValueError(f"blob {digest} does not match its content")
            return b"".join(chunks)

        layout_file = tar.extractfile("oci-layout")
        index_file = tar.extractfile("index.json")
        if layout_file is None or index_file is None:
            raise ValueError("not an OCI layout archive")
        layout = json.loads(layout_file.read())
        index = json.loads(index_file.read())
        desc = index["manifests"][0]
        manifest = json.loads(blob(desc["digest"]))
        config = json.loads(blob(manifest["config"]["digest"]))
        for layer in manifest["layers"]:
            blob(layer["digest"], keep=False)  # layers are only hashed
    return {
        "oci-layout": layout,
        "index": index,
        "manifest": manifest,
        "config": config,
        "names": sorted(names),
    }
