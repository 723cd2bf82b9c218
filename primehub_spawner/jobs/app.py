"""The ``primehub-jobs`` JupyterHub service: ``python -m primehub_spawner.jobs [--Option=value]``.

Started by the hub as a managed service (``c.JupyterHub.services``); JupyterHub passes its URL,
prefix, API URL and API token in ``JUPYTERHUB_SERVICE_URL``, ``JUPYTERHUB_SERVICE_PREFIX``,
``JUPYTERHUB_API_URL`` and ``JUPYTERHUB_API_TOKEN``. Options come from the command line or
``--config=<file>``.

The service refuses to start without a hub API URL, its own token and the scope callers' tokens
must carry (``access:services!service=primehub-jobs``): nothing is "allowed to anyone" by a
missing setting (``missing_settings``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import signal
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

from jupyterhub.services.auth import HubAuth
from tornado import web
from traitlets import Bool, Dict, Float, Int, List, Unicode, default
from traitlets.config import Application

from primehub_jobs_contract.executor import EXECUTOR_COMMAND

from ..catalog import CatalogSource
from .handlers import handlers
from .hub_ledger import HubLedger
from .hub_users import HubUsers
from .kube import Kube
from .pod_settings import PodSettingsOptions
from .service import JobsService, Settings
from .store import JobStore

#: Seconds the service waits for its scheduling round and pod watch to stop on SIGTERM/SIGINT.
STOP_TIMEOUT = 2.0

#: The scope a caller's token needs (users' and servers' roles grant it; see jupyterhub_config.py).
ACCESS_SCOPE = "access:services!service=primehub-jobs"


def missing_settings(api_url: str, api_token: str, access_scopes: list[str]) -> list[str]:
    """PURE: what the service lacks to check callers' tokens, each as what to set (empty: ok)."""
    missing = []
    if not api_url:
        missing.append("the hub API URL ($JUPYTERHUB_API_URL or --JobsApp.hub_api_url)")
    if not api_token:
        missing.append(
            "the service's own hub API token ($JUPYTERHUB_API_TOKEN or --JobsApp.api_token)"
        )
    if ACCESS_SCOPE not in access_scopes:
        missing.append(f"the access scope {ACCESS_SCOPE!r} in --JobsApp.access_scopes")
    wrong = [s for s in access_scopes if not s.startswith("access:services")]
    if wrong:
        missing.append(
            f"access scopes that grant access to this service only, not {', '.join(wrong)}"
        )
    return missing


class JobsApp(PodSettingsOptions, Application):
    """Runs notebook jobs as Kubernetes Jobs for the hub's users (job pods get the notebook
    pods' security and placement settings: KubeSpawner's pod options, see pod_settings.py)."""

    name = "primehub-jobs"
    description = "PrimeHub notebook jobs on Kubernetes (a JupyterHub service)"

    @default("log_level")
    def _log_level_default(self) -> int:
        return logging.INFO

    config_file = Unicode("", config=True, help="A traitlets config file to load first.")
    catalog_path = Unicode(
        config=True,
        help="""The same catalog YAML file as the spawner's `catalog_path` (re-read when it
        changes). Default: $PRIMEHUB_CATALOG.""",
    )

    @default("catalog_path")
    def _catalog_default(self) -> str:
        return os.environ.get("PRIMEHUB_CATALOG", "")

    namespace = Unicode(
        config=True,
        help="Namespace of the job pods (the spawner's). Default: $PRIMEHUB_NAMESPACE or default.",
    )

    @default("namespace")
    def _namespace_default(self) -> str:
        return os.environ.get("PRIMEHUB_NAMESPACE") or "default"

    state_dir = Unicode(
        config=True,
        help="""Folder of the job history (SQLite) and the saved job logs. Default:
        $PRIMEHUB_JOBS_STATE_DIR or ./primehub-jobs.""",
    )

    @default("state_dir")
    def _state_dir_default(self) -> str:
        return os.environ.get("PRIMEHUB_JOBS_STATE_DIR") or "primehub-jobs"

    project_root = Unicode(
        "/project", config=True, help="Group volumes are mounted at `<project_root>/<group>`."
    )
    executor_command = List(
        Unicode(),
        list(EXECUTOR_COMMAND),
        config=True,
        help="""Command that starts the jobs executor in the job's image (the image needs the
        jupyterhub-primehub package installed); the path of the job's spec file is appended.""",
    )
    extra_env = Dict(
        Unicode(),
        config=True,
        help="Extra environment of job pods (e.g. HOME); the catalog's values win.",
    )
    default_deadline = Int(
        86400,
        config=True,
        help="activeDeadlineSeconds of jobs that do not set one (PrimeHub's default: 1 day).",
    )
    max_deadline = Int(7 * 86400, config=True, help="Largest deadline a job may ask for, s.")
    finished_ttl = Float(
        600,
        config=True,
        help="""Seconds a finished Job and its pod are kept before the service deletes them
        (ttlSecondsAfterFinished is not enabled on Kubernetes 1.20). The log is saved first.""",
    )
    preparing_timeout = Float(
        600,
        config=True,
        help="""Seconds a job's pod may take to start running (scheduled, image pulled,
        volumes mounted) before the job fails with the reason it was waiting for, its pod is
        deleted and its quota given back (PrimeHub: 10 minutes). An instance type's
        ``preparingTimeout`` in the catalog overrides it; 0: no limit.""",
    )
    log_retention_days = Float(
        7, config=True, help="Days the saved log of a finished job is kept (PrimeHub: 7)."
    )
    history_retention_days = Float(
        90,
        config=True,
        help="""Days the record of a finished job is kept in the service's history; older
        records (and their saved logs) are deleted, so each round costs what is active.""",
    )
    max_active_jobs_per_user = Int(
        100,
        config=True,
        help="""Jobs one user may have pending, preparing or running at once; a submit (or a
        schedule's run) past it is refused with 429, so one user cannot stall everyone's
        queue.""",
    )
    max_schedules_per_user = Int(
        50, config=True, help="Schedules one user may have; one more is refused with 429."
    )
    hub_users_max_age = Float(
        5.0,
        config=True,
        help="""Seconds a user's groups and admin flag, read from the hub, are reused (by the
        REST API and when a queued job is admitted or a schedule fires). A user removed from a
        group loses it in the service within this time; keep it a few seconds.""",
    )
    hub_quota_ledger = Bool(
        True,
        config=True,
        help="""Ask the hub's quota ledger (``/hub/api/primehub/job-admissions``, needs the
        scope ``custom:primehub:admit-jobs``) before a job starts, so notebook spawns and jobs
        in flight never overshoot a quota together. Off: this service decides from its own
        view only, and one notebook spawn racing a job may overshoot by one pod.""",
    )
    group_volumes = Unicode(
        "",
        config=True,
        help="""Where the service reads the group volumes, to serve a job's output notebook
        and artifacts to its owner without their notebook server (``GET api/jobs/{id}/output``,
        ``.../artifacts``): a folder with ``{group}`` where the group volumes are mounted
        into the service (e.g. ``/mnt/groups/{group}``, read-only), or ``hostPath`` to ask
        Kubernetes where each group's claim is (hostPath or local volumes, single-node
        clusters; needs get on persistentvolumes). Empty: not served (503 saying so).""",
    )
    tick_interval = Float(
        2.0,
        config=True,
        help="Seconds between scheduling rounds (reconcile, queue, schedules, cleanup).",
    )
    hub_api_url = Unicode(
        config=True,
        help="""The hub's REST API, where callers' tokens are checked (required). Default:
        $JUPYTERHUB_API_URL (the hub sets it for a managed service).""",
    )

    @default("hub_api_url")
    def _hub_api_url_default(self) -> str:
        return os.environ.get("JUPYTERHUB_API_URL", "")

    api_token = Unicode(
        config=True,
        help="""The service's own hub API token (required; its role needs read:users:name and
        read:users:groups). Default: $JUPYTERHUB_API_TOKEN (the hub sets it for a managed
        service; an external one gets it from a Secret).""",
    )

    @default("api_token")
    def _api_token_default(self) -> str:
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    access_scopes = List(
        Unicode(),
        [ACCESS_SCOPE],
        config=True,
        help=f"""Scopes a caller's token must hold one of (required, never taken from the
        environment): {ACCESS_SCOPE!r}, which the hub's "user" and "server" roles grant.
        Tokens without it get 403.""",
    )
    port = Int(0, config=True, help="Port to listen on (default: from JUPYTERHUB_SERVICE_URL).")
    ip = Unicode("", config=True, help="Address to listen on (default: from the service URL).")

    aliases = {
        "config": "JobsApp.config_file",
        "catalog": "JobsApp.catalog_path",
        "namespace": "JobsApp.namespace",
        "state-dir": "JobsApp.state_dir",
    }

    def initialize(self, argv: list[str] | None = None) -> None:
        """Parse the command line and load the config file."""
        super().initialize(argv)
        if self.config_file:
            self.load_config_file(self.config_file)
            self.update_config(self.cli_config)
        self.load_spawner_config()

    def settings(self) -> Settings:
        """The service's settings from the traits."""
        return Settings(
            namespace=self.namespace,
            project_root=self.project_root,
            executor=tuple(self.executor_command),
            default_deadline=self.default_deadline,
            max_deadline=self.max_deadline,
            finished_ttl=self.finished_ttl,
            preparing_timeout=self.preparing_timeout,
            log_retention=timedelta(days=self.log_retention_days),
            history_retention=timedelta(days=self.history_retention_days),
            max_active_jobs_per_user=self.max_active_jobs_per_user,
            max_schedules_per_user=self.max_schedules_per_user,
            tick_interval=self.tick_interval,
            group_volumes=self.group_volumes,
            extra_env=tuple(sorted(self.extra_env.items())),
            pod=self.pod_settings(),
        )

    async def serve(self, store: JobStore, state: Path) -> None:
        """Run until SIGTERM/SIGINT."""
        service = JobsService(
            store,
            Kube(self.namespace, self.log),
            CatalogSource(path=self.catalog_path),
            state / "logs",
            self.settings(),
            log=self.log,
        )
        # users' current groups, one cache for the handlers and the admission round
        service.shared.users = HubUsers(
            self.hub_api_url, self.api_token, max_age=self.hub_users_max_age
        )
        if self.hub_quota_ledger:  # one ledger with the hub's spawns (see hub_ledger.py)
            service.shared.ledger = HubLedger(
                self.hub_api_url, self.api_token, self.namespace, self.log
            )
        await service.start()
        url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL") or "http://127.0.0.1:8090")
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/services/primehub-jobs/"
        hub_auth = HubAuth(
            api_token=self.api_token,
            api_url=self.hub_api_url,
            access_scopes=set(self.access_scopes),
        )
        app = web.Application(
            [
                *handlers(prefix),
                (rf"(?:{re.escape(prefix.rstrip('/'))})?/?", AboutHandler, {"prefix": prefix}),
            ],
            hub_auth=hub_auth,
            primehub_jobs=service,
            log_function=_log_request,
        )
        server = app.listen(self.port or url.port or 8090, self.ip or url.hostname or "127.0.0.1")
        self.log.info("primehub-jobs listening on %s%s", url.geturl(), prefix)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        self.log.info("primehub-jobs: stopping (running Jobs keep running)")
        server.stop()
        try:
            # The hub waits for its services on shutdown: never long. What a round or the pod
            # watch leaves undone is reconciled by the next start.
            await asyncio.wait_for(service.stop(), STOP_TIMEOUT)
        except asyncio.TimeoutError:
            self.log.warning("primehub-jobs: stopped without waiting for the current round")
        store.close()

    def start(self) -> None:
        """Serve (blocking)."""
        if not self.catalog_path:
            self.exit("primehub-jobs: set --catalog (or $PRIMEHUB_CATALOG)")
        missing = missing_settings(self.hub_api_url, self.api_token, self.access_scopes)
        if missing:
            self.exit(
                "primehub-jobs: refusing to start, it could not check callers' tokens; set "
                + "; ".join(missing)
                + "."
            )
        volumes = self.group_volumes
        if (
            volumes
            and volumes != "hostPath"
            and not (volumes.startswith("/") and "{group}" in volumes)
        ):
            self.exit(
                "primehub-jobs: --JobsApp.group_volumes must be an absolute folder with "
                f"'{{group}}' in it (e.g. /mnt/groups/{{group}}) or 'hostPath', got {volumes!r}."
            )
        state = Path(self.state_dir)
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        (state / "logs").mkdir(exist_ok=True)
        store = JobStore(state / "jobs.sqlite")
        asyncio.run(self.serve(store, state))
        # The process ends now: skip the final garbage collection of its large heap, which takes
        # seconds on a busy machine while the hub waits for its services to stop.
        gc.freeze()


class AboutHandler(web.RequestHandler):
    """``GET <prefix>``: what this service is (the hub's health check; no auth, no secrets)."""

    def initialize(self, prefix: str) -> None:
        self.prefix = prefix

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(
            {
                "service": "primehub-jobs",
                "description": JobsApp.description,
                "api": self.prefix.rstrip("/") + "/api/jobs",
                "auth": f"Authorization: token <a JupyterHub token with {ACCESS_SCOPE}>",
            }
        )


def _log_request(handler: web.RequestHandler) -> None:
    # URLs only: tokens travel in headers and are never logged.
    status = handler.get_status()
    log = handler.log if hasattr(handler, "log") else None
    message = "%d %s %s %.1fms"
    args = (
        status,
        handler.request.method,
        handler.request.path,
        1000 * handler.request.request_time(),
    )
    if isinstance(handler, AboutHandler) and status == 200:
        # the hub's health check, every few seconds: not news
        (log or JobsApp.instance().log).debug(message, *args)
    elif log is not None:
        log.info(message, *args)
    else:
        JobsApp.instance().log.info(message, *args)


def main() -> None:
    """Console entry point."""
    app = JobsApp.instance()
    app.initialize()
    app.start()
