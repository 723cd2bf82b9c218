"""PrimeHub's notebook experience for any JupyterHub on Kubernetes: hub side.

``PrimeHubSpawner`` (a KubeSpawner subclass) and ``GroupsAPIHandler`` are imported lazily
so the pure core (catalog, launch, quota, form) can be used without the Kubernetes client.
"""

from typing import Any

__all__ = ["GroupsAPIHandler", "PrimeHubSlurmSpawner", "PrimeHubSpawner"]


def __getattr__(name: str) -> Any:
    if name == "PrimeHubSpawner":
        from .spawner import PrimeHubSpawner

        return PrimeHubSpawner
    if name == "PrimeHubSlurmSpawner":  # needs batchspawner (extra "slurm")
        from .slurm import PrimeHubSlurmSpawner

        return PrimeHubSlurmSpawner
    if name == "GroupsAPIHandler":
        from .groups_api import GroupsAPIHandler

        return GroupsAPIHandler
    raise AttributeError(name)
