"""Debian root file systems for the images: made once per package list, then changed per image.

:func:`base_tarball` runs ``mmdebstrap`` (variant minbase) with the machine's own apt sources and
caches the resulting tarball under the images cache, keyed by the suite and the package list, so
every image with the same list shares that work. :func:`unpack` extracts it into an image's work
directory, and :func:`run_inside` runs a command in that tree through bubblewrap (the tree bound as
``/``, a private ``/dev``, ``/proc`` and ``/tmp``, no network, a clean environment).

Everything here needs root: unpacking keeps the files' owners, and mmdebstrap runs in root mode.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

#: Debian 12, the release this machine runs (same Python 3.11 and glibc as the host).
SUITE = "bookworm"
#: The machine's own apt sources (deb822); passed to mmdebstrap as its mirror argument.
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
#: Documentation and translations are left out of the images (copyright files stay).
DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)
#: Merged /usr made by mmdebstrap's own hook, so the usrmerge package (and perl with it) stays out.
MMDEBSTRAP_HOOKS = ("/usr/share/mmdebstrap/hooks/merged-usr",)
#: A PATH for commands run inside a root file system.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Say = Callable[[str], None]


class RootfsError(RuntimeError):
    """A root file system could not be made or changed; the message says why (and which log)."""


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the ``with`` block.

    Works between processes and between threads of one process (each call opens the file anew).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_logged(cmd: Sequence[str], log: Path, env: dict[str, str] | None = None) -> None:
    """Run ``cmd`` with its output appended to ``log``; RootfsError (with the log's tail) if it
    fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(("$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        proc = subprocess.run(
            list(cmd), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    if proc.returncode != 0:
        raise RootfsError(
            f"command failed with exit code {proc.returncode}: {' '.join(cmd)}\n"
            f"--- last lines of {log} ---\n{tail(log)}"
        )


def tail(log: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file (empty if it cannot be read)."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def require_root(what: str) -> None:
    """RootfsError unless running as root (as ``make`` runs localk8s)."""
    if os.geteuid() != 0:
        raise RootfsError(f"{what} needs root (it keeps file owners and runs mmdebstrap/bwrap)")


def require_tools(*tools: str) -> None:
    """RootfsError naming the Debian package of the first missing tool."""
    packages = {"mmdebstrap": "mmdebstrap", "bwrap": "bubblewrap", "tar": "tar", "gcc": "gcc"}
    for tool in tools:
        if shutil.which(tool) is None:
            raise RootfsError(f"'{tool}' not found: apt-get install {packages.get(tool, tool)}")


def base_key(packages: Sequence[str], suite: str = SUITE) -> str:
    """Cache key of a base tarball: the suite, the package list and mmdebstrap's options."""
    text = "\n".join([suite, *sorted(set(packages)), *DPKG_OPTIONS, *MMDEBSTRAP_HOOKS])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def base_tarball(
    packages: Sequence[str], cache_dir: Path, lock: Path, log: Path, say: Say, force: bool = False
) -> Path:
    """The cached Debian minbase tarball with ``packages`` in ``cache_dir`` (made first when
    missing or forced; ``lock`` serialises makers, ``log`` gets mmdebstrap's output)."""
    final = cache_dir / f"{SUITE}-{base_key(packages)}.tar"
    if final.exists() and not force:
        return final
    require_root("building a root file system")
    require_tools("mmdebstrap")
    if not DEBIAN_SOURCES.exists():
        raise RootfsError(f"{DEBIAN_SOURCES} not found: cannot give mmdebstrap apt sources")
    with file_lock(lock):
        if final.exists() and not force:
            return final  # made by another build while we waited
        tmp = cache_dir / f".{final.stem}.{os.getpid()}.tmp.tar"  # mmdebstrap wants .tar
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        say(
            f"base root file system: mmdebstrap {SUITE} minbase + {', '.join(packages)} "
            f"(1 to 2 minutes; log: {log})"
        )
        cmd = [
            "mmdebstrap",
            "--variant=minbase",
            "--mode=root",
            "--include=" + ",".join(packages),
            *[f"--dpkgopt={opt}" for opt in DPKG_OPTIONS],
            *[f"--hook-dir={hook}" for hook in MMDEBSTRAP_HOOKS],
            SUITE,
            str(tmp),
            str(DEBIAN_SOURCES),
        ]
        try:
            run_logged(cmd, log)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        say(f"base root file system cached: {final} ({final.stat().st_size >> 20} MiB)")
    return final


def unpack(tarball: Path, dest: Path, log: Path) -> None:
    """Extract a base tarball into ``dest`` keeping owners (device nodes are left out: the
    runtime makes /dev)."""
    require_root("unpacking a root file system")
    dest.mkdir(parents=True, exist_ok=True)
    run_logged(
        [
            "tar",
            "--extract",
            "--file",
            str(tarball),
            "--directory",
            str(dest),
            "--numeric-owner",
            "--same-permissions",
            "--exclude=./dev/*",
        ],
        log,
    )


def run_inside(
    rootfs: Path,
    argv: Sequence[str],
    log: Path,
    env: dict[str, str] | None = None,
    ro_binds: Sequence[tuple[Path, str]] = (),
) -> None:
    """Run ``argv`` as root inside ``rootfs`` (bubblewrap; no network, clean environment).

    ``ro_binds`` are (host path, path inside) pairs mounted read-only; put them under /tmp,
    which is a private tmpfs, so their mount points never end up in the image.
    """
    require_tools("bwrap")
    full_env = {"PATH": SYSTEM_PATH, "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
    cmd = [
        "bwrap",
        "--bind",
        str(rootfs),
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-uts",
        "--die-with-parent",
        "--clearenv",
    ]
    for key, value in sorted(full_env.items()):
        cmd += ["--setenv", key, value]
    for src, dst in ro_binds:
        cmd += ["--ro-bind", str(src), dst]
    cmd += ["--chdir", "/", *argv]
    run_logged(cmd, log)
