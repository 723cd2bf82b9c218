"""Start, stop and inspect the local SLURM: munged, slurmctld and slurmd as processes of their own.

``up`` is idempotent and fast when the cluster already runs with the same settings (one
``sinfo``); it writes the files of :mod:`localslurm.config`, makes the local Unix users, starts
what is not running and waits until the node takes jobs. ``down`` stops the daemons by their
recorded PIDs. Needs root (slurmd runs jobs as other users) and Debian's ``slurm-wlm`` and
``munge`` packages.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

from localslurm.config import DEFAULT_USERS, Settings, default_state_dir, render_files
from localslurm.jobenv import ensure_job_env

BINARIES = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")
DAEMONS = ("munged", "slurmctld", "slurmd")
READY_STATES = ("idle", "mixed", "allocated", "completing")


class SlurmError(RuntimeError):
    """The local cluster cannot start or answer; the message says what to do."""


def _run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 30) -> str:
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run(
        argv, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise SlurmError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def check_requirements() -> None:
    """Root and the Debian packages, or a :class:`SlurmError` saying what is missing."""
    missing = [b for b in BINARIES if shutil.which(b) is None and not Path("/usr/sbin", b).exists()]
    if missing:
        raise SlurmError(
            f"missing {', '.join(missing)}: install the Debian packages slurm-wlm and munge "
            "(make setup does: they are in the Makefile's APT_PACKAGES)"
        )
    if os.geteuid() != 0:
        raise SlurmError("localslurm needs root (slurmd starts jobs as the users who submit them)")


def _node_memory_mib() -> int:
    """The node's memory as slurmd counts it (``slurmd -C``), so registration never fails."""
    out = _run(["slurmd", "-C"])
    match = re.search(r"RealMemory=(\d+)", out)
    if not match:
        raise SlurmError(f"slurmd -C printed no RealMemory: {out!r}")
    return int(match.group(1))


def settings(state_dir: Path | None = None) -> Settings:
    """This machine's settings (node name, memory) with the state in ``state_dir``."""
    return Settings(
        node=socket.gethostname().split(".")[0],
        memory_mib=_node_memory_mib(),
        state_dir=(state_dir or default_state_dir()).resolve(),
    )


def _pid(s: Settings, daemon: str) -> int | None:
    """The daemon's PID if it runs (the recorded PID alive and still that program)."""
    try:
        pid = int(s.pid_file(daemon).read_text().split()[0])
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError, IndexError):
        return None
    return pid if comm == daemon else None


def node_state(s: Settings) -> str:
    """The node's state as ``sinfo`` reports it (e.g. ``idle``), or ``""`` when no answer."""
    try:
        out = _run(["sinfo", "-h", "-N", "-o", "%T"], env=s.env(), timeout=10)
    except (SlurmError, subprocess.TimeoutExpired):
        return ""
    return out.strip().splitlines()[0].strip() if out.strip() else ""


def status(state_dir: Path | None = None) -> dict:
    """What runs: each daemon's PID, the node's state and the SLURM_CONF to use."""
    s = settings(state_dir)
    pids = {d: _pid(s, d) for d in DAEMONS}
    state = node_state(s) if all(pids.values()) else ""
    ready = state.rstrip("*~#!%$@^-") in READY_STATES
    return {
        "running": ready,
        "pids": pids,
        "node": s.node,
        "state": state,
        "conf": str(s.conf),
        "python_prefix": _job_env(s),
    }


def _job_env(s: Settings) -> str:
    try:
        return str(ensure_job_env(s.state_dir / "jobenv"))
    except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
        raise SlurmError(f"no Python the jobs' users can run: {e}") from None


def ensure_users(users: tuple[str, ...] | list[str]) -> None:
    """Local Unix users with a home each (``useradd -m``), created only when missing."""
    for user in users:
        try:
            pwd.getpwnam(user)
        except KeyError:
            _run(["useradd", "--create-home", "--shell", "/bin/bash", user])


def _write_files(s: Settings) -> bool:
    """Write the cluster's files; True when any of them changed."""
    changed = False
    for name, (text, mode) in render_files(s).items():
        path = s.state_dir / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed = True
        path.chmod(mode)
    return changed


def _prepare(s: Settings) -> bool:
    """Directories, fake GPU devices, munge key and files; True when slurm's files changed."""
    for sub in ("ctld", "spool", "dev"):
        (s.state_dir / sub).mkdir(parents=True, exist_ok=True)
    s.tmp_root.mkdir(parents=True, exist_ok=True)
    s.tmp_root.chmod(0o755)
    for i in range(s.gpus):
        dev = s.state_dir / "dev" / f"nvidia{i}"
        if not dev.exists():
            try:  # a character device keeps slurmd's log quiet; a plain file counts too
                os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(195, i))
            except OSError:
                dev.touch()
    munge = pwd.getpwnam("munge")
    s.munge_dir.mkdir(parents=True, exist_ok=True)
    os.chown(s.munge_dir, munge.pw_uid, munge.pw_gid)
    s.munge_dir.chmod(0o755)  # users reach the socket; the key file is 0600
    key = s.munge_dir / "munge.key"
    if not key.exists():
        _run(["runuser", "-u", "munge", "--", "mungekey", "--create", f"--keyfile={key}"])
    return _write_files(s)


def _start(s: Settings, daemon: str, argv: list[str]) -> None:
    """Start ``daemon`` in its own session (it outlives this process), recording its PID."""
    log = open(s.log_file(daemon) if daemon == "munged" else s.state_dir / f"{daemon}.out", "ab")
    with log:
        proc = subprocess.Popen(
            argv,
            env=dict(os.environ, SLURM_CONF=str(s.conf)),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    s.pid_file(daemon).write_text(f"{proc.pid}\n")


def _start_munged(s: Settings) -> None:
    pid_file = s.munge_dir / "munged.pid"
    argv = [
        "runuser", "-u", "munge", "--", "munged", "--foreground", "--force",
        f"--socket={s.munge_socket}", f"--key-file={s.munge_dir / 'munge.key'}",
        f"--pid-file={pid_file}", f"--log-file={s.munge_dir / 'munged.log'}",
        f"--seed-file={s.munge_dir / 'seed'}",
    ]  # fmt: skip
    _start(s, "runuser-munged", argv)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            pid = int(pid_file.read_text().split()[0])
            if s.munge_socket.exists():
                s.pid_file("munged").write_text(f"{pid}\n")
                return
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.05)
    raise SlurmError(f"munged did not start; see {s.munge_dir / 'munged.log'}")


def _stop_daemon(s: Settings, daemon: str, timeout: float = 10) -> None:
    pid = _pid(s, daemon)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid(s, daemon) == pid and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid(s, daemon) == pid:
            os.kill(pid, signal.SIGKILL)
    s.pid_file(daemon).unlink(missing_ok=True)


def down(state_dir: Path | None = None) -> None:
    """Stop slurmd, slurmctld and munged (those this state directory recorded)."""
    s = settings(state_dir)
    for daemon in reversed(DAEMONS):
        _stop_daemon(s, daemon)
    s.pid_file("runuser-munged").unlink(missing_ok=True)


def up(
    state_dir: Path | None = None, users: tuple[str, ...] = DEFAULT_USERS, timeout: float = 60
) -> dict:
    """Start the cluster (a no-op when it runs with the same files) and wait for the node."""
    check_requirements()
    s = settings(state_dir)
    s.state_dir.mkdir(parents=True, exist_ok=True)
    s.state_dir.chmod(0o755)  # jobs run as the users: the job Python and scratch are in here
    ensure_users(users)
    changed = _prepare(s)
    if changed:  # new settings: daemons read their files at start only
        for daemon in ("slurmd", "slurmctld"):
            _stop_daemon(s, daemon)
    elif status(state_dir)["running"]:
        return status(state_dir)
    if _pid(s, "munged") is None:
        _start_munged(s)
    if _pid(s, "slurmctld") is None:
        _start(s, "slurmctld", ["slurmctld", "-D", "-i", "-f", str(s.conf)])
    if _pid(s, "slurmd") is None:
        _start(s, "slurmd", ["slurmd", "-D", "-f", str(s.conf)])
    deadline = time.monotonic() + timeout
    resumed = False
    state = ""
    while time.monotonic() < deadline:
        for daemon in ("slurmctld", "slurmd"):
            if _pid(s, daemon) is None:
                raise SlurmError(f"{daemon} exited; see {s.log_file(daemon)}")
        state = node_state(s)
        base = state.rstrip("*~#!%$@^-")
        if base in READY_STATES:
            return status(state_dir)
        if base in ("drained", "draining", "down") and not resumed:
            # a node drained by an earlier bad registration: valid now, so take it back
            try:
                _run(["scontrol", "update", f"nodename={s.node}", "state=resume"], env=s.env())
                resumed = True
            except SlurmError:
                pass
        time.sleep(0.2)
    raise SlurmError(
        f"the node did not become ready within {timeout:.0f}s (state {state!r}); "
        f"see {s.log_file('slurmctld')} and {s.log_file('slurmd')}"
    )


def as_json(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True)
