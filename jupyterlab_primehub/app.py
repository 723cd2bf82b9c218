"""PrimeHubApp: the jupyter-server extension (traits, settings, handlers, job runner lifecycle)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import IOLoop
from traitlets import Float, Int, List, TraitError, Unicode, default, validate

from primehub_executor import artifacts

from .api_token import TokenStore
from .context import ContextLogger, ServerContext
from .handlers import HANDLERS
from .jobs.backend import JobBackend
from .jobs.local import LocalJobRunner
from .jobs.model import utcnow
from .jobs.remote import KubernetesJobBackend
from .jobs.service import DEFAULT_OUTPUT_TEMPLATE, ServerJobs
from .jobs.store import JobStore

ACTIVITY_SETTING = "primehub_jobs_last_activity"


class PrimeHubApp(ExtensionApp):
    """PrimeHub notebook jobs and API token, served under ``/primehub/api/``."""

    name = "jupyterlab_primehub"
    description = "PrimeHub notebook jobs and API token for JupyterLab"

    jobs_dir = Unicode(
        config=True,
        help="""Folder for job records (SQLite), snapshots, logs, artifacts and the saved API
        token. Keep it outside the folder the server serves: nothing of a job except its output
        notebook appears in the user's files. Default: <jupyter data dir>/primehub/jobs.""",
    )

    @default("jobs_dir")
    def _default_jobs_dir(self) -> str:
        return os.path.join(jupyter_data_dir(), "primehub", "jobs")

    max_concurrent_jobs = Int(
        2,
        config=True,
        help="How many local jobs run at the same time; the others wait in a FIFO queue.",
    )
    warm_kernels = Int(
        1,
        config=True,
        help="""Pre-started kernels kept ready for local jobs, per kernelspec in
        warm_kernel_specs (each in an executor process waiting for a job; one job each, then a
        new one starts). They start at the first use of the server's PrimeHub API (JupyterLab
        opening, a job submitted), not with the server: a server nobody runs jobs from keeps no
        idle kernel. 0 disables them: every job starts its own kernel. Each costs the memory of
        an idle kernel and its waiting executor (about 110 MiB RSS).""",
    )
    warm_kernel_specs = List(
        Unicode(),
        ["python3"],
        config=True,
        help="""Kernelspecs (names) that get pre-started kernels for local jobs; only Python
        kernels are pre-started (others, and unknown names, are skipped with a warning).""",
    )

    @validate("warm_kernels")
    def _check_warm_kernels(self, proposal: dict) -> int:
        if proposal["value"] < 0:
            raise TraitError("warm_kernels must be 0 (off) or more")
        return proposal["value"]

    group_volume_root = Unicode(
        "",
        config=True,
        help="""If set (PrimeHub: /project), notebooks must lie under this folder (a group
        volume) to be submitted; symlinks from the home folder into it are allowed. Empty:
        any notebook inside the server root.""",
    )
    default_cell_timeout = Float(
        0,
        config=True,
        help="Per-cell timeout in seconds for jobs that do not set 'timeout'; 0 = no limit.",
    )
    default_deadline = Float(
        86400,
        config=True,
        help="""Whole-job deadline in seconds for jobs that do not set 'deadline' (PrimeHub's
        activeDeadlineSeconds default: 86400); 0 = no limit.""",
    )
    output_template = Unicode(
        DEFAULT_OUTPUT_TEMPLATE,
        config=True,
        help="""File name of the output notebook, written next to the source notebook. Fields:
        {stem} (source notebook name without .ipynb), {name} (job name), {id}, {timestamp}
        (UTC, YYYYmmddHHMMSS).""",
    )

    @validate("output_template")
    def _check_output_template(self, proposal: dict) -> str:
        template = proposal["value"]
        try:
            sample = template.format(stem="nb", name="job", id="0" * 12, timestamp="0" * 14)
        except (KeyError, IndexError, ValueError) as e:
            raise TraitError(
                f"output_template {template!r}: unknown or malformed field {e}; "
                "use {stem}, {name}, {id}, {timestamp}"
            ) from None
        if "/" in sample or not sample.endswith(".ipynb"):
            raise TraitError(
                f"output_template {template!r} must give a plain file name ending in .ipynb"
            )
        return template

    @validate("max_concurrent_jobs")
    def _check_concurrency(self, proposal: dict) -> int:
        if proposal["value"] < 1:
            raise TraitError("max_concurrent_jobs must be at least 1")
        return proposal["value"]

    @validate("poll_interval", "cancel_grace_period")
    def _check_positive(self, proposal: dict) -> float:
        if proposal["value"] <= 0:
            raise TraitError(f"{proposal['trait'].name} must be a positive number of seconds")
        return proposal["value"]

    poll_interval = Float(
        1.0,
        config=True,
        help="Seconds between checks of running jobs' status files and the queue.",
    )
    cancel_grace_period = Float(
        10.0,
        config=True,
        help="Seconds a cancelled job's executor gets to save its partial output before SIGKILL.",
    )
    artifacts_max_files = Int(
        artifacts.DEFAULT_MAX_FILES,
        config=True,
        help="Most files kept in a job's artifacts folder (PrimeHub: 1000); the rest is dropped.",
    )
    artifacts_max_bytes = Int(
        artifacts.DEFAULT_MAX_BYTES,
        config=True,
        help="Most bytes kept in a job's artifacts folder (PrimeHub: 100 MB).",
    )
    artifacts_retention_days = Float(
        7,
        config=True,
        help="Days a finished job's artifacts are kept before they are deleted (PrimeHub: 7).",
    )
    default_backend = Unicode(
        "local",
        config=True,
        help="Backend used when a job does not name one. Available now: local.",
    )

    def initialize_settings(self) -> None:
        context = ServerContext.from_env()
        log = ContextLogger(self.log, {"context": context})
        jobs_dir = Path(self.jobs_dir)
        jobs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        store = JobStore(jobs_dir / "jobs.sqlite")
        local = LocalJobRunner(
            store,
            jobs_dir,
            max_concurrent=self.max_concurrent_jobs,
            poll_interval=self.poll_interval,
            cancel_grace=self.cancel_grace_period,
            max_artifact_files=self.artifacts_max_files,
            max_artifact_bytes=self.artifacts_max_bytes,
            artifact_retention=timedelta(days=self.artifacts_retention_days),
            log=log,
            on_activity=self._bump_activity,
            warm_kernels=self.warm_kernels,
            warm_kernel_names=tuple(self.warm_kernel_specs),
        )
        tokens = TokenStore(jobs_dir / "api-token")
        backends: dict[str, JobBackend] = {local.name: local}
        # Under a hub with the primehub-jobs service (PRIMEHUB_JOBS_URL from the spawner's env):
        # jobs may also run as Kubernetes Jobs with their own instance type and image.
        jobs_url = os.environ.get("PRIMEHUB_JOBS_URL")
        if jobs_url and context.in_hub:
            remote = KubernetesJobBackend(
                store,
                jobs_dir,
                service_url=jobs_url,
                token=lambda: tokens.current()[0],
                root_dir=self.serverapp.root_dir,
                project_root=self.group_volume_root or "/project",
                poll_interval=max(self.poll_interval, 2.0),
                log=log,
            )
            backends[remote.name] = remote
        self.jobs = ServerJobs(
            root_dir=self.serverapp.root_dir,
            store=store,
            backends=backends,
            default_backend=self.default_backend,
            context=context,
            group_volume_root=self.group_volume_root or None,
            default_cell_timeout=self.default_cell_timeout,
            default_deadline=self.default_deadline,
            output_template=self.output_template,
            log=log,
        )
        self.tokens = tokens
        self.settings.update(primehub_jobs=self.jobs, primehub_tokens=self.tokens)
        # The runner needs a running loop; the server's loop runs once startup completes.
        IOLoop.current().add_callback(self.jobs.start)

    def initialize_handlers(self) -> None:
        self.handlers.extend(HANDLERS)

    def _bump_activity(self) -> None:
        # jupyter-server's last_activity() counts every "*_last_activity" setting, and both its
        # own idle shutdown and jupyterhub-singleuser's activity reports (the idle culler) use it:
        # a server with queued or running jobs is not idle.
        web_app = getattr(self.serverapp, "web_app", None)
        if web_app is not None:
            web_app.settings[ACTIVITY_SETTING] = utcnow()

    async def stop_extension(self) -> None:
        # Running executors are detached and keep going; a restarted server re-attaches.
        await self.jobs.stop()
        self.jobs.store.close()


main = launch_new_instance = PrimeHubApp.launch_instance
