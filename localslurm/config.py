"""PURE: the local cluster's settings and the files it runs from (slurm.conf, gres.conf, prolog).

Every path, port and figure lives in :class:`Settings`; :func:`render_files` turns them into the
text of each file so that ``up`` only writes files and starts daemons.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# The users of the demo catalog and of the tests; each becomes a local Unix user with a home.
DEFAULT_USERS = ("alice", "bob", "carol", "dave", "admin", "slurm-alice", "slurm-bob")
PARTITION = "debug"


def default_state_dir() -> Path:
    """``$LOCALSLURM_STATE`` or ``.state/localslurm`` in the repository root (git-ignored)."""
    return Path(os.environ.get("LOCALSLURM_STATE") or REPO_ROOT / ".state" / "localslurm").resolve()


@dataclass(frozen=True)
class Settings:
    """Where the cluster lives and what its one node offers."""

    node: str
    memory_mib: int
    cpus: int = 2
    gpus: int = 2
    state_dir: Path = field(default_factory=default_state_dir)
    ctld_port: int = 16817
    slurmd_port: int = 16818
    cluster: str = "localslurm"

    @property
    def conf(self) -> Path:
        """The slurm.conf every command is pointed at with ``SLURM_CONF``."""
        return self.state_dir / "slurm.conf"

    @property
    def munge_dir(self) -> Path:
        """munged's socket, key, pid, log and seed (owned by the munge user)."""
        return self.state_dir / "munge"

    @property
    def munge_socket(self) -> Path:
        return self.munge_dir / "munge.socket"

    @property
    def tmp_root(self) -> Path:
        """Parent of each job's ``$SLURM_TMPDIR`` (made by the prolog, removed by the epilog)."""
        return self.state_dir / "tmp"

    def pid_file(self, daemon: str) -> Path:
        return self.state_dir / f"{daemon}.pid"

    def log_file(self, daemon: str) -> Path:
        return self.state_dir / f"{daemon}.log"

    def env(self) -> dict[str, str]:
        """What a SLURM command needs in its environment to reach this cluster."""
        return {"SLURM_CONF": str(self.conf)}


def slurm_conf(s: Settings) -> str:
    """slurm.conf of one node with ``s.cpus`` CPUs, ``s.memory_mib`` MiB and ``s.gpus`` GPUs."""
    d = s.state_dir
    node = (
        f"NodeName={s.node} NodeAddr=127.0.0.1 CPUs={s.cpus} RealMemory={s.memory_mib} "
        f"Gres=gpu:{s.gpus} State=UNKNOWN"
    )
    return f"""\
# Written by localslurm: a one-node cluster for the demo and the tests.
ClusterName={s.cluster}
SlurmctldHost={s.node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={s.munge_socket}
SlurmctldPort={s.ctld_port}
SlurmdPort={s.slurmd_port}
StateSaveLocation={d}/ctld
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/ctld/slurmctld.pid
SlurmdPidFile={d}/spool/slurmd.pid
SlurmctldLogFile={s.log_file("slurmctld")}
SlurmdLogFile={s.log_file("slurmd")}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=60
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
Prolog={d}/prolog.sh
Epilog={d}/epilog.sh
TaskProlog={d}/task_prolog.sh
PrologFlags=Alloc
{node}
PartitionName={PARTITION} Nodes={s.node} Default=YES MaxTime=INFINITE State=UP
"""


def gres_conf(s: Settings) -> str:
    """Fake GPUs: Slurm 22.05 counts a GPU only with a ``File`` (character devices under dev/)."""
    last = s.gpus - 1
    return f"NodeName={s.node} Name=gpu File={s.state_dir}/dev/nvidia[0-{last}]\n"


def prolog(s: Settings) -> str:
    """Runs as root on the node before the job: the job's private ``$SLURM_TMPDIR``."""
    return f"""#!/bin/sh
# localslurm: each job gets a private local scratch folder, as SLURM sites give it.
dir="{s.tmp_root}/job_$SLURM_JOB_ID"
mkdir -p "$dir" && chown "$SLURM_JOB_UID" "$dir" && chmod 0700 "$dir"
"""


def epilog(s: Settings) -> str:
    """Runs as root on the node after the job: its scratch folder goes."""
    return f"""#!/bin/sh
rm -rf "{s.tmp_root}/job_$SLURM_JOB_ID"
"""


def task_prolog(s: Settings) -> str:
    """Runs as the user before each task; ``export`` lines set the task's environment."""
    return f"""#!/bin/sh
echo "export SLURM_TMPDIR={s.tmp_root}/job_$SLURM_JOB_ID"
"""


def render_files(s: Settings) -> dict[str, tuple[str, int]]:
    """File name (relative to the state directory) -> (text, mode)."""
    return {
        "slurm.conf": (slurm_conf(s), 0o644),
        "gres.conf": (gres_conf(s), 0o644),
        "prolog.sh": (prolog(s), 0o755),
        "epilog.sh": (epilog(s), 0o755),
        "task_prolog.sh": (task_prolog(s), 0o755),
    }
