"""Jupyter Kernel Gateway config of the split: kernels start in the notebook's folder.

This file runs INSIDE THE USER'S IMAGE, as the gateway's ``jupyter_kernel_gateway_config.py``
(the spawner puts its text in a pod annotation shown by a downward-API volume, and points
``JUPYTER_CONFIG_PATH`` at it): standard library and ``kernel_gateway`` only, never this
package.

The notebook server sends the notebook's folder with each kernel start (``KERNEL_WORKING_DIR``,
an absolute path: both sides mount the volumes at the same paths), which Kernel Gateway 3
ignores. The kernel manager below starts the kernel there when the folder, with every link
resolved, is inside one of the mounted volumes (``PRIMEHUB_KERNEL_ROOTS``, a JSON list of mount
paths); anything else (a path outside, a link leading out, a missing folder) starts it in the
gateway's own folder, the home folder, as before.
"""

from __future__ import annotations

import json
import os

ROOTS_ENV = "PRIMEHUB_KERNEL_ROOTS"
WORKDIR_ENV = "KERNEL_WORKING_DIR"


def confined_workdir(requested: object, roots: list[str]) -> str | None:
    """The folder to start a kernel in: ``requested`` with its links resolved, if that is a
    folder inside one of ``roots`` (also resolved); None otherwise (start in the default)."""
    if not isinstance(requested, str) or not requested.startswith("/") or "\0" in requested:
        return None
    real = os.path.realpath(requested)
    if not os.path.isdir(real):
        return None
    for root in roots:
        if not isinstance(root, str) or not root.startswith("/"):
            continue
        base = os.path.realpath(root)
        if real == base or real.startswith(base.rstrip("/") + "/"):
            return real
    return None


def mount_roots(raw: str | None) -> list[str]:
    """The roots from ``PRIMEHUB_KERNEL_ROOTS`` (none when missing or malformed)."""
    try:
        roots = json.loads(raw or "[]")
    except ValueError:
        return []
    return [r for r in roots if isinstance(r, str)] if isinstance(roots, list) else []


def _install(c) -> None:  # pragma: no cover - runs in the gateway (tests start a real one)
    from kernel_gateway.services.kernels.manager import SeedingMappingKernelManager

    roots = mount_roots(os.environ.get(ROOTS_ENV))

    class NotebookFolderKernelManager(SeedingMappingKernelManager):
        """Starts each kernel in the notebook's folder, confined to the mounted volumes."""

        async def start_kernel(self, *args, **kwargs):
            env = kwargs.get("env") or {}
            requested = env.get(WORKDIR_ENV)
            if requested and kwargs.get("path") is None and "cwd" not in kwargs:
                folder = confined_workdir(requested, roots)
                if folder is None:
                    self.log.warning(
                        "Kernel folder %r is not a folder inside the mounted volumes %s: "
                        "starting the kernel in %s",
                        requested,
                        roots,
                        os.getcwd(),
                    )
                else:
                    kwargs["cwd"] = folder
            return await super().start_kernel(*args, **kwargs)

    c.KernelGatewayApp.kernel_manager_class = NotebookFolderKernelManager


if "get_config" in globals():  # loaded by Jupyter as a config file
    _install(get_config())  # noqa: F821
