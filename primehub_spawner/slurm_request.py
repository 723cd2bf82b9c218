"""PURE: a validated choice (group, instance type, image, env) -> what a SLURM job asks for.

The SLURM counterpart of :mod:`.launch`: the instance type becomes ``--cpus-per-task``,
``--mem`` and ``--gres=<name>:N`` (plus its ``partition`` and ``constraint``), the group its
``--account``, the image an environment activated before the server starts (a venv or conda
prefix, or modules to load), the group directory and datasets links in the home directory, and
``$SLURM_TMPDIR`` a link recreated at every start. Values come from the validated catalog
(:mod:`.catalog` checks the ``slurm`` fields' alphabet) and are quoted again where they enter the
script. Nothing here runs a command.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from .launch import env_dataset_variable
from .quantities import Resources
from .user_options import Choice

TMPDIR_LINK = "slurm_tmpdir"
# squeue's pending reasons that waiting cannot fix: the job would wait until start_timeout
FATAL_REASONS = {
    "ReqNodeNotAvail": "no node can run it now (requested node configuration not available)",
    "BadConstraints": "no node has the requested constraints",
    "PartitionConfig": "the partition cannot hold it (partition limits)",
    "PartitionNodeLimit": "it asks for more nodes than the partition allows",
    "PartitionTimeLimit": "it asks for more time than the partition allows",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is inactive",
    "InvalidAccount": "the SLURM account is not valid",
    "InvalidQOS": "the QOS is not valid",
    "DependencyNeverSatisfied": "a dependency can never be satisfied",
    "JobHeldAdmin": "an administrator holds it",
    "AssocGrpGRES": "the account's GPU limit can never allow it",
}
# squeue prints some reasons as sentences (Slurm 22.05): the code each stands for
REASON_TEXTS = {
    "Nodes required for job are DOWN, DRAINED": "ReqNodeNotAvail",
    "Node(s) in drain state": "ReqNodeNotAvail",
}
PENDING_REASONS = {
    "Resources": "waiting for resources (CPUs, memory or GPUs to be freed)",
    "Priority": "waiting for jobs of higher priority",
    "None": "about to be scheduled",
    "BeginTime": "waiting for its start time",
    "Dependency": "waiting for another job",
    "QOSMaxJobsPerUserLimit": "waiting: you run the most jobs your QOS allows",
}


@dataclass(frozen=True)
class SlurmSettings:
    """The admin's SLURM settings that shape every job."""

    default_partition: str = ""
    runtime: str = ""  # --time, e.g. "8:00:00"; "" = the partition's default
    python_prefix: str = ""  # environment used when an image has no ``slurm`` settings
    gres_name: str = ""  # GRES name when the instance type has none ("" = from the resource)


@dataclass(frozen=True)
class SlurmPlan:
    """What one server's job asks for and sets up, from the catalog only."""

    cpus: int
    memory_mib: int
    gpus: int
    gres: str  # e.g. "gpu:1" ("" without GPUs)
    partition: str
    constraint: str
    account: str
    env: Mapping[str, str]
    links: tuple[tuple[str, str], ...]  # (target, name in the home directory)
    setup: tuple[str, ...]  # shell lines run before the server (activate the environment)
    usage: Resources = field(default_factory=Resources)

    def sbatch_lines(self) -> list[str]:
        """The ``#SBATCH`` options of this plan (besides output, chdir and export)."""
        lines = [f"--cpus-per-task={self.cpus}", f"--mem={self.memory_mib}M"]
        if self.gres:
            lines.append(f"--gres={self.gres}")
        for option, value in (
            ("partition", self.partition),
            ("constraint", self.constraint),
            ("account", self.account),
        ):
            if value:
                lines.append(f"--{option}={shlex.quote(value)}")
        return lines

    def prologue(self) -> str:
        """Shell lines run in the job before the server: the home links (the group directory,
        datasets, ``$SLURM_TMPDIR`` recreated each start) and the image's environment. A name in
        the home directory that is a real file or directory is left alone."""
        out = []
        for target, name in self.links:
            out.append(_link(shlex.quote(target), name))
        tmp_link = _link('"$SLURM_TMPDIR"', TMPDIR_LINK)
        out.append(f'if [ -n "${{SLURM_TMPDIR:-}}" ]; then {tmp_link}; fi')
        out.extend(self.setup)
        return "\n".join(out)


def _link(target: str, name: str) -> str:
    dest = f'"$HOME"/{shlex.quote(name)}'
    return f"if [ -L {dest} ] || [ ! -e {dest} ]; then ln -sfn {target} {dest}; fi"


def gres_name(choice: Choice, settings: SlurmSettings) -> str:
    """The GRES name of the instance type's GPUs: its ``slurm.gres``, the admin's default, or
    the last part of ``gpuResourceName`` (``nvidia.com/gpu`` -> ``gpu``)."""
    it = choice.instance_type
    return it.slurm.get("gres") or settings.gres_name or it.gpu_resource_name.rsplit("/", 1)[-1]


def environment_setup(choice: Choice, settings: SlurmSettings) -> tuple[str, ...]:
    """Shell lines that make the image's environment the job's: ``modules`` loaded, then a venv
    or conda prefix first on PATH (the hub's ``python_prefix`` when the image names none)."""
    conf = choice.image.slurm
    lines = []
    if conf.get("modules"):
        lines.append(f"module load {' '.join(shlex.quote(m) for m in conf['modules'].split())}")
    prefix = conf.get("venv") or conf.get("conda")
    if not prefix and not conf.get("modules"):
        prefix = settings.python_prefix
    if prefix:
        q = shlex.quote(prefix)
        lines.append(f"export PATH={q}/bin:$PATH")
        if conf.get("conda"):
            lines.append(f"export CONDA_PREFIX={q}")
        else:
            lines.append(f"export VIRTUAL_ENV={q}")
    return tuple(lines)


def plan_slurm(choice: Choice, settings: SlurmSettings) -> SlurmPlan:
    """What the SLURM job of ``choice`` asks for (see the module docstring)."""
    it = choice.instance_type
    group = choice.group.group
    cpus = max(1, math.ceil(it.cpu))
    memory_mib = max(1, math.ceil(it.memory / 2**20))
    env = {
        "GROUP_ID": group.group_id,
        "GROUP_NAME": group.name,
        "INSTANCE_TYPE": it.name,
        "IMAGE_NAME": choice.image.name,
        "CPU_LIMIT": str(float(cpus)),
        "MEM_LIMIT": str(memory_mib * 2**20),
    }
    links: list[tuple[str, str]] = []
    if group.slurm.get("sharedPath"):
        links.append((group.slurm["sharedPath"], group.name))
    for grant in choice.group.datasets:
        ds = grant.dataset
        if ds.type == "env":
            for key, value in ds.variables.items():
                env[env_dataset_variable(ds.name, key)] = value
            continue
        path = ds.slurm.get("path") or (ds.path if ds.type == "hostPath" else "")
        if path and ds.home_symlink:
            links.append((path, ds.name))
    env.update(choice.env)
    return SlurmPlan(
        cpus=cpus,
        memory_mib=memory_mib,
        gpus=it.gpu,
        gres=f"{gres_name(choice, settings)}:{it.gpu}" if it.gpu else "",
        partition=it.slurm.get("partition") or settings.default_partition,
        constraint=it.slurm.get("constraint", ""),
        account=group.slurm.get("account", ""),
        env=env,
        links=tuple(links),
        setup=environment_setup(choice, settings),
        usage=Resources(float(cpus), memory_mib * 2**20, it.gpu),
    )


def reason_code(reason: str) -> str:
    """squeue's ``%r`` -> the reason's code (``ReqNodeNotAvail,_UnavailableNodes:x`` and the
    sentence for drained nodes -> ``ReqNodeNotAvail``)."""
    text = reason.strip().strip("()")
    for sentence, code in REASON_TEXTS.items():
        if text.startswith(sentence):
            return code
    return text.split(",", 1)[0]


def describe_pending(reason: str) -> str:
    """The spawn progress line of a job pending for ``reason``."""
    base = reason_code(reason)
    text = PENDING_REASONS.get(base) or FATAL_REASONS.get(base) or "waiting"
    return f"Pending in the SLURM queue ({base}): {text}"


def fatal_pending_reason(reason: str) -> str | None:
    """Why a job pending for ``reason`` will never start, or None when waiting may help."""
    base = reason_code(reason)
    if base in FATAL_REASONS:
        return f"SLURM cannot start this server: {FATAL_REASONS[base]} ({base})."
    return None


__all__ = [
    "FATAL_REASONS",
    "SlurmPlan",
    "SlurmSettings",
    "describe_pending",
    "fatal_pending_reason",
    "plan_slurm",
]
