"""What a real kubelet does not do on this machine: volumes for claims, and fake GPUs.

Runs as ``python -m localk8s node-addons`` beside the kubelet of ``up --runtime containerd``:

* the local volume provisioner (hostPath PVs for pending claims, as with the node agent);
* the node's fake ``nvidia.com/gpu`` capacity, advertised the way Kubernetes documents for extended
  resources (a patch of the Node's status), and again whenever the kubelet re-registers the node
  and drops it;
* the removal of the ``node.kubernetes.io/not-ready`` taint once the kubelet reports Ready (the
  node lifecycle controller that would do it is off: the node agent has no leases).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from localk8s.kubeapi import ApiError, KubeApi
from localk8s.pki import Pki
from localk8s.provisioner import Provisioner
from localk8s.realnode import GPU_RESOURCE
from localk8s.settings import Settings

log = logging.getLogger("localk8s.node-addons")
NOT_READY_TAINT = "node.kubernetes.io/not-ready"


async def tend_node(api: KubeApi, settings: Settings, interval: float = 2) -> None:
    """Keep the fake GPUs advertised and the not-ready taint off a Ready node, forever."""
    path = f"/api/v1/nodes/{settings.node_name}/status"
    want = settings.node_gpu
    while True:
        try:
            node = await api.get(f"/api/v1/nodes/{settings.node_name}")
            status = node.get("status", {})
            conds = {c["type"]: c["status"] for c in status.get("conditions") or []}
            taints = node.get("spec", {}).get("taints") or []
            kept = [t for t in taints if t.get("key") != NOT_READY_TAINT]
            if conds.get("Ready") == "True" and len(kept) != len(taints):
                await api.merge_patch(
                    f"/api/v1/nodes/{settings.node_name}", {"spec": {"taints": kept or None}}
                )
            have = (
                (status.get("capacity") or {}).get(GPU_RESOURCE),
                (status.get("allocatable") or {}).get(GPU_RESOURCE),
            )
            if want not in ("", "0") and have != (want, want):
                await api.merge_patch(
                    path,
                    {
                        "status": {
                            "capacity": {GPU_RESOURCE: want},
                            "allocatable": {GPU_RESOURCE: want},
                        }
                    },
                )
                log.info("advertised %s %s on node %s", want, GPU_RESOURCE, settings.node_name)
        except ApiError as exc:
            if exc.status != 404:  # not registered yet
                log.warning("could not update node %s: %s", settings.node_name, exc)
        except Exception as exc:
            log.warning("could not update node %s: %s", settings.node_name, exc)
        await asyncio.sleep(interval)


async def run(settings: Settings) -> None:
    """Run the provisioner and the node upkeep until SIGTERM/SIGINT."""
    pki = Pki(settings.state_dir / "pki")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with KubeApi(
        settings.api_server, str(pki.ca_cert), pki.token("system:node-agent")
    ) as api:
        prov = Provisioner(api, settings)
        await prov.ensure_storage_class()
        tasks = [asyncio.create_task(prov.run()), asyncio.create_task(tend_node(api, settings))]
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def main() -> int:
    """Entry point of ``python -m localk8s node-addons``."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    state = Path(os.environ.get("LOCALK8S_STATE") or Settings().state_dir)
    asyncio.run(run(Settings.load(state)))
    return 0
