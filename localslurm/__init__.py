"""A real local SLURM (slurmctld, slurmd, munged) for the demo and tests: one node, fake GPUs.

``python -m localslurm up|down|status``; state under ``.state/localslurm`` (see docs/slurm.md).
"""
