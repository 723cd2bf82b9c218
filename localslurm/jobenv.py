"""A Python environment every local user can run, for the servers the SLURM jobs start.

Jobs run as the demo and test users. When the project's venv runs on an interpreter those
users may not execute (e.g. one under ``/root``), ``ensure_job_env`` makes a venv of the
system Python of the same version that sees the project venv's packages (its site-packages
added as a site directory, so editable installs work) and carries copies of its console
scripts. Otherwise the project venv itself is the job environment.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path


def _others_may_run(path: Path) -> bool:
    """Whether a user other than the owner may execute ``path`` (every parent searchable)."""
    real = path.resolve()
    for parent in real.parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            return False
    return bool(real.stat().st_mode & stat.S_IXOTH)


def ensure_job_env(target: Path, venv: Path | None = None) -> Path:
    """The prefix of an environment local users can run (see the module docstring)."""
    venv = Path(venv or sys.prefix)
    for needed in (Path(sysconfig.get_paths()["purelib"]), Path(__file__).parent):
        if not _others_may_run(needed) or not needed.stat().st_mode & stat.S_IROTH:
            raise RuntimeError(
                f"local users cannot read {needed} (the project and its venv): SLURM jobs run "
                "as those users; check out the project where every user may read it"
            )
    if _others_may_run(Path(sys.executable)):
        return venv
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    system_python = Path(f"/usr/bin/python{version}")
    if not system_python.exists() or not _others_may_run(system_python):
        raise RuntimeError(
            f"local users cannot run {sys.executable} and there is no /usr/bin/python{version} "
            "to build a job environment from; make the venv from a system Python"
        )
    site_packages = Path(sysconfig.get_paths()["purelib"])
    marker = target / ".made-for"
    if not (marker.exists() and marker.read_text() == str(venv)):
        subprocess.run(
            [str(system_python), "-m", "venv", "--without-pip", "--clear", str(target)],
            check=True,
            capture_output=True,
        )
        pth = target / "lib" / f"python{version}" / "site-packages" / "project-venv.pth"
        pth.write_text(f"import site; site.addsitedir({str(site_packages)!r})\n")
        marker.write_text(str(venv))
    # Jupyter finds extensions (JupyterLab, the PrimeHub lab and server extensions) and their
    # enabling config under sys.prefix: those of the project venv
    for sub in ("etc/jupyter", "share/jupyter"):
        link, source = target / sub, venv / sub
        if source.is_dir() and not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(source)
    # the venv's console scripts, pointed at this interpreter (refreshed on every call: cheap)
    for script in (venv / "bin").iterdir():
        if script.name.startswith(("python", "activate", "pip")) or not script.is_file():
            continue
        try:
            with open(script, "rb") as f:
                first = f.readline()
        except OSError:
            continue
        if not first.startswith(f"#!{venv}/bin/python".encode()):
            continue
        copy = target / "bin" / script.name
        text = script.read_bytes().split(b"\n", 1)[1]
        body = f"#!{target}/bin/python\n".encode() + text
        if not copy.exists() or copy.read_bytes() != body:
            copy.write_bytes(body)
            os.chmod(copy, 0o755)
    return target
