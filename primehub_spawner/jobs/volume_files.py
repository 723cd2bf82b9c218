"""Reading a hub job's output notebook and artifacts from its group volume (blocking: callers
run these in a thread).

Every member of a group can write its volume, so everything read here is hostile input
(``docs/security.md``): paths are confined below the volume's root, no symbolic link is
followed on the way or at the end (:mod:`primehub_jobs_contract.safefiles`), only regular files
are read, and sizes and counts are capped; a file that grows while it is read is cut at its cap.
"""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from primehub_jobs_contract.errors import InvalidRequest
from primehub_jobs_contract.safefiles import UnsafePath, open_folder, open_regular

MAX_OUTPUT_BYTES = 50 * 1024 * 1024  # an output notebook larger than this is not served
MAX_ARTIFACT_FILES = 1000  # the executor's default limits (primehub_executor.artifacts)
MAX_ARTIFACT_BYTES = 100 * 1024 * 1024
MAX_DEPTH = 16
CHUNK = 1024 * 1024


class TooLarge(Exception):
    """A file or a set of files over its cap."""


def plain_parts(relative: str, what: str) -> tuple[str, ...]:
    """PURE: the components of a volume-relative path, refusing anything but plain names
    (``..``, ``.``, empty components, NUL, absolute paths): a 400 naming ``what``."""
    parts = tuple(relative.split("/"))
    if (
        not relative
        or relative.startswith("/")
        or "\0" in relative
        or any(p in ("", ".", "..") for p in parts)
        or len(parts) > MAX_DEPTH
    ):
        raise InvalidRequest(
            f"{what} must be a relative path of plain names (no '..', '.', empty parts or "
            f"more than {MAX_DEPTH} levels), got {relative!r}."
        )
    return parts


@dataclass(frozen=True)
class Opened:
    """A regular file opened without following links, and its size when opened."""

    file: IO[bytes]
    size: int


def open_file(root: Path, relative: str, limit: int, what: str) -> Opened:
    """Open ``root/relative`` for reading: every folder on the way and the file itself must
    not be links (``UnsafePath``), it must be a regular file of at most ``limit`` bytes
    (``TooLarge``); ``FileNotFoundError`` when something on the way is missing."""
    *folders, name = plain_parts(relative, what)
    folder = open_folder(root.joinpath(*folders), root)
    try:
        fd = open_regular(folder, name)
    finally:
        os.close(folder)
    size = os.fstat(fd).st_size
    if size > limit:
        os.close(fd)
        raise TooLarge(f"{size} bytes, more than {limit}")
    return Opened(os.fdopen(fd, "rb"), size)


@dataclass(frozen=True)
class Listing:
    """The regular files of an artifacts folder (``path`` relative to it, ``size``), and how
    many entries were left out: links, special files, and what is past the caps."""

    files: tuple[tuple[str, int], ...]
    skipped: int
    truncated: bool  # more files or bytes than the caps

    def to_json(self) -> dict:
        return {
            "files": [{"path": p, "size": s} for p, s in self.files],
            "skipped": self.skipped,
            "truncated": self.truncated,
        }


def list_artifacts(
    root: Path,
    folder: str,
    max_files: int = MAX_ARTIFACT_FILES,
    max_bytes: int = MAX_ARTIFACT_BYTES,
) -> Listing:
    """The files below ``root/folder`` (the job's artifacts folder), walked through folder
    descriptors: links are never followed (nor listed), the walk stops at the caps."""
    files: list[tuple[str, int]] = []
    skipped = 0
    total = 0
    truncated = False
    top = open_folder(root.joinpath(*plain_parts(folder, "the artifacts folder")), root)
    stack: list[tuple[int, PurePosixPath]] = [(top, PurePosixPath())]
    try:
        while stack:
            fd, where = stack.pop()
            try:
                with os.scandir(fd) as entries:
                    names = sorted((e.name, e.stat(follow_symlinks=False)) for e in entries)
                for name, st in names:
                    if stat.S_ISDIR(st.st_mode) and len(where.parts) < MAX_DEPTH:
                        try:
                            child = os.open(
                                name,
                                os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                dir_fd=fd,
                            )
                        except OSError:  # swapped for a link or removed meanwhile
                            skipped += 1
                            continue
                        stack.append((child, where / name))
                    elif stat.S_ISREG(st.st_mode):
                        if len(files) >= max_files or total + st.st_size > max_bytes:
                            truncated = True
                            continue
                        files.append((str(where / name), st.st_size))
                        total += st.st_size
                    else:
                        skipped += 1  # a link, FIFO, socket, device, or too deep
            finally:
                os.close(fd)
    except BaseException:
        for fd, _ in stack:
            os.close(fd)
        raise
    return Listing(tuple(sorted(files)), skipped, truncated)


def zip_artifacts(root: Path, folder: str, max_bytes: int = MAX_ARTIFACT_BYTES) -> IO[bytes]:
    """A zip of the listed artifacts in a temporary file (rewound); every file is opened
    again without following links, and one that changed into something else meanwhile is
    left out. The entries' names are the listing's plain relative paths."""
    listing = list_artifacts(root, folder, max_bytes=max_bytes)
    if listing.truncated:
        raise TooLarge(f"more than {MAX_ARTIFACT_FILES} files or {max_bytes // (1024 * 1024)} MiB")
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    try:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, size in listing.files:
                try:
                    opened = open_file(root, f"{folder}/{path}", size, "an artifact")
                except (OSError, TooLarge):  # replaced, grown or removed since the listing
                    continue
                with opened.file, archive.open(path, "w") as entry:
                    left = size  # a file growing meanwhile is cut at its listed size
                    while left > 0 and (data := opened.file.read(min(CHUNK, left))):
                        entry.write(data)
                        left -= len(data)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


__all__ = [
    "MAX_ARTIFACT_BYTES",
    "MAX_ARTIFACT_FILES",
    "MAX_OUTPUT_BYTES",
    "Listing",
    "Opened",
    "TooLarge",
    "UnsafePath",
    "list_artifacts",
    "open_file",
    "plain_parts",
    "zip_artifacts",
]
