"""The local cluster's container images, built on this machine without Docker or a registry.

``python -m localk8s images [--force] [--json] [--check] [NAME ...]`` builds (or reuses) three
images and prints their references; :func:`build` does the same from Python and
:func:`import_into` loads one into a containerd. See docs/images.md.

* ``pause``: ``localk8s/pause.c`` compiled with ``gcc -static -Os``, the only file of the image;
  the kubelet's pod sandbox image.
* ``primehub-notebook``: JupyterLab with the project's server and lab extensions, ipykernel,
  jupyterhub-singleuser and Jupyter Kernel Gateway; also the notebook-job executor image.
* ``primehub-hub``: JupyterHub at the versions of the zero-to-jupyterhub 4.4.0 hub image with the
  project (PrimeHubSpawner, the jobs service) and configurable-http-proxy.

The two Python images start from one Debian 12 minbase root file system made by mmdebstrap with
the machine's own apt sources (:mod:`localk8s.rootfs`, cached per package list). The project's
wheel is built once per source state; the Python packages each image needs are collected on the
host into a wheelhouse (``pip wheel``, with the machine's pip configuration), and inside the root
file system a venv (``/opt/venv``) gets them from there with ``PIP_NO_INDEX=1`` by running the
image's own ``images/<image>/install.sh``, the script its Dockerfile runs too. The result is
written as an OCI layout tar (:mod:`localk8s.oci`).

Everything is cached under ``~/.cache/jupyterhub-primehub/images/`` (``LOCALK8S_CACHE`` moves it):
an image is rebuilt only when its inputs change, and its tag is a hash of those inputs (the
image-building code, the install script and requirements, the Debian package list and the project
sources that go into the wheel), so a reference never names two different images. Cache entries
appear atomically (temporary name, then rename) and file locks keep two builds from making the same
entry at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from localk8s import oci, rootfs
from localk8s.build import cache_root
from localk8s.rootfs import RootfsError, file_lock

#: Where the project lives (the images are built from this checkout).
PROJECT = Path(__file__).resolve().parent.parent
#: The registry part of every reference: images are never pushed or pulled.
REGISTRY = "localhost"
NAMES = ("pause", "primehub-notebook", "primehub-hub")
#: The venv the Python images install into (first on their PATH).
VENV = "/opt/venv"
#: Debian's own Python on the host: the same version as the images' python3 (Debian 12's), so
#: wheels that pip picks for it (``pip --python``) install in the images.
DEBIAN_PYTHON = "/usr/bin/python3"
#: Debian packages of the shared base root file system (one list, so both images share it).
BASE_PACKAGES = ("ca-certificates", "python3", "python3-venv", "tini", "nodejs", "git")
GCC_FLAGS = ("-static", "-Os", "-s", "-Wall", "-Wextra", "-Werror")

#: The code that builds the images: a change to it changes every image's tag.
BUILD_CODE = ("localk8s/images.py", "localk8s/oci.py", "localk8s/rootfs.py", "localk8s/pause.c")
#: The project files that go into (or decide) the wheel. Docs and tests are not among them.
WHEEL_SOURCES = (
    "primehub_spawner",
    "jupyterlab_primehub",
    "jupyter-config",
    "labextension/src",
    "labextension/style",
    "labextension/schema",
    "labextension/package.json",
    "labextension/yarn.lock",
    "labextension/tsconfig.json",
    "labextension/.yarnrc.yml",
    "setup.cfg",
    "setup.py",
    "pyproject.toml",
    "MANIFEST.in",
    "install.json",
)
#: Build outputs inside WHEEL_SOURCES (made from the sources above, so not inputs themselves).
WHEEL_SOURCES_SKIP = ("jupyterlab_primehub/labextension/",)
#: Where configurable-http-proxy's version range lives (also used by `make setup`).
PROXY_PACKAGE_JSON = "package.json"
PROXY_DIR = "/opt/configurable-http-proxy"

PYTHON_PATH = f"{VENV}/bin:{rootfs.SYSTEM_PATH}"


class ImageBuildError(RuntimeError):
    """An image could not be built; the message names the step and its log."""


@dataclass(frozen=True)
class BuiltImage:
    """An image in the cache: its name, full reference and OCI layout tar."""

    name: str
    ref: str
    tar: Path


@dataclass(frozen=True)
class PythonImage:
    """How one Python image is made from the base root file system."""

    name: str
    #: Folder under images/ with install.sh and requirements.txt (and the Dockerfile).
    directory: str
    #: Extras of the project wheel that install.sh installs (the wheelhouse must hold them).
    wheel_extras: tuple[str, ...]
    config: oci.ImageConfig
    #: Directories to create owned by the image's user, besides its home.
    user_dirs: tuple[str, ...] = ()
    #: Copy configurable-http-proxy (npm, pure JavaScript) into the image.
    with_proxy: bool = False
    home: str = "/home/jovyan"
    uid: int = 1000
    gid: int = 100  # the "users" group of Debian's base-passwd, as in Jupyter's images

    @property
    def inputs(self) -> tuple[str, ...]:
        """The files under images/ that decide the image."""
        return (f"images/{self.directory}/install.sh", f"images/{self.directory}/requirements.txt")


def _python_env(home: str, extra: Sequence[str] = ()) -> tuple[str, ...]:
    return (
        f"PATH={PYTHON_PATH}",
        f"VIRTUAL_ENV={VENV}",
        "LANG=C.UTF-8",
        f"HOME={home}",
        "SHELL=/bin/bash",
        *extra,
    )


PYTHON_IMAGES: dict[str, PythonImage] = {
    "primehub-notebook": PythonImage(
        name="primehub-notebook",
        directory="notebook",
        wheel_extras=("kernel-gateway",),
        config=oci.ImageConfig(
            env=_python_env("/home/jovyan", ("NB_USER=jovyan", "NB_UID=1000", "NB_GID=100")),
            user="1000:100",
            working_dir="/home/jovyan",
            # tini reaps the kernels' orphans, as in Jupyter's docker-stacks images.
            entrypoint=("tini", "-g", "--"),
            cmd=("jupyterhub-singleuser",),
            labels={"org.opencontainers.image.title": "primehub-notebook"},
        ),
    ),
    "primehub-hub": PythonImage(
        name="primehub-hub",
        directory="hub",
        wheel_extras=(),
        config=oci.ImageConfig(
            env=_python_env("/home/jovyan"),
            user="1000:100",
            working_dir="/srv/jupyterhub",
            entrypoint=("tini", "--"),
            cmd=("jupyterhub",),
            labels={"org.opencontainers.image.title": "primehub-hub"},
        ),
        user_dirs=("/srv/jupyterhub",),
        with_proxy=True,
    ),
}

PAUSE_CONFIG = oci.ImageConfig(
    env=("PATH=/",),
    user="65535:65535",
    entrypoint=("/pause",),
    labels={"org.opencontainers.image.title": "pause"},
)

Say = Callable[[str], None]


def progress(msg: str) -> None:
    print(f"[localk8s images] {msg}", file=sys.stderr, flush=True)


# ---- cache layout ---------------------------------------------------------------------------


def images_dir() -> Path:
    """The images cache: ``<cache root>/images``."""
    return cache_root() / "images"


def _logs_dir() -> Path:
    return images_dir() / "logs"


def _log(name: str) -> Path:
    return _logs_dir() / f"{name}.log"


def _lock(name: str) -> Path:
    return images_dir() / "locks" / f"{name}.lock"


def _fresh_log(name: str) -> Path:
    log = _log(name)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {name}\n")
    return log


#: Cache entries younger than this are never pruned (another build may be using them).
PRUNE_MIN_AGE = 3600.0


def _prune(folder: Path, pattern: str, keep: Path, spare: int = 2) -> None:
    """Remove old entries of ``folder`` matching ``pattern``: all but ``keep``, the ``spare``
    most recent others (switching between checkouts stays cheap) and any younger than
    PRUNE_MIN_AGE (a build running with other sources may have just made it)."""
    others = []
    for path in folder.glob(pattern):
        if path == keep or path.name.startswith("."):
            continue
        try:
            others.append((path.stat().st_mtime, path))
        except FileNotFoundError:
            continue  # pruned by another build meanwhile
    others.sort(reverse=True)
    now = time.time()
    for mtime, old in others[spare:]:
        if now - mtime < PRUNE_MIN_AGE:
            continue
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


# ---- inputs and references ------------------------------------------------------------------


def _skipped(rel: str) -> bool:
    parts = rel.split("/")
    return (
        "__pycache__" in parts
        or rel.endswith((".pyc", ".pyo"))
        or any(rel.startswith(prefix) for prefix in WHEEL_SOURCES_SKIP)
    )


def files_digest(paths: Iterable[str], project: Path = PROJECT) -> str:
    """sha256 over the names and contents of ``paths`` (files, or folders walked recursively)
    relative to ``project``; a missing path counts as such."""
    outer = hashlib.sha256()
    for rel in paths:
        top = project / rel
        if top.is_file():
            files = [top]
        elif top.is_dir():
            files = sorted(p for p in top.rglob("*") if p.is_file())
        else:
            outer.update(f"{rel}\0missing\0".encode())
            continue
        for path in files:
            name = path.relative_to(project).as_posix()
            if _skipped(name):
                continue
            outer.update(name.encode() + b"\0")
            outer.update(hashlib.sha256(path.read_bytes()).digest())
    return outer.hexdigest()


def wheel_key(project: Path = PROJECT) -> str:
    """Cache key of the project wheel: the sources that go into it."""
    return files_digest(WHEEL_SOURCES, project)[:16]


def inputs_hash(name: str, project: Path = PROJECT) -> str:
    """sha256 of everything that decides image ``name`` (its tag is the first 12 hex digits)."""
    _check_name(name)
    parts = [name, files_digest(BUILD_CODE, project)]
    if name == "pause":
        parts.append(" ".join(GCC_FLAGS))
    else:
        spec = PYTHON_IMAGES[name]
        parts += [
            files_digest(WHEEL_SOURCES, project),
            files_digest(spec.inputs, project),
            rootfs.base_key(BASE_PACKAGES),
            ",".join(spec.wheel_extras),
            json.dumps(spec.config.to_json(), sort_keys=True),
        ]
        if spec.with_proxy:
            parts.append(files_digest([PROXY_PACKAGE_JSON], project))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def ref(name: str, project: Path = PROJECT) -> str:
    """The reference of image ``name`` for the current inputs (``localhost/<name>:<hash>``);
    cheap, builds nothing."""
    return f"{REGISTRY}/{name}:{inputs_hash(name, project)[:12]}"


def tar_path(name: str, project: Path = PROJECT) -> Path:
    """Where the OCI layout tar of image ``name`` for the current inputs is (or will be)."""
    return _tar_of(ref(name, project))


def _tar_of(image_ref: str) -> Path:
    repo, tag = image_ref.rsplit("/", 1)[1].rsplit(":", 1)
    return images_dir() / f"{repo}-{tag}.tar"


def is_built(name: str, project: Path = PROJECT) -> bool:
    """True when the image for the current inputs is in the cache."""
    return tar_path(name, project).is_file()


def _check_name(name: str) -> None:
    if name not in NAMES:
        raise ImageBuildError(f"unknown image {name!r}; known: {', '.join(NAMES)}")


# ---- prerequisites: wheel, wheelhouse, configurable-http-proxy -------------------------------


def project_wheel(force: bool = False, say: Say = progress) -> Path:
    """The project's wheel for the current sources (built with ``python -m build`` when missing;
    this also builds the JupyterLab extension through setup.py when it is stale)."""
    folder = images_dir() / "wheels"
    final = folder / wheel_key()
    found = sorted(final.glob("*.whl")) if final.is_dir() else []
    if found and not force:
        return found[0]
    with file_lock(_lock("wheel")):
        found = sorted(final.glob("*.whl")) if final.is_dir() else []
        if found and not force:
            return found[0]
        log = _fresh_log("wheel")
        say(f"building the project wheel (log: {log})")
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
        try:
            try:
                import build  # noqa: F401  (the `build` package, in the test extra)

                cmd = [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp), str(PROJECT)]
            except ImportError:
                cmd = [
                    sys.executable,
                    "-m",
                    "pip",
                    "wheel",
                    "--no-deps",
                    "-w",
                    str(tmp),
                    str(PROJECT),
                ]
            rootfs.run_logged(cmd, log)
            wheels = sorted(tmp.glob("*.whl"))
            if len(wheels) != 1:
                raise ImageBuildError(f"expected one wheel from the build, got {wheels} ({log})")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _prune(folder, "*", final)
        wheel = next(final.glob("*.whl"))
        say(f"project wheel: {wheel}")
        return wheel


def debian_python_version() -> str:
    """The version of Debian's python3 on the host (``3.11.2`` on Debian 12)."""
    if not os.access(DEBIAN_PYTHON, os.X_OK):
        raise ImageBuildError(f"{DEBIAN_PYTHON} not found: apt-get install python3")
    proc = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def _wheelhouse_key(spec: PythonImage) -> str:
    text = "\n".join(
        [
            files_digest([f"images/{spec.directory}/requirements.txt", "setup.cfg"]),
            ",".join(spec.wheel_extras),
            debian_python_version(),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def wheelhouse(spec: PythonImage, wheel: Path, force: bool = False, say: Say = progress) -> Path:
    """A folder with every wheel ``spec``'s install.sh needs besides the project wheel, made on
    the host with ``pip wheel`` (the machine's pip configuration; sdists are built here) for
    Debian's python3, which is the images' Python too."""
    folder = images_dir() / "wheelhouse"
    final = folder / f"{spec.name}-{_wheelhouse_key(spec)}"
    if final.is_dir() and not force:
        return final
    with file_lock(_lock(f"{spec.name}-wheelhouse")):
        if final.is_dir() and not force:
            return final
        log = _fresh_log(f"{spec.name}-wheelhouse")
        say(f"{spec.name}: collecting wheels with pip on the host (log: {log})")
        requirements = PROJECT / "images" / spec.directory / "requirements.txt"
        extras = f"[{','.join(spec.wheel_extras)}]" if spec.wheel_extras else ""
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
        try:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "--python",
                DEBIAN_PYTHON,
                "wheel",
                "--wheel-dir",
                str(tmp),
                "--constraint",
                str(requirements),
                "--requirement",
                str(requirements),
                f"{wheel}{extras}",
            ]
            rootfs.run_logged(cmd, log)
            (tmp / wheel.name).unlink(missing_ok=True)  # the image gets the current one
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _prune(folder, f"{spec.name}-*", final)
        count = len(list(final.glob("*.whl")))
        say(f"{spec.name}: {count} wheels in {final}")
        return final


def proxy_node_modules(force: bool = False, say: Say = progress) -> Path:
    """node_modules with configurable-http-proxy (``npm install`` on the host of the version
    range in package.json; pure JavaScript, so it runs on the image's Debian nodejs)."""
    folder = images_dir() / "npm"
    final = folder / files_digest([PROXY_PACKAGE_JSON])[:16]
    if (final / "node_modules").is_dir() and not force:
        return final / "node_modules"
    if shutil.which("npm") is None:
        raise ImageBuildError("'npm' not found: apt-get install npm")
    with file_lock(_lock("configurable-http-proxy")):
        if (final / "node_modules").is_dir() and not force:
            return final / "node_modules"
        log = _fresh_log("configurable-http-proxy")
        say(f"installing configurable-http-proxy with npm on the host (log: {log})")
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
        try:
            shutil.copy2(PROJECT / PROXY_PACKAGE_JSON, tmp / "package.json")
            cmd = [
                "npm",
                "install",
                "--prefix",
                str(tmp),
                "--omit=dev",
                "--no-package-lock",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ]
            rootfs.run_logged(cmd, log)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _prune(folder, "*", final)
        return final / "node_modules"


def base_rootfs(force: bool = False, say: Say = progress) -> Path:
    """The shared Debian base tarball (mmdebstrap minbase + BASE_PACKAGES)."""
    folder = images_dir() / "rootfs"
    folder.mkdir(parents=True, exist_ok=True)
    tarball = rootfs.base_tarball(
        BASE_PACKAGES, folder, _lock("base-rootfs"), _log("base-rootfs"), say, force
    )
    _prune(folder, f"{rootfs.SUITE}-*.tar", tarball)
    return tarball


# ---- the images -----------------------------------------------------------------------------


def _layer_skip(arcname: str) -> bool:
    """Mount points keep their (empty) directory; what is in them is the runtime's."""
    top, _, rest = arcname.partition("/")
    return bool(rest) and top in ("dev", "proc", "sys", "tmp", "run")


def _write_image(
    name: str, image_ref: str, tree: Path, config: oci.ImageConfig, work: Path
) -> Path:
    """Write ``tree`` as the single layer of image ``image_ref`` into the cache; returns the tar."""
    layer = work / "layer.tar"
    blob = oci.write_layer(tree, layer, skip=_layer_skip)
    final = _tar_of(image_ref)
    tmp = images_dir() / f".{final.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        oci.write_archive(tmp, image_ref, [(layer, blob)], config)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
        layer.unlink(missing_ok=True)
    return final


def _build_pause(image_ref: str, say: Say) -> Path:
    rootfs.require_tools("gcc")
    work = Path(tempfile.mkdtemp(prefix="pause-", dir=images_dir() / "work"))
    try:
        tree = work / "rootfs"
        tree.mkdir()
        log = _fresh_log("pause")
        say(f"pause: gcc {' '.join(GCC_FLAGS)} localk8s/pause.c")
        rootfs.run_logged(
            ["gcc", *GCC_FLAGS, "-o", str(tree / "pause"), str(PROJECT / "localk8s" / "pause.c")],
            log,
        )
        os.chmod(tree / "pause", 0o755)
        return _write_image("pause", image_ref, tree, PAUSE_CONFIG, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build_python_image(
    spec: PythonImage,
    image_ref: str,
    base: Path,
    wheel: Path,
    wheels: Path,
    node_modules: Path | None,
    say: Say,
) -> Path:
    work = Path(tempfile.mkdtemp(prefix=f"{spec.name}-", dir=images_dir() / "work"))
    log = _fresh_log(spec.name)
    try:
        tree = work / "rootfs"
        stage = work / "build"
        say(f"{spec.name}: unpacking the base root file system (log: {log})")
        rootfs.unpack(base, tree, log)
        stage.mkdir()
        for rel in spec.inputs:
            shutil.copy2(PROJECT / rel, stage / Path(rel).name)
        shutil.copy2(wheel, stage / wheel.name)
        rootfs.run_inside(tree, ["python3", "-m", "venv", VENV], log)
        say(f"{spec.name}: running images/{spec.directory}/install.sh in it (pip, no index)")
        rootfs.run_inside(
            tree,
            ["sh", "/tmp/build/install.sh", f"/tmp/build/{wheel.name}"],
            log,
            env={
                "PATH": PYTHON_PATH,
                "VIRTUAL_ENV": VENV,
                "PIP_NO_INDEX": "1",
                "PIP_FIND_LINKS": "/tmp/wheels",
                "PIP_NO_CACHE_DIR": "1",
                "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            },
            ro_binds=[(wheels, "/tmp/wheels"), (stage, "/tmp/build")],
        )
        rootfs.run_inside(
            tree,
            [
                "useradd",
                "--uid",
                str(spec.uid),
                "--gid",
                str(spec.gid),
                "--create-home",
                "--home-dir",
                spec.home,
                "--shell",
                "/bin/bash",
                "jovyan",
            ],
            log,
        )
        for folder in spec.user_dirs:
            path = tree / folder.lstrip("/")
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, spec.uid, spec.gid)
        if spec.with_proxy:
            if node_modules is None:
                raise ImageBuildError(f"{spec.name}: configurable-http-proxy was not installed")
            dest = tree / PROXY_DIR.lstrip("/") / "node_modules"
            shutil.copytree(node_modules, dest, symlinks=True)
            script = dest / "configurable-http-proxy" / "bin" / "configurable-http-proxy"
            os.chmod(script, 0o755)
            link = tree / "usr" / "local" / "bin" / "configurable-http-proxy"
            link.symlink_to(
                f"{PROXY_DIR}/node_modules/configurable-http-proxy/bin/configurable-http-proxy"
            )
        shutil.rmtree(tree / "root" / ".cache", ignore_errors=True)
        say(f"{spec.name}: writing the OCI image")
        return _write_image(spec.name, image_ref, tree, spec.config, work)
    except RootfsError as exc:
        raise ImageBuildError(f"{spec.name}: {exc}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class _Plan:
    """One build run: prerequisites are made once (shared by the images) and in parallel."""

    force: bool
    say: Say
    #: The references, computed once when the build starts: sources edited during the build
    #: change neither what it reports nor where it writes.
    refs: dict[str, str]
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=8))
    _futures: dict[str, Future] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def once(self, key: str, fn: Callable[[], object]) -> Future:
        """The future of ``fn`` run at most once per plan under ``key``."""
        with self._lock:
            if key not in self._futures:
                self._futures[key] = self.pool.submit(fn)
            return self._futures[key]

    def base(self) -> Future:
        return self.once("base", lambda: base_rootfs(self.force, self.say))

    def wheel(self) -> Future:
        return self.once("wheel", lambda: project_wheel(self.force, self.say))

    def wheelhouse(self, spec: PythonImage) -> Future:
        return self.once(
            f"wheelhouse:{spec.name}",
            lambda: wheelhouse(spec, self.wheel().result(), self.force, self.say),
        )

    def node_modules(self) -> Future:
        return self.once("npm", lambda: proxy_node_modules(self.force, self.say))

    def image(self, name: str) -> Future:
        return self.once(f"image:{name}", lambda: self._image(name))

    def _image(self, name: str) -> BuiltImage:
        started = time.monotonic()
        image_ref = self.refs[name]
        if name == "pause":
            prerequisites: list[Future] = []
        else:
            spec = PYTHON_IMAGES[name]
            prerequisites = [self.base(), self.wheel(), self.wheelhouse(spec)]
            if spec.with_proxy:
                prerequisites.append(self.node_modules())
        for future in prerequisites:
            future.result()  # raise a prerequisite's error before taking the image lock
        with file_lock(_lock(name)):
            tar = _tar_of(image_ref)
            if tar.is_file() and not self.force:
                self.say(f"{name}: built by another process meanwhile: {image_ref}")
                return BuiltImage(name, image_ref, tar)
            if name == "pause":
                tar = _build_pause(image_ref, self.say)
            else:
                base, wheel, wheels, *rest = (f.result() for f in prerequisites)
                tar = _build_python_image(
                    spec, image_ref, base, wheel, wheels, rest[0] if rest else None, self.say
                )
            _prune(images_dir(), f"{name}-*.tar", tar)
        size = tar.stat().st_size >> 20
        self.say(f"{name}: built {image_ref} in {time.monotonic() - started:.0f} s ({size} MiB)")
        return BuiltImage(name, image_ref, tar)


def build(
    names: Iterable[str] | None = None, force: bool = False, say: Say = progress
) -> dict[str, BuiltImage]:
    """Build the images ``names`` (default: all) unless the cache has them for the current
    inputs; ``force`` rebuilds them and their prerequisites. Returns them by name."""
    wanted = list(dict.fromkeys(names or NAMES))
    for name in wanted:
        _check_name(name)
    refs = {name: ref(name) for name in wanted}
    result = {name: BuiltImage(name, refs[name], _tar_of(refs[name])) for name in wanted}
    todo = []
    for name in wanted:
        if result[name].tar.is_file() and not force:
            say(f"{name}: up to date: {refs[name]}")
        else:
            todo.append(name)
    if todo:
        try:
            rootfs.require_root("building the images")
        except RootfsError as exc:
            raise ImageBuildError(str(exc)) from None
        for sub in ("work", "locks", "logs"):
            (images_dir() / sub).mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        plan = _Plan(force=force, say=say, refs=refs)
        errors = []
        try:
            futures = {name: plan.image(name) for name in todo}
            for name, future in futures.items():
                try:
                    result[name] = future.result()
                except (ImageBuildError, RootfsError, OSError) as exc:
                    errors.append(f"{name}: {exc}")
        finally:
            plan.pool.shutdown(wait=True)
        if errors:
            raise ImageBuildError("\n".join(errors))
        say(f"built {', '.join(todo)} in {time.monotonic() - started:.0f} s")
    return result


# ---- using the images -----------------------------------------------------------------------


def _ctr(ctr_socket: str, namespace: str, *args: str, timeout: float = 600) -> str:
    cmd = ["ctr", "--address", ctr_socket, "--namespace", namespace, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise ImageBuildError(
            f"{' '.join(cmd)} failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()}"
        )
    return proc.stdout


def import_into(ctr_socket: str, built: BuiltImage, namespace: str = "k8s.io") -> bool:
    """Import ``built`` into the containerd at ``ctr_socket`` (unpacked for its default
    snapshotter, so the kubelet can start it) unless it already lists the reference.

    Returns True when it imported, False when the image was there already.
    """
    listed = _ctr(ctr_socket, namespace, "images", "list", "--quiet").split()
    if built.ref in listed:
        return False
    _ctr(ctr_socket, namespace, "images", "import", str(built.tar))
    return True
