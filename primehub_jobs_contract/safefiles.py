"""Writing and reading job files in folders other users can write to.

A group volume is shared and writable by every member of the group, so nothing in it is
trusted: a member may plant a symbolic link where a job is about to write (its output, a
temporary name, a folder on the way) or forge a file a backend reads. Writes here go through
folder descriptors opened with ``O_NOFOLLOW`` below a trusted ``confine`` folder, into a fresh
temporary name (``O_EXCL``), then ``rename`` over the target (which replaces a planted link
instead of writing through it). Reads refuse links and anything but a regular file, and stop
at a size cap.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(OSError):
    """A path that leaves its folder through a symbolic link, or is not what it must be."""


def _open_folder(folder: Path, confine: Path | None, create: bool = False) -> int:
    """A descriptor of ``folder``; below ``confine`` no component may be a symbolic link
    (``create``: make the missing ones on the way, ``mkdir -p``)."""
    if confine is None:
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    confine = Path(confine)
    try:
        rest = Path(folder).relative_to(confine)
    except ValueError:
        raise UnsafePath(f"{folder} is outside {confine}") from None
    fd = os.open(confine, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in rest.parts:
            if part in ("..", "."):
                raise UnsafePath(f"{folder} is not a plain path below {confine}")
            if create:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):  # a link, or a file
                    raise UnsafePath(
                        f"{folder}: '{part}' is a symbolic link or not a folder"
                    ) from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_folders(folder: Path | str, confine: Path | str) -> None:
    """``mkdir -p folder`` below ``confine`` without following a link on the way."""
    os.close(_open_folder(Path(folder), Path(confine), create=True))


def replace_file(path: Path | str, data: bytes, confine: Path | str | None = None) -> None:
    """Write ``data`` to ``path`` atomically without following a link anywhere below
    ``confine`` (nor at ``path`` itself: a planted link is replaced, not written through)."""
    path = Path(path)
    fd = _open_folder(path.parent, Path(confine) if confine else None)
    try:
        tmp = f".{path.name}.{secrets.token_hex(8)}.tmp"
        out = os.open(
            tmp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644,
            dir_fd=fd,
        )
        try:
            with os.fdopen(out, "wb") as f:
                f.write(data)
            os.replace(tmp, path.name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=fd)
            except OSError:
                pass
            raise
    finally:
        os.close(fd)


def read_capped(path: Path | str, limit: int) -> bytes:
    """The bytes of a regular file that is not a link, at most ``limit`` of them
    (``UnsafePath`` when it is a link, not a regular file, or larger)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafePath(f"{path} is a symbolic link") from None
        raise
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePath(f"{path} is not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UnsafePath(f"{path} is larger than {limit} bytes")
    return data


def open_folder(folder: Path | str, confine: Path | str) -> int:
    """A descriptor of ``folder`` (the caller closes it); no component below ``confine`` may be
    a symbolic link (``UnsafePath``). ``confine`` itself is trusted (an admin's path)."""
    return _open_folder(Path(folder), Path(confine))


def open_regular(folder_fd: int, name: str) -> int:
    """A read descriptor of the regular file ``name`` in the folder ``folder_fd``, never
    through a link (``UnsafePath`` for a link, a folder, a FIFO, ...)."""
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise UnsafePath(f"{name!r} is not a plain file name")
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=folder_fd
        )
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafePath(f"{name} is a symbolic link") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePath(f"{name} is not a regular file")
    return fd
