"""Per-job artifacts folder: limits (PrimeHub: 1000 files / 100 MB), zip download, retention."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from primehub_jobs_contract.safefiles import read_capped, replace_file

DEFAULT_MAX_FILES = 1000
DEFAULT_MAX_BYTES = 100 * 1024 * 1024


@dataclass
class LimitReport:
    """What the limit check kept and dropped."""

    kept_files: int
    kept_bytes: int
    dropped: list[str]


def _regular_files(root: Path) -> list[Path]:
    """The files below ``root`` in path order; nothing when ``root`` itself is a link (os.walk
    would list the folder it points to)."""
    if root.is_symlink() or not root.is_dir():
        return []
    files = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            files.append(Path(dirpath) / name)
    return files


def enforce_limits(root: Path, max_files: int, max_bytes: int) -> LimitReport:
    """Keep files in path order while within the limits; delete the rest and all symlinks.

    Symlinks are dropped because an artifact must be data the job wrote, not a pointer to
    something else on the server.
    """
    kept_files = kept_bytes = 0
    dropped: list[str] = []
    if root.is_symlink():
        root.unlink()
        return LimitReport(0, 0, [root.name])
    for path in _regular_files(root):
        rel = str(path.relative_to(root))
        if path.is_symlink() or not path.is_file():
            path.unlink(missing_ok=True)
            dropped.append(rel)
            continue
        size = path.stat().st_size
        if kept_files + 1 > max_files or kept_bytes + size > max_bytes:
            path.unlink(missing_ok=True)
            dropped.append(rel)
            continue
        kept_files += 1
        kept_bytes += size
    return LimitReport(kept_files, kept_bytes, dropped)


def copy_limited(source: Path, target: Path, max_files: int, max_bytes: int) -> LimitReport:
    """Copy the regular files below ``source`` (a folder others may write to: links and
    special files are skipped, never followed) into ``target``, within the limits."""
    kept_files = kept_bytes = 0
    dropped: list[str] = []
    for path in _regular_files(source):
        rel = path.relative_to(source)
        if kept_files + 1 > max_files:
            dropped.append(str(rel))
            continue
        try:
            data = read_capped(path, max_bytes - kept_bytes)
        except OSError:  # a link, not a regular file, over the remaining bytes, or gone
            dropped.append(str(rel))
            continue
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        replace_file(dest, data, target)
        kept_files += 1
        kept_bytes += len(data)
    return LimitReport(kept_files, kept_bytes, dropped)


def write_zip(root: Path, target: IO[bytes]) -> None:
    """Write a zip of the regular files under ``root`` (symlinks skipped, never followed)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        if root.is_dir():
            for path in _regular_files(root):
                if path.is_symlink() or not path.is_file():
                    continue
                archive.write(path, str(path.relative_to(root)))


def zip_artifacts(root: Path) -> bytes:
    """The zip of ``root`` in memory (small folders and tests)."""
    buffer = io.BytesIO()
    write_zip(root, buffer)
    return buffer.getvalue()


def remove_tree(path: Path) -> None:
    """Delete a folder if it exists."""
    shutil.rmtree(path, ignore_errors=True)
