"""PrimeHub for JupyterLab: a jupyter-server extension (REST API for notebook jobs and the API
token) and the prebuilt JupyterLab extension that uses it."""

from __future__ import annotations

from primehub_jobs_contract import VERSION as __version__  # noqa: F401


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt lab extension lives inside this package (for `labextension develop`)."""
    return [{"src": "labextension", "dest": "jupyterlab-primehub"}]


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    """The server extension: PrimeHubApp registers the /primehub/api/ handlers."""
    from .app import PrimeHubApp

    return [{"module": "jupyterlab_primehub", "app": PrimeHubApp}]
