"""Build hook: metadata lives in setup.cfg; this file only builds and ships the lab extension.

`pip install .` and `pip install -e .` both run `build_py`, which builds the JupyterLab extension
from `labextension/` into `jupyterlab_primehub/labextension/` (with `jlpm install` first when the
node modules are missing or stale). The build is skipped when the built assets are newer than
every source file. `install_data` then ships the built extension PREBUILT under
`share/jupyter/labextensions/jupyterlab-primehub` (with `install.json`) and enables the server
extension through `etc/jupyter/jupyter_server_config.d/jupyterlab_primehub.json`.

Environment:
  PRIMEHUB_SKIP_LABEXTENSION_BUILD=1  ship whatever is already built (no Node.js needed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

try:
    from setuptools.command.install_data import install_data
except ImportError:  # setuptools versions that only ship the distutils command
    from distutils.command.install_data import install_data

HERE = Path(__file__).resolve().parent
JS_SRC = HERE / "labextension"
BUILT = HERE / "jupyterlab_primehub" / "labextension"
LAB_NAME = "jupyterlab-primehub"
LAB_DEST = f"share/jupyter/labextensions/{LAB_NAME}"
SERVER_CONFIG = "jupyter-config/server-config/jupyterlab_primehub.json"

# Inputs of the TypeScript build: a change to any of them makes the built assets stale.
JS_INPUTS = ("src", "style", "schema", "package.json", "yarn.lock", "tsconfig.json")


def _newest_mtime(paths: list[Path]) -> float:
    newest = 0.0
    for path in paths:
        if path.is_dir():
            for child in path.rglob("*"):
                if child.is_file():
                    newest = max(newest, child.stat().st_mtime)
        elif path.is_file():
            newest = max(newest, path.stat().st_mtime)
    return newest


def _build_env() -> dict[str, str]:
    # `jlpm` and `jupyter-builder` are console scripts of the jupyter-builder build requirement;
    # in an isolated pip build they live next to this interpreter or in its scripts dir.
    env = dict(os.environ)
    extra = [str(Path(sys.executable).parent), sysconfig.get_path("scripts")]
    env["PATH"] = os.pathsep.join([*extra, env.get("PATH", "")])
    return env


def _run(cmd: list[str], env: dict[str, str]) -> None:
    print("labextension:", " ".join(cmd), flush=True)
    subprocess.check_call(cmd, cwd=JS_SRC, env=env)  # noqa: S603 (fixed argv, no shell)


def build_labextension() -> None:
    """Build the lab extension into jupyterlab_primehub/labextension unless it is up to date."""
    built_marker = BUILT / "package.json"
    if os.environ.get("PRIMEHUB_SKIP_LABEXTENSION_BUILD"):
        print("labextension: build skipped (PRIMEHUB_SKIP_LABEXTENSION_BUILD)", flush=True)
        return
    if not (JS_SRC / "package.json").exists():
        # An sdist without the TypeScript sources: ship the prebuilt assets it carries.
        if not built_marker.exists():
            raise SystemExit("labextension: neither TypeScript sources nor built assets found")
        return
    sources = _newest_mtime([JS_SRC / name for name in JS_INPUTS])
    if built_marker.exists() and built_marker.stat().st_mtime >= sources:
        print("labextension: up to date, not rebuilding", flush=True)
        return
    if shutil.which("node") is None:
        raise SystemExit(
            "labextension: Node.js is needed to build the JupyterLab extension "
            "(install nodejs, or set PRIMEHUB_SKIP_LABEXTENSION_BUILD=1 to skip it)"
        )
    env = _build_env()
    jlpm = shutil.which("jlpm", path=env["PATH"])
    if jlpm is None:
        raise SystemExit("labextension: jlpm not found; install jupyter-builder>=1.2.0,<2")
    state = JS_SRC / "node_modules" / ".yarn-state.yml"
    lock = JS_SRC / "yarn.lock"
    if not state.exists() or state.stat().st_mtime < max(
        lock.stat().st_mtime, (JS_SRC / "package.json").stat().st_mtime
    ):
        _run([jlpm, "install"], env)
    _run([jlpm, "build"], env)
    # Ship install.json inside the built folder too, so `jupyter labextension develop`
    # (a symlink to this folder) reports the same package as a regular install.
    shutil.copy2(HERE / "install.json", BUILT / "install.json")
    built_marker.touch()


def _lab_data_files() -> list[tuple[str, list[str]]]:
    """data_files entries for every built asset, mirrored under share/jupyter/labextensions."""
    entries: dict[str, list[str]] = {}
    for path in sorted(BUILT.rglob("*")):
        if path.is_file():
            target = Path(LAB_DEST, path.parent.relative_to(BUILT)).as_posix()
            entries.setdefault(target, []).append(path.relative_to(HERE).as_posix())
    if "install.json" not in {Path(src).name for src in entries.get(LAB_DEST, [])}:
        entries.setdefault(LAB_DEST, []).append("install.json")
    return sorted(entries.items())


class BuildPyWithLabextension(build_py):
    """build_py that first builds the JupyterLab extension (when stale)."""

    def run(self) -> None:
        build_labextension()
        super().run()


class InstallDataWithLabextension(install_data):
    """install_data that lists the built extension's files at run time (they exist only after
    build_py ran, so setup() cannot list them up front)."""

    def run(self) -> None:
        if not (BUILT / "package.json").exists():
            build_labextension()
        lab = [entry for entry in _lab_data_files() if entry not in self.data_files]
        self.data_files = [*self.data_files, *lab]
        super().run()


class DistributionWithEditableData(Distribution):
    """setuptools' editable_wheel installs data files only if `dist.has_data()` exists, but
    Distribution names it `has_data_files()`; without this alias `pip install -e .` would ship
    neither the lab extension nor the server-extension config."""

    def has_data(self) -> bool:
        return self.has_data_files()


setup(
    distclass=DistributionWithEditableData,
    data_files=[("etc/jupyter/jupyter_server_config.d", [SERVER_CONFIG])],
    cmdclass={"build_py": BuildPyWithLabextension, "install_data": InstallDataWithLabextension},
)
