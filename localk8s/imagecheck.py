"""Check that built images really run: a private, throwaway containerd and smoke commands.

:class:`ScratchContainerd` starts Debian's containerd with its root, state, socket and plugin
directories in a temporary directory of its own (never the cluster's runtime or the system's
``/var/lib/containerd``) and, when stopped, unmounts whatever it left mounted there and removes it.
:func:`check_images` imports images into one and runs :data:`SMOKE` commands in them with
``ctr run --rm``: what the notebook, hub and pause images are for, as a user of them would see it.
Used by ``python -m localk8s images --check`` and the image tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from localk8s.images import BuiltImage, ImageBuildError, import_into

#: Namespace the kubelet's CRI uses; the checks use it too so imports look the same.
NAMESPACE = "k8s.io"


@dataclass(frozen=True)
class SmokeCommand:
    """A command to run in an image and text its output must contain (all of them)."""

    argv: tuple[str, ...]
    expect: tuple[str, ...] = ()


#: A notebook run by the job executor, written and run inside the container.
_EXECUTOR_SCRIPT = """
set -e
cd /tmp
python -c '
import nbformat
nb = nbformat.v4.new_notebook()
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
defaults = nbformat.v4.new_code_cell("alpha = 1")
defaults.metadata["tags"] = ["parameters"]
nb.cells = [defaults, nbformat.v4.new_code_cell("print(alpha * 21)")]
nbformat.write(nb, "in.ipynb")
'
echo '{"input": "in.ipynb", "output": "out.ipynb", "parameters": {"alpha": 2},
  "status_file": "status.json", "timeout": 120}' > spec.json
python -m primehub_executor spec.json
python -c '
import json, nbformat
print("state:", json.load(open("status.json"))["state"])
print("output:", nbformat.read("out.ipynb", 4).cells[-1].outputs[0]["text"].strip())
'
"""

SMOKE: dict[str, tuple[SmokeCommand, ...]] = {
    "pause": (SmokeCommand(("/pause", "--version"), ("pause",)),),
    "primehub-notebook": (
        SmokeCommand(("id",), ("uid=1000(jovyan)", "gid=100(users)")),
        SmokeCommand(("pwd",), ("/home/jovyan",)),
        SmokeCommand(
            ("jupyter", "server", "extension", "list"), ("jupyterlab_primehub", "enabled")
        ),
        SmokeCommand(("jupyter", "labextension", "list"), ("jupyterlab-primehub", "enabled")),
        SmokeCommand(("python", "-c", "import primehub_executor.run; print('ok')"), ("ok",)),
        SmokeCommand(("jupyterhub-singleuser", "--version"), ("5.",)),
        SmokeCommand(("jupyter", "kernelgateway", "--version"), ("3.",)),
        SmokeCommand(("sh", "-c", _EXECUTOR_SCRIPT), ("state: succeeded", "output: 42")),
    ),
    "primehub-hub": (
        SmokeCommand(("id",), ("uid=1000(jovyan)",)),
        SmokeCommand(("jupyterhub", "--version"), ("5.5.0",)),
        SmokeCommand(("configurable-http-proxy", "--version"), ("5.",)),
        SmokeCommand(
            (
                "python",
                "-c",
                "from primehub_spawner import PrimeHubSpawner; print(PrimeHubSpawner)",
            ),
            ("PrimeHubSpawner",),
        ),
        SmokeCommand(
            (
                "python",
                "-c",
                "import kubespawner._version as v; print('kubespawner', v.__version__)",
            ),
            ("kubespawner 7.0.0",),
        ),
        SmokeCommand(("python", "-m", "primehub_spawner.jobs", "--help"), ("--catalog",)),
    ),
}

Say = Callable[[str], None]


def _unmount_under(path: Path) -> None:
    """Lazily unmount every mount point below ``path``, deepest first."""
    prefix = str(path.resolve()) + "/"
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point.startswith(prefix):
                points.append(point)
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


class ScratchContainerd:
    """A containerd of our own in a temporary directory; a context manager."""

    def __init__(self, parent: Path | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lk8s-ctrd-", dir=parent))
        self.socket = str(self.dir / "containerd.sock")
        self.log = self.dir / "containerd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        """containerd's config.toml: everything it writes stays under ``self.dir``."""
        d = self.dir
        return f"""version = 2
root = "{d}/root"
state = "{d}/state"

[grpc]
  address = "{self.socket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
"""

    def start(self, timeout: float = 30) -> None:
        """Start containerd and wait until ``ctr version`` answers."""
        for tool in ("containerd", "ctr", "runc", "containerd-shim-runc-v2"):
            if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
                raise ImageBuildError(f"'{tool}' not found: apt-get install containerd runc")
        (self.dir / "config.toml").write_text(self.config())
        env = dict(os.environ)
        env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/sbin"  # runc lives in /usr/sbin
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["containerd", "--config", str(self.dir / "config.toml")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ImageBuildError(f"containerd exited: {self.log.read_text()[-2000:]}")
            ok = subprocess.run(
                ["ctr", "--address", self.socket, "version"], capture_output=True, timeout=10
            )
            if ok.returncode == 0:
                return
            time.sleep(0.2)
        raise ImageBuildError(f"containerd did not answer in {timeout:.0f} s ({self.log})")

    def ctr(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run ``ctr`` against this containerd in the k8s.io namespace (no check)."""
        return subprocess.run(
            ["ctr", "--address", self.socket, "--namespace", NAMESPACE, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run(self, image_ref: str, argv: Iterable[str], timeout: float = 300) -> tuple[int, str]:
        """``ctr run --rm`` a command in an image; (exit code, stdout + stderr)."""
        cid = f"check-{os.getpid()}-{time.monotonic_ns()}"
        proc = self.ctr("run", "--rm", image_ref, cid, *argv, timeout=timeout)
        return proc.returncode, proc.stdout + proc.stderr

    def stop(self) -> None:
        """Stop containerd (and any task left), unmount what it mounted, remove its directory."""
        if self.proc is not None and self.proc.poll() is None:
            tasks = self.ctr("tasks", "list", "--quiet", timeout=30).stdout.split()
            for task in tasks:
                self.ctr("tasks", "kill", "--signal", "SIGKILL", task, timeout=30)
                time.sleep(0.2)
                self.ctr("tasks", "delete", task, timeout=30)
                self.ctr("containers", "delete", task, timeout=30)
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        _unmount_under(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> ScratchContainerd:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def check_images(built: Iterable[BuiltImage], say: Say = print) -> None:
    """Import ``built`` into a scratch containerd and run each image's :data:`SMOKE` commands;
    ImageBuildError listing every failed command if any fails."""
    failures = []
    with ScratchContainerd() as ctrd:
        for image in built:
            started = time.monotonic()
            import_into(ctrd.socket, image, NAMESPACE)
            took = time.monotonic() - started
            say(f"{image.name}: imported into a scratch containerd in {took:.0f} s")
            for command in SMOKE.get(image.name, ()):
                code, out = ctrd.run(image.ref, command.argv)
                missing = [text for text in command.expect if text not in out]
                shown = " ".join(" ".join(command.argv).split())[:60]
                if code != 0 or missing:
                    tail = out.strip()[-800:]
                    failures.append(
                        f"{image.name}: `{shown}` exit {code}, missing {missing}: {tail}"
                    )
                    say(f"{image.name}: FAILED `{shown}`")
                else:
                    say(f"{image.name}: ok `{shown}`")
    if failures:
        raise ImageBuildError("image checks failed:\n" + "\n".join(failures))
