"""ServerJobs: what the REST handlers and the app call. Validation, snapshots and dispatch."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager

from primehub_executor import artifacts
from primehub_executor.params import check_language
from primehub_jobs_contract.errors import Conflict, InvalidRequest, NotFound
from primehub_jobs_contract.executor import ExecutorSpec
from primehub_jobs_contract.layout import OUTPUT_TEMPLATE, JobFiles
from primehub_jobs_contract.logs import read_chunk
from primehub_jobs_contract.states import State
from primehub_jobs_contract.times import utcnow
from primehub_jobs_contract.validation import new_job_id

from ..context import ServerContext
from .backend import JobBackend
from .events import JobEvents
from .model import Job, JobRequest
from .paths import output_location, resolve_notebook, trusted_folder
from .store import JobStore

DEFAULT_OUTPUT_TEMPLATE = OUTPUT_TEMPLATE  # one pattern for every submit (the contract's)
_JOB_ID = re.compile(r"^[0-9a-f]{12}$")


class ServerJobs:
    """Job operations over the store and the configured backends."""

    def __init__(
        self,
        *,
        root_dir: str,
        store: JobStore,
        backends: dict[str, JobBackend],
        default_backend: str,
        context: ServerContext,
        group_volume_root: str | None = None,
        default_cell_timeout: float | None = None,
        default_deadline: float | None = None,
        output_template: str = DEFAULT_OUTPUT_TEMPLATE,
        kernel_specs: Callable[[], dict[str, Any]] | None = None,
        log: logging.Logger | logging.LoggerAdapter | None = None,
        events: JobEvents | None = None,
    ) -> None:
        self.root_dir = root_dir
        self.store = store
        self.backends = backends
        self.default_backend = default_backend
        self.context = context
        self.group_volume_root = group_volume_root or None
        self.default_cell_timeout = default_cell_timeout or None
        self.default_deadline = default_deadline or None
        self.output_template = output_template
        self.kernel_specs = kernel_specs or (lambda: KernelSpecManager().get_all_specs())
        self.log = log or logging.getLogger(__name__)
        #: job changes for the lab's event stream: ours (submit, cancel, delete) and those of
        #: backends that report theirs as they happen (``on_change``, the local runner)
        self.events = events or JobEvents()
        live = [name for name, b in backends.items() if hasattr(b, "on_change")]
        for name in live:
            backends[name].on_change = self.events.job_changed  # type: ignore[attr-defined]
        self.events.live_backends = tuple(live)

    async def start(self) -> None:
        """Start every backend (and its restart recovery)."""
        for backend in self.backends.values():
            await backend.start()

    def in_use(self) -> None:
        """A signed-in user called the jobs API: backends that prepare for jobs (the local
        runner's pre-started kernels) start doing so."""
        for backend in self.backends.values():
            backend.in_use()

    async def stop(self) -> None:
        """Stop scheduling; running jobs continue detached."""
        for backend in self.backends.values():
            await backend.stop()
        self.events.close()

    # -- queries --------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        """The job, or NotFound."""
        job = self.store.get(job_id) if _JOB_ID.match(job_id or "") else None
        if job is None:
            raise NotFound(f"No job with id '{job_id}'.")
        return job

    def list(
        self, status: State | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Job], int]:
        """A page of jobs, newest first."""
        return self.store.list(status, limit, offset)

    def backend_for(self, job: Job) -> JobBackend:
        backend = self.backends.get(job.backend)
        if backend is None:
            raise Conflict(f"Job {job.id} uses backend '{job.backend}', which is not configured.")
        return backend

    def files(self, job: Job) -> JobFiles:
        return JobFiles(self.backend_for(job).job_dir(job.id))

    async def kernels(self) -> list[dict[str, Any]]:
        """Installed kernels: name, display name, language."""
        specs = await asyncio.get_running_loop().run_in_executor(None, self.kernel_specs)
        return [
            {
                "name": name,
                "displayName": info["spec"].get("display_name", name),
                "language": info["spec"].get("language", ""),
            }
            for name, info in sorted(specs.items())
        ]

    # -- submit ---------------------------------------------------------------------------------
    async def submit(self, request: JobRequest) -> Job:
        """Validate, snapshot and queue a job; nothing is created when a check fails."""
        backend_name = request.backend or self.default_backend
        backend = self.backends.get(backend_name)
        if backend is None:
            raise InvalidRequest(
                f"Unknown backend '{backend_name}'; available: {', '.join(sorted(self.backends))}."
            )
        backend.validate(request, self.context)
        notebook = resolve_notebook(request.path, self.root_dir, self.group_volume_root)
        loop = asyncio.get_running_loop()
        nb = await loop.run_in_executor(None, _read_notebook, notebook.real_path)
        specs = await loop.run_in_executor(None, self.kernel_specs)
        kernel = self._pick_kernel(request.kernel, nb, specs)
        language = specs[kernel]["spec"].get("language", "")
        check_language(language, request.parameters)

        job_id = new_job_id()
        created = utcnow()
        name = request.name or notebook.real_path.stem
        output_api, output_real = self._output_for(notebook, name, job_id, created)
        job = Job(
            id=job_id,
            name=name,
            path=notebook.api_path,
            output_path=output_api,
            backend=backend_name,
            kernel=kernel,
            parameters=request.parameters,
            cell_timeout=request.timeout or self.default_cell_timeout,
            deadline=request.deadline or self.default_deadline,
            instance_type=request.instance_type or self.context.instance_type,
            image=request.image or self.context.image,
            created_at=created,
        )
        files = JobFiles(backend.job_dir(job_id))
        spec = ExecutorSpec(
            input=str(files.snapshot),
            output=str(output_real),
            cwd=str(notebook.real_path.parent),
            kernel=kernel,
            parameters=job.parameters,
            timeout=job.cell_timeout,
            deadline=job.deadline,
            status_file=str(files.status),
            log_file=str(files.log),
            job_id=job_id,
            artifacts=str(files.artifacts),
            input_path=str(notebook.real_path),
            confine=trusted_folder(notebook.real_path, self.root_dir, self.group_volume_root),
        )
        await loop.run_in_executor(None, _prepare_job_dir, files, nb, spec)
        try:
            self.store.add(job)
        except BaseException:  # e.g. the disk filled up: no folder of a job that does not exist
            await loop.run_in_executor(None, shutil.rmtree, files.root, True)
            raise
        self.log.info(
            "PrimeHub job %s (%s) submitted: %s, backend %s",
            job.id,
            job.name,
            job.path,
            backend_name,
        )
        self.events.job_changed(job)
        backend.wake()
        return job

    def _pick_kernel(self, requested: str | None, nb: Any, specs: dict[str, Any]) -> str:
        available = ", ".join(sorted(specs)) or "none"
        if requested:
            if requested not in specs:
                raise InvalidRequest(f"Unknown kernel '{requested}'; available: {available}.")
            return requested
        from_nb = (nb.metadata.get("kernelspec") or {}).get("name")
        if from_nb:
            if from_nb not in specs:
                raise InvalidRequest(
                    f"The notebook's kernel '{from_nb}' is not installed here; "
                    f"choose one with 'kernel' (available: {available})."
                )
            return from_nb
        if "python3" in specs:
            return "python3"
        if not specs:
            raise InvalidRequest("No kernels are installed on this server.")
        return sorted(specs)[0]

    def _output_for(self, notebook: Any, name: str, job_id: str, created: Any) -> tuple[str, Path]:
        taken = self.store.output_paths()
        safe_name = re.sub(r"[^\w.-]+", "-", name).strip("-") or "job"
        base = self.output_template.format(
            stem=notebook.real_path.stem,
            name=safe_name,
            id=job_id,
            timestamp=created.strftime("%Y%m%d%H%M%S"),
        )
        candidate = base
        counter = 1
        while True:
            api, real = output_location(notebook, candidate)
            if api not in taken and not real.exists():
                return api, real
            counter += 1
            stem, dot, ext = base.rpartition(".")
            candidate = f"{stem}-{counter}.{ext}" if dot else f"{base}-{counter}"

    # -- actions --------------------------------------------------------------------------------
    async def cancel(self, job_id: str) -> Job:
        """Cancel a pending or running job (Conflict if it already ended)."""
        job = self.get(job_id)
        job = await self.backend_for(job).cancel(job)
        self.events.job_changed(job)
        return job

    async def delete(self, job_id: str) -> None:
        """Forget a finished or pending job and its private files (the output notebook stays)."""
        job = self.get(job_id)
        if job.status == State.RUNNING:
            raise Conflict(f"Job {job.id} is running; cancel it before deleting it.")
        if job.status == State.PENDING:
            job = await self.cancel(job_id)
            if job.status == State.RUNNING:
                raise Conflict(f"Job {job.id} is starting; cancel it before deleting it.")
        folder = self.backend_for(job).job_dir(job.id)
        self.store.delete(job.id)
        self.events.job_deleted(job.id)
        await asyncio.get_running_loop().run_in_executor(None, artifacts.remove_tree, folder)
        self.log.info("PrimeHub job %s (%s) deleted", job.id, job.name)

    async def read_log(self, job_id: str, offset: int = 0) -> tuple[bytes, int]:
        """Log bytes from ``offset`` (at most 1 MiB) and the offset to ask for next."""
        job = self.get(job_id)
        path = self.files(job).log
        data = await asyncio.get_running_loop().run_in_executor(None, read_chunk, path, offset)
        return data, offset + len(data)

    async def artifacts_zip(self, job_id: str) -> tuple[str, IO[bytes]]:
        """(file name, open temporary file holding the zip) of the job's artifacts.

        The zip goes to a temporary file, not memory: artifacts may reach 100 MB per job.
        The caller closes the file (which deletes it).
        """
        job = self.get(job_id)
        folder = self.files(job).artifacts
        target = tempfile.TemporaryFile()
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, artifacts.write_zip, folder, target
            )
            target.seek(0)
        except BaseException:
            target.close()
            raise
        safe = re.sub(r"[^\w.-]+", "-", job.name).strip("-") or "job"
        return f"{safe}-{job.id}-artifacts.zip", target

    def active_count(self) -> int:
        """Pending and running jobs over all backends."""
        return sum(b.active_count() for b in self.backends.values())


def _read_notebook(path: Path) -> Any:
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as e:  # JSON, nbformat validation and I/O errors share no narrower base
        raise InvalidRequest(f"'{path.name}' is not a valid notebook: {e}") from None


def _prepare_job_dir(files: JobFiles, nb: Any, spec: ExecutorSpec) -> None:
    # The snapshot is what runs: later edits of the source do not change a queued job.
    files.root.mkdir(parents=True, exist_ok=False)
    try:
        nbformat.write(nb, str(files.snapshot))
        spec.write(files.spec)
        files.artifacts.mkdir()
    except BaseException:
        shutil.rmtree(files.root, ignore_errors=True)
        raise
