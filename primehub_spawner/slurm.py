"""PrimeHubSlurmSpawner: batchspawner's SlurmSpawner + the catalog, form, options and quotas.

The same catalog file, spawn form (:mod:`.form`), ``user_options`` validation and 4xx messages
(:mod:`.user_options`) and check-and-reserve (:mod:`.quota`) as PrimeHubSpawner; what a choice
means for SLURM is :mod:`.slurm_request` (pure), usage comes from ``squeue`` and the hub's
record of its jobs (:mod:`.slurm_jobs`). batchspawner submits, polls and cancels the job.

Fixes over batchspawner 1.3.0 (see docs/slurm.md and docs/security.md):

- its ``/hub/api/batchspawner`` handler sets *any* spawner attribute the job's token sends
  (``exec_prefix``, ``batch_query_cmd``: a shell command the hub then runs as its own user);
  :class:`PortHandler` replaces it and takes an integer ``port`` only, while the server starts;
- it merges the raw ``user_options`` over the template's variables (a REST body could set
  ``cmd``, ``options`` or ``memory``); the script here is rendered from the validated plan only;
- its submit logs those options (users' environment values) at info level and the whole job
  environment, the server's hub token included, at debug level; the submit here logs the
  command and the job id only;
- its progress shows no pending reason and a job that can never start waits out
  ``start_timeout``; here the reason is shown and hopeless reasons fail the spawn at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import sys
import time
from typing import Any, ClassVar

from batchspawner import JobStatus, SlurmSpawner
from batchspawner.batchspawner import format_template
from jupyterhub.apihandlers import APIHandler, default_handlers
from tornado import web
from traitlets import Dict, Float, Unicode, default

from .catalog import UserView
from .catalog_spawner import CatalogSpawnerMixin, user_error
from .form import render_form
from .launch import label_value
from .quota import QuotaExceeded, QuotaLedger, Usage
from .slurm_jobs import (
    SQUEUE_ARGS,
    JobHolders,
    JobRecord,
    parse_squeue,
    quota_objects,
    squeue_state,
)
from .slurm_request import (
    SlurmPlan,
    SlurmSettings,
    describe_pending,
    fatal_pending_reason,
    plan_slurm,
)
from .user_options import OptionsError, resolve_options

QUOTA_UNAVAILABLE = "Quota cannot be checked right now: SLURM (squeue) does not answer."

BATCH_SCRIPT = """#!/bin/bash
#SBATCH --output={{homedir}}/.primehub-slurm-%j.log
#SBATCH --job-name=primehub-notebook
#SBATCH --chdir={{homedir}}
#SBATCH --export={{keepvars}}
{% for line in sbatch_lines %}#SBATCH {{line}}
{% endfor %}{% if runtime %}#SBATCH --time={{runtime}}
{% endif %}
set -eo pipefail
export PATH=/usr/local/bin:/usr/bin:/bin
{{primehub_prologue}}
{{prologue}}
exec {{cmd}}
"""


class PrimeHubSlurmSpawner(CatalogSpawnerMixin, SlurmSpawner):
    """SlurmSpawner with PrimeHub's group-scoped catalog, form, options and quotas (the same
    catalog file as PrimeHubSpawner's; its `slurm` fields apply here)."""

    slurm_partition = Unicode(
        "",
        config=True,
        help="Partition of jobs whose instance type names none (empty: SLURM's default).",
    )
    slurm_runtime = Unicode(
        "",
        config=True,
        help="Time limit of a server's job (`--time`, e.g. `8:00:00`; empty: the partition's).",
    )
    slurm_gres_name = Unicode(
        "",
        config=True,
        help="""GRES name of GPUs when the instance type has no `slurm.gres` (empty: the last
        part of its `gpuResourceName`, `nvidia.com/gpu` -> `gpu`).""",
    )
    python_prefix = Unicode(
        config=True,
        help="""Environment (venv prefix) that runs the server when the image has no `slurm`
        settings; it must hold jupyterhub and batchspawner. Default: the hub's own prefix.""",
    )
    node_addresses = Dict(
        config=True,
        help="""Node name -> address the hub connects to (default: the node name as squeue
        reports it, which must resolve on the hub).""",
    )
    slurm_environment = Dict(
        config=True,
        help="""Environment for the hub's SLURM commands (sbatch, squeue, scancel), e.g.
        `{"SLURM_CONF": "/etc/slurm-test/slurm.conf"}`; also exported into the job.""",
    )
    quota_reservation_seconds = Float(
        0,
        config=True,
        help="""How long an admitted spawn holds its quota before squeue shows its job
        (0: `start_timeout` + 60 s).""",
    )
    squeue_timeout = Float(
        20, config=True, help="Seconds a squeue of the quota check may take before a 503."
    )

    # the job's own batch script: rendered from the validated plan, never from user_options
    batch_script = Unicode(BATCH_SCRIPT, config=True, help="Template of the job script.")
    batch_query_cmd = Unicode(
        "squeue -h -j {job_id} -o '%T|%r|%B'",
        config=True,
        help="Query of one job: state, pending reason and node, separated by `|`.",
    )

    # Shared by every spawner of the hub: check-and-reserve must see all spawns in flight.
    ledger: ClassVar[QuotaLedger] = QuotaLedger(JobHolders())
    jobs: ClassVar[dict[str, JobRecord]] = {}  # reservation key -> the job this hub submitted

    _plan: SlurmPlan | None = None
    _group = ""
    _starting = False
    _pending_reason = ""
    _last_job_id = ""  # batchspawner clears job_id when the job vanished: for the message

    @default("python_prefix")
    def _python_prefix_default(self):
        return sys.prefix

    @default("exec_prefix")
    def _exec_prefix_default(self):
        # sudo keeps the environment (-E); runuser keeps it too and needs no sudoers rule
        return "sudo -E -u {username}" if shutil.which("sudo") else "runuser -u {username} --"

    @default("cmd")
    def _cmd_default(self):
        return ["jupyterhub-singleuser"]

    # ---- catalog, view, quota --------------------------------------------------------

    def _command_env(self) -> dict[str, str]:
        return {**os.environ, **self.slurm_environment}

    async def active_jobs(self) -> dict[str, JobRecord]:
        """The recorded jobs squeue reports active, as the quota ledger reads them; a 503 when
        squeue does not answer (a quota decision is never taken blind)."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *SQUEUE_ARGS,
                env=self._command_env(),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), self.squeue_timeout)
        except (OSError, asyncio.TimeoutError) as e:
            self.log.warning("squeue failed: %s", e)
            raise user_error(503, QUOTA_UNAVAILABLE) from None
        if proc.returncode != 0:
            self.log.warning("squeue failed (%s): %s", proc.returncode, err.decode().strip())
            raise user_error(503, QUOTA_UNAVAILABLE)
        return quota_objects(self.jobs.values(), parse_squeue(out.decode()))

    @property
    def _reservation_key(self) -> str:
        return f"slurm/{self.user.name}/{self.name}"

    async def usages(self, view: UserView) -> dict[str, Usage]:
        """Current usage of this user and of each of the user's groups."""
        jobs = await self.active_jobs()
        user_label = label_value(self.user.name)
        now = time.monotonic()
        return {
            g.name: self.ledger.usage(jobs, label_value(g.name), user_label, now)
            for g in view.groups
        }

    # ---- form and options ------------------------------------------------------------

    async def render_options_form(self) -> str:
        """The spawn form: the same form as on Kubernetes."""
        view = await self.user_view()
        usages = await self.usages(view) if view.groups else {}
        previous = self.orm_spawner.user_options if self.orm_spawner else {}
        return render_form(view, usages, previous or {}, False)

    def _settings(self) -> SlurmSettings:
        return SlurmSettings(
            default_partition=self.slurm_partition,
            runtime=self.slurm_runtime,
            python_prefix=self.python_prefix,
            gres_name=self.slurm_gres_name,
        )

    async def apply_primehub_options(self, options: dict | None) -> None:
        """Validate ``options`` (400/403 naming the field), admit them against the quotas
        (reserving them) and plan the job. Nothing is submitted when this refuses."""
        view = await self.user_view()
        try:
            choice = resolve_options(view, options)
        except OptionsError as e:
            self.log.info("Refused options of %s: %s", self.user.name, e.message)
            raise user_error(e.status_code, e.message) from None
        if choice.kernel_gateway:
            raise user_error(400, "kernel_gateway: not available on SLURM (use false)")
        try:  # batchspawner needs the home directory (log, --chdir); NSS may be remote
            await asyncio.to_thread(pwd.getpwnam, self.user.name)
        except KeyError:
            self.log.warning("No Unix account for %s: cannot submit a SLURM job", self.user.name)
            raise user_error(
                503, f"There is no Unix account {self.user.name!r} on the hub; contact admin."
            ) from None
        plan = plan_slurm(choice, self._settings())
        group = choice.group.group
        ttl = self.quota_reservation_seconds or self.start_timeout + 60
        jobs = await self.active_jobs()
        try:  # synchronous check-and-reserve: no await in between (see quota.py)
            self.ledger.admit(
                self._reservation_key,
                user=self.user.name,
                group=group.name,
                user_label=label_value(self.user.name),
                group_label=label_value(group.name),
                request=plan.usage,
                quota=group.quota,
                project_quota=group.project_quota,
                pods=jobs,
                now=time.monotonic(),
                ttl=ttl,
            )
        except QuotaExceeded as e:
            self.log.info("Quota refused %s in %s: %s", self.user.name, group.name, e)
            raise user_error(403, str(e)) from None
        self._plan = plan
        self._group = group.name
        self.log_launch(choice, " on SLURM")

    # ---- the job ---------------------------------------------------------------------

    def get_env(self) -> dict[str, str]:
        """batchspawner's env (hub token, USER, HOME, SHELL) plus the plan's."""
        env = super().get_env()
        env.update(self.slurm_environment)
        if self._plan is not None:
            env.update(self._plan.env)
        return env

    def get_req_subvars(self) -> dict[str, Any]:
        """The template's variables: batchspawner's ``req_*`` plus the plan's options."""
        subvars = super().get_req_subvars()
        plan = self._plan
        subvars["sbatch_lines"] = plan.sbatch_lines() if plan else []
        subvars["primehub_prologue"] = plan.prologue() if plan else ""
        subvars["runtime"] = subvars.get("runtime") or self.slurm_runtime
        return subvars

    async def run_command(self, cmd: str, input: str | None = None, env: dict | None = None):
        """batchspawner runs its query and cancel commands in the hub's environment only
        (its submit gets ``get_env()``): both get ``slurm_environment`` here."""
        return await super().run_command(cmd, input=input, env=env or self._command_env())

    async def submit_batch_script(self) -> str:
        """Submit the script rendered from the validated plan only, record the job for quota,
        and turn sbatch's refusal into a clear error.

        batchspawner's own submit merges the raw ``user_options`` over the template's
        variables and logs them (the users' environment values) at info level, and the whole
        environment, the server's hub token included, at debug level; this one does neither
        (tokens never reach the log)."""
        if self._plan is None:
            raise user_error(400, "No server options were applied; start the server again.")
        subvars = self.get_req_subvars()
        cmd = " ".join(
            (
                format_template(self.exec_prefix, **subvars),
                format_template(self.batch_submit_cmd, **subvars),
            )
        )
        subvars["cmd"] = self.cmd_formatted_for_batch()
        script = await self._get_batch_script(**subvars)
        self.log.info("Submitting the SLURM job of %s: %s", self.user.name, cmd)
        try:
            out = await self.run_command(cmd, input=script, env=self.get_env())
        except RuntimeError as e:
            message = str(e).strip().splitlines()[-1] if str(e).strip() else "sbatch failed"
            self.log.warning("sbatch refused %s: %s", self.user.name, message)
            raise user_error(
                503, f"SLURM refused the job: {message.removeprefix('sbatch: error: ')}"
            ) from None
        try:
            job_id = self.parse_job_id(out)
        except Exception:
            self.log.error("sbatch answered no job id for %s: %r", self.user.name, out[:200])
            job_id = ""
        self.job_id = self._last_job_id = job_id
        if job_id:
            self.log.info("SLURM job %s of %s submitted", job_id, self.user.name)
            self.jobs[self._reservation_key] = JobRecord(
                job_id, self._reservation_key, self.user.name, self._group, self._plan.usage
            )
        return job_id

    async def query_job_status(self) -> JobStatus:
        """batchspawner's query, remembering the pending reason; while starting, a reason that
        cannot resolve fails the spawn at once."""
        status = await super().query_job_status()
        state, reason, _ = squeue_state(self.job_status or "")
        self._pending_reason = reason if status == JobStatus.PENDING else ""
        if self._starting and status == JobStatus.PENDING:
            fatal = fatal_pending_reason(reason)
            if fatal:
                self.log.warning("Job %s of %s: %s", self.job_id, self.user.name, fatal)
                raise user_error(503, fatal)
        return status

    def state_gethost(self) -> str:
        """The node that runs the job (``%B``), mapped through ``node_addresses``."""
        node = squeue_state(self.job_status or "")[2]
        return self.node_addresses.get(node, node)

    async def start(self):
        """batchspawner's start; the reservation is released when it fails."""
        self._starting = True
        try:
            return await super().start()
        except RuntimeError as e:  # batchspawner's "job disappeared" and the like: not a 500
            self.ledger.release(self._reservation_key)
            job_id = self._last_job_id
            self.log.warning("SLURM job of %s failed to start: %s", self.user.name, e)
            raise user_error(
                503,
                f"The SLURM job {job_id} ended before the server started; "
                f"its log is ~/.primehub-slurm-{job_id}.log.",
            ) from None
        except BaseException:
            self.ledger.release(self._reservation_key)
            raise
        finally:
            self._starting = False

    async def progress(self):
        """The job's state with its pending reason, every second until it runs."""
        while True:
            status = self.job_status or ""
            state, reason, _ = squeue_state(status)
            if self.state_ispending():
                yield {"message": describe_pending(reason or "None")}
            elif self.state_isrunning():
                yield {"message": f"SLURM job {self.job_id} running; waiting for the server"}
                return
            else:
                yield {"message": "Submitting the SLURM job..."}
            await asyncio.sleep(1)

    async def stop(self, now: bool = False) -> None:
        """Cancel the job (batchspawner), forget its record and reservation."""
        try:
            await super().stop(now=now)
        finally:
            self.ledger.release(self._reservation_key)

    def clear_state(self) -> None:
        super().clear_state()
        self.jobs.pop(self._reservation_key, None)

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        record = self.jobs.get(self._reservation_key)
        if record is not None and record.job_id == self.job_id:
            state["primehub_job"] = record.to_state()
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        """batchspawner's job id, and the job's record for quota (a restarted hub counts the
        servers it keeps)."""
        super().load_state(state)
        record = JobRecord.from_state(self._reservation_key, state.get("primehub_job") or {})
        if record is not None and record.job_id == self.job_id:
            self.jobs[self._reservation_key] = record


class PortHandler(APIHandler):
    """``POST /hub/api/batchspawner``: the starting server reports its port, and nothing else.

    Replaces batchspawner's handler, which set any attribute of the spawner from the body."""

    @web.authenticated
    def post(self) -> None:
        token = self.get_auth_token()
        user = self.current_user
        spawner = None
        for candidate in getattr(user, "spawners", {}).values():
            if candidate.api_token and candidate.api_token == token:
                spawner = candidate
                break
        if spawner is None or not hasattr(spawner, "job_id"):
            raise web.HTTPError(403, "This token belongs to no batch server.")
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, 'The body must be JSON: {"port": <1-65535>}.') from None
        port = data.get("port") if isinstance(data, dict) else None
        if (
            not isinstance(data, dict)
            or set(data) != {"port"}
            or isinstance(port, bool)
            or not isinstance(port, int)
            or not 0 < port < 65536
        ):
            raise web.HTTPError(400, 'Only {"port": <1-65535>} may be reported.')
        if not getattr(spawner, "_starting", True) or spawner.port:
            raise web.HTTPError(409, "The server's port is already known.")
        spawner.port = port
        self.set_status(201)
        self.finish(json.dumps({"message": "port set"}))


def _replace_port_handler() -> None:
    for i, (pattern, _handler, *rest) in enumerate(default_handlers):
        if pattern == r"/api/batchspawner":
            default_handlers[i] = (pattern, PortHandler, *rest)
            break
    else:
        default_handlers.append((r"/api/batchspawner", PortHandler))


_replace_port_handler()
