"""``make demo``: the local cluster, then JupyterHub with ``jupyterhub_config.py``; Ctrl-C stops
both within seconds and says what it is stopping.

    python demo/run.py        (from the repository root; ``make demo`` runs it)

Once the hub answers it prints the URL, the demo users and what each one shows (``welcome.py``)
and how to stop. The cluster is stopped on exit only if this run started it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from welcome import welcome  # noqa: E402

from primehub_spawner.local_clusters import local_status  # noqa: E402

#: Seconds the hub has to stop its services and proxy before what is left is killed.
HUB_STOP_TIMEOUT = 15


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def cluster_stopped() -> bool:
    """True only when no part of the local cluster runs (then this run starts it, and stops
    it at the end); a cluster that is up, or partly up, belongs to someone else."""
    status = local_status("localk8s", ROOT)
    if not status:
        return False
    return not status.get("running") and not any((status.get("components") or {}).values())


def hub_answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url + "/hub/api/", timeout=3) as resp:
            return resp.status == 200
    except OSError:
        return False


def stop_hub(hub: subprocess.Popen) -> None:
    """SIGTERM to the hub (it stops its services, then its proxy); SIGKILL what is left."""
    if hub.poll() is not None:
        return
    say(
        "Stopping JupyterHub: its services (primehub-jobs, idle-culler), then its proxy "
        "(notebook servers and running jobs are pods: they stay until the cluster stops)"
    )
    begin = time.monotonic()
    hub.send_signal(signal.SIGTERM)
    try:
        hub.wait(HUB_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        say(f"JupyterHub did not stop in {HUB_STOP_TIMEOUT}s: killing it")
    try:
        os.killpg(hub.pid, signal.SIGKILL)  # the proxy, should the hub have left it
    except ProcessLookupError:
        pass
    hub.wait()
    say(f"JupyterHub stopped ({time.monotonic() - begin:.1f}s)")


def main() -> int:
    port = int(os.environ.get("PRIMEHUB_PROXY_PORT") or 8000)
    url = f"http://127.0.0.1:{port}"
    password = "$PRIMEHUB_DEMO_PASSWORD" if os.environ.get("PRIMEHUB_DEMO_PASSWORD") else "primehub"
    catalog = Path(os.environ.get("PRIMEHUB_CATALOG") or HERE / "catalog.yaml")
    started_cluster = cluster_stopped()
    interrupted = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal interrupted
        interrupted = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    hub: subprocess.Popen | None = None
    try:
        if started_cluster:
            say("Starting the local Kubernetes cluster (python -m localk8s up)")
            subprocess.run([sys.executable, "-m", "localk8s", "up"], cwd=ROOT, check=True)
        else:
            say("The local Kubernetes cluster is already running: using it (it stays running)")
        say(f"Starting JupyterHub on {url} (jupyterhub -f jupyterhub_config.py)")
        env = {**os.environ, "PRIMEHUB_DEMO_RUNNER": "1"}
        bins = [str(ROOT / "node_modules" / ".bin"), str(Path(sys.executable).parent)]
        env["PATH"] = os.pathsep.join([*bins, env.get("PATH", "")])
        # its own process group: Ctrl-C reaches this script, which stops the hub in order
        hub = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyterhub"), "-f", "jupyterhub_config.py"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        while not hub_answers(url):
            if hub.poll() is not None:
                say(f"JupyterHub exited with {hub.returncode}; see its log above")
                return 1
            time.sleep(0.5)
        print(welcome(url, password, catalog, ROOT / "jupyterhub_config.py"), flush=True)
        return hub.wait() or 0
    except KeyboardInterrupt:
        interrupted = True
        print(flush=True)
        say("Ctrl-C: stopping the demo")
        return 0
    except subprocess.CalledProcessError as e:
        say(f"{' '.join(map(str, e.cmd))} failed with {e.returncode}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if hub is not None:
            stop_hub(hub)
        if started_cluster:
            say("Stopping the local Kubernetes cluster (python -m localk8s down)")
            begin = time.monotonic()
            subprocess.run([sys.executable, "-m", "localk8s", "down"], cwd=ROOT, check=False)
            say(f"Cluster stopped ({time.monotonic() - begin:.1f}s)")
        say("Demo stopped" if interrupted else "Demo ended")


if __name__ == "__main__":
    sys.exit(main())
