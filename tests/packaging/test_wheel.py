"""The package as a user gets it: ``python -m build`` makes an sdist and a wheel, and the wheel
installed into a clean venv gives the enabled server extension, the prebuilt lab extension, the
``primehub-job`` command, the jobs hub service and the spawner.

Needs the package registries (the venv installs the wheel's dependencies with the machine's pip
configuration) and Node.js only when the lab extension is stale (setup.py rebuilds it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from localk8s import images
from localk8s.rootfs import file_lock

PROJECT = Path(__file__).resolve().parents[2]
LAB = "share/jupyter/labextensions/jupyterlab-primehub"

pytestmark = pytest.mark.timeout(420)


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{out[-3000:]}"
    return out


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist and wheel from ``python -m build`` (the wheel is built from the sdist)."""
    out = tmp_path_factory.mktemp("dist")
    # The lock the image build holds while it builds the wheel: both write the checkout's build/.
    with file_lock(images.images_dir() / "locks" / "wheel.lock"):
        _run([sys.executable, "-m", "build", "--outdir", str(out), str(PROJECT)], cwd=out)
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    [found] = dist.glob("jupyterhub_primehub-*-py3-none-any.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with nothing but the wheel and its dependencies."""
    root = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", str(root)], cwd=root.parent)
    _run(
        # (no bytecode compiled ahead: it is slow and nothing here checks it)
        [
            str(root / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            str(wheel),
        ],
        cwd=root.parent,
        env=_user_env(root),
        timeout=400,
    )
    return root


def _user_env(root: Path) -> dict[str, str]:
    """The environment of someone who activated the venv (nothing of this test run leaks in)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER", "PYTHON", "VIRTUAL_ENV", "CONDA"))
    }
    env["PATH"] = f"{root / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    env["VIRTUAL_ENV"] = str(root)
    return env


def _in_venv(venv: Path, *cmd: str, tmp_path: Path) -> str:
    # cwd is an empty folder: the project checkout must not be importable from the cwd.
    return _run([str(venv / "bin" / cmd[0]), *cmd[1:]], cwd=tmp_path, env=_user_env(venv))


def test_build_makes_an_sdist_and_a_wheel(dist: Path, wheel: Path) -> None:
    [sdist] = dist.glob("jupyterhub_primehub-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    # The sdist can rebuild the lab extension and also carries it prebuilt.
    assert {"setup.py", "setup.cfg", "labextension/package.json", "labextension/src/index.ts"} <= (
        names
    )
    assert "jupyterlab_primehub/labextension/package.json" in names
    assert not any("node_modules" in name for name in names)
    with zipfile.ZipFile(wheel) as zf:
        members = set(zf.namelist())
    data = "jupyterhub_primehub-0.1.0.data/data"
    assert f"{data}/{LAB}/package.json" in members
    assert any(m.startswith(f"{data}/{LAB}/static/remoteEntry.") for m in members)
    assert f"{data}/etc/jupyter/jupyter_server_config.d/jupyterlab_primehub.json" in members
    assert "primehub_spawner/spawner.py" in members
    # the four processes' packages and their contract
    assert "jupyterlab_primehub/jobs/service.py" in members
    assert "primehub_executor/run.py" in members
    assert "primehub_jobs_contract/executor.py" in members
    assert "primehub_cli/main.py" in members  # the `primehub` command line
    assert not any(m.startswith(("localk8s/", "tests/")) for m in members)


def test_server_extension_is_enabled(venv: Path, tmp_path: Path) -> None:
    out = _in_venv(venv, "jupyter", "server", "extension", "list", tmp_path=tmp_path)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert re.search(r"^\s*jupyterlab_primehub enabled\s*$", plain, re.M), plain
    assert re.search(r"jupyterlab_primehub( \S+)? OK", plain), plain  # "<name> <version> OK"


def test_lab_extension_is_installed_and_enabled(venv: Path, tmp_path: Path) -> None:
    out = _in_venv(venv, "jupyter", "labextension", "list", tmp_path=tmp_path)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    line = next((x for x in plain.splitlines() if "jupyterlab-primehub" in x), None)
    assert line is not None, plain
    assert "enabled" in line and "OK" in line, line
    assert "(python, jupyterhub-primehub)" in line, line
    assert (venv / LAB / "package.json").is_file()


def test_primehub_job_command(venv: Path, tmp_path: Path) -> None:
    out = _in_venv(venv, "primehub-job", "--help", tmp_path=tmp_path)
    assert "usage" in out.lower()
    out = _in_venv(venv, "primehub", "--help", tmp_path=tmp_path)
    assert "notebook" in out and "schedule" in out


def test_jobs_hub_service_runs(venv: Path, tmp_path: Path) -> None:
    out = _in_venv(venv, "python", "-m", "primehub_spawner.jobs", "--help", tmp_path=tmp_path)
    assert "--catalog" in out


def test_spawner_comes_from_the_installed_wheel(venv: Path, tmp_path: Path) -> None:
    code = (
        "import primehub_spawner, kubespawner\n"
        "from primehub_spawner import PrimeHubSpawner\n"
        "assert issubclass(PrimeHubSpawner, kubespawner.KubeSpawner)\n"
        "print(primehub_spawner.__file__)\n"
    )
    out = _in_venv(venv, "python", "-c", code, tmp_path=tmp_path)
    assert str(venv / "lib") in out, out
    # The hub command of the venv works too (PrimeHubSpawner is named in its config).
    help_all = _in_venv(venv, "jupyterhub", "--help-all", tmp_path=tmp_path)
    assert "--JupyterHub.spawner_class" in help_all


def test_spawn_form_renders_from_the_installed_wheel(venv: Path, tmp_path: Path) -> None:
    # the form's template is package data: a wheel without it fails every spawn page with a 500
    code = (
        "from primehub_spawner.catalog import Catalog\n"
        "from primehub_spawner.form import render_form\n"
        "catalog = Catalog.from_dict({\n"
        "    'instanceTypes': {'cpu-1': {'displayName': 'CPU One', 'cpu': 1, 'memory': '1Gi'}},\n"
        "    'images': {'base': {'displayName': 'Base', 'url': 'base:1'}},\n"
        "    'groups': {'team': {'members': ['alice'], 'instanceTypes': ['cpu-1'],\n"
        "                        'images': ['base']}},\n"
        "})\n"
        "print(render_form(catalog.for_user('alice', []), {}))\n"
    )
    out = _in_venv(venv, "python", "-c", code, tmp_path=tmp_path)
    assert 'name="instance_type__team"' in out and "CPU One" in out
