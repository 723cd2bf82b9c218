"""Build and cache the Kubernetes binaries from Debian's ``kubernetes`` source package.

The binaries (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, and kubelet and
kube-proxy for the containerd node) are built once per
version into a temporary directory and then moved atomically into the cache
(``~/.cache/jupyterhub-primehub/k8s-<version>/bin``), so an interrupted build never leaves a
half-filled cache and later runs (fresh clones, CI on the same machine) reuse the result.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: Debian bookworm's kubernetes source package (1.20.2 with security fixes).
K8S_VERSION = "1.20.2"
DEBIAN_SOURCE_VERSION = "1.20.5+really1.20.2-1.1+deb12u1"
BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    # the real node of ``up --runtime containerd``
    "kubelet",
    "kube-proxy",
)
REFLECT2_SRC = Path("/usr/share/gocode/src/github.com/modern-go/reflect2")
DEBIAN_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")


class BuildError(RuntimeError):
    """The control plane could not be built; the message says what is missing."""


def cache_root() -> Path:
    """Where built binaries are cached (outside the repo); ``LOCALK8S_CACHE`` overrides it."""
    env = os.environ.get("LOCALK8S_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "jupyterhub-primehub"


def bin_dir(version: str = K8S_VERSION) -> Path:
    """Directory holding the cached binaries for ``version``."""
    return cache_root() / f"k8s-{version}" / "bin"


def binary(name: str, version: str = K8S_VERSION) -> Path:
    """Path of one cached binary (``kube-apiserver``, ``kubectl``, ...)."""
    return bin_dir(version) / name


def is_built(version: str = K8S_VERSION) -> bool:
    """True when every binary of ``version`` is in the cache."""
    return all(os.access(binary(name, version), os.X_OK) for name in BINARIES)


def _say(msg: str) -> None:
    print(f"[localk8s build] {msg}", flush=True)


def _run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    """Run a command, streaming its output, and raise BuildError if it fails."""
    _say("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, cwd=cwd, env=env)
    if proc.returncode != 0:
        raise BuildError(f"command failed with exit code {proc.returncode}: {' '.join(cmd)}")


def _deb_src_dir(work: Path) -> Path:
    """A private apt configuration with deb-src entries derived from the machine's own sources.

    The system's apt configuration is never touched: apt is pointed at this directory instead.
    """
    if not DEBIAN_SOURCES.exists():
        raise BuildError(f"{DEBIAN_SOURCES} not found: cannot derive deb-src entries")
    conf = work / "apt"
    (conf / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    text = DEBIAN_SOURCES.read_text()
    text = re.sub(r"(?m)^Types:\s*deb\s*$", "Types: deb deb-src", text)
    (conf / "debian.sources").write_text(text)
    return conf


def fetch_source(version: str = K8S_VERSION) -> Path:
    """Download and unpack the Debian source package once; return the unpacked source tree."""
    src_cache = cache_root() / f"k8s-{version}" / "src"
    tree = src_cache / "kubernetes"
    if (tree / "go.mod").exists():
        _say(f"reusing unpacked source {tree}")
        return tree
    src_cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="src-", dir=src_cache))
    conf = _deb_src_dir(work)
    apt_opts = [
        "-o",
        "Dir::Etc::SourceList=/dev/null",
        "-o",
        f"Dir::Etc::SourceParts={conf}",
        "-o",
        f"Dir::State::Lists={conf / 'lists'}",
    ]
    _say("fetching Debian source package index (private apt config, system config untouched)")
    _run(["apt-get", *apt_opts, "-q", "update"])
    _say(f"downloading source package kubernetes={DEBIAN_SOURCE_VERSION}")
    dl = work / "dl"
    dl.mkdir()
    _run(
        ["apt-get", *apt_opts, "source", "--download-only", f"kubernetes={DEBIAN_SOURCE_VERSION}"],
        cwd=dl,
    )
    dscs = list(dl.glob("*.dsc"))
    if not dscs:
        raise BuildError("apt-get source did not produce a .dsc file")
    _say("unpacking source package")
    _run(["dpkg-source", "--no-check", "-x", str(dscs[0]), str(work / "kubernetes")])
    _patch_reflect2(work / "kubernetes")
    os.replace(work / "kubernetes", tree)
    shutil.rmtree(work, ignore_errors=True)
    return tree


def _patch_reflect2(tree: Path) -> None:
    """Replace vendored reflect2 v1.0.1 (crashes under Go >= 1.18) with Debian's v1.0.2."""
    if not REFLECT2_SRC.exists():
        raise BuildError(
            f"{REFLECT2_SRC} missing: install Debian package golang-github-modern-go-reflect2-dev"
        )
    _say("replacing vendored github.com/modern-go/reflect2 v1.0.1 with v1.0.2 (Go >= 1.18 fix)")
    vend = tree / "vendor" / "github.com" / "modern-go" / "reflect2"
    shutil.rmtree(vend, ignore_errors=True)
    shutil.copytree(REFLECT2_SRC, vend, ignore=shutil.ignore_patterns("*_test.go", "test*"))
    for rel in ("go.mod", "vendor/modules.txt", "staging/src/k8s.io/apimachinery/go.mod"):
        path = tree / rel
        text = path.read_text()
        text = text.replace(
            "github.com/modern-go/reflect2 v1.0.1", "github.com/modern-go/reflect2 v1.0.2"
        )
        path.write_text(text)


def build(version: str = K8S_VERSION, force: bool = False) -> Path:
    """Build (or reuse) the binaries and return the cache bin directory."""
    if is_built(version) and not force:
        _say(f"using cached binaries in {bin_dir(version)}")
        return bin_dir(version)
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / f"k8s-{version}.lock", "w") as lock:
        # Two builds at once (make demo and make test) would fight over the same source tree.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_built(version) and not force:
            _say(f"using cached binaries in {bin_dir(version)} (built by another process)")
            return bin_dir(version)
        return _build_locked(version)


def _build_locked(version: str) -> Path:
    for tool in ("go", "make", "rsync", "apt-get", "dpkg-source"):
        if shutil.which(tool) is None:
            raise BuildError(
                f"'{tool}' not found: install the Debian packages listed in the Makefile"
            )
    tree = fetch_source(version)
    gopath = tree.parent / ".go"
    link = gopath / "src" / "k8s.io" / "kubernetes"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(tree)
    env = dict(os.environ)
    env.update(
        GOPATH=str(gopath),
        CGO_ENABLED="0",
        GOFLAGS="-mod=vendor",
        GOPROXY="off",
        GO111MODULE="on",
        KUBE_GIT_VERSION=f"v{version}",
        KUBE_GIT_TREE_STATE="clean",
        GOCACHE=str(tree.parent / ".gocache"),
    )
    what = " ".join(f"cmd/{name}" for name in BINARIES)
    _say(f"compiling {what} (first time: about 8-12 minutes on 2 cores)")
    _run(["make", f"WHAT={what}"], cwd=link, env=env)
    out = link / "_output" / "local" / "bin" / "linux" / "amd64"
    if not out.is_dir():
        out = link / "_output" / "bin"
    final = bin_dir(version)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bin-", dir=final.parent))
    for name in BINARIES:
        if not (out / name).exists():
            raise BuildError(f"build finished but {out / name} is missing")
        shutil.copy2(out / name, tmp / name)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _say(f"binaries cached in {final}")
    return final


def main() -> int:
    """Entry point for ``python -m localk8s build``."""
    try:
        build()
    except BuildError as exc:
        print(f"localk8s build failed: {exc}", file=sys.stderr)
        return 1
    return 0
