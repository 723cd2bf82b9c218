"""Command line: ``python -m localslurm up|down|status [--json]``."""

from __future__ import annotations

import argparse
import sys

from localslurm import cluster


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command."""
    parser = argparse.ArgumentParser(
        prog="python -m localslurm",
        description="A real local SLURM: one node, 2 CPUs, 2 fake GPUs (see docs/slurm.md).",
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="start the cluster (no-op if it already runs)")
    sub.add_parser("down", help="stop the daemons the cluster started")
    p_status = sub.add_parser("status", help="show whether the cluster runs")
    p_status.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            info = cluster.up()
            print(
                f"localslurm: node {info['node']} {info['state']}; export SLURM_CONF={info['conf']}"
            )
        elif args.cmd == "down":
            cluster.down()
            print("localslurm: stopped")
        else:
            info = cluster.status()
            if args.json:
                print(cluster.as_json(info))
            else:
                word = "running" if info["running"] else "not running"
                print(f"localslurm: {word} (node {info['node']} {info['state'] or '-'})")
            return 0 if info["running"] else 1
    except cluster.SlurmError as e:
        print(f"localslurm: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
