"""``python -m bench [catalog|jobs|frontend|admission|spawn|groups-api|...]``: run, print, save."""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from bench.report import Section, format_table, write_results

# Sections that need no cluster first (the order of a full run).
SECTIONS = {
    "catalog": "bench.catalog_scale",
    "jobs": "bench.notebook_jobs",
    "frontend": "bench.frontend",
    "admission": "bench.admission_scale",
    "spawn": "bench.spawn",
    "groups-api": "bench.groups_api_scale",
    "concurrency": "bench.concurrency",
    # last: it restarts a cluster the bench started with the containerd runtime
    "spawn-containerd": "bench.spawn_containerd",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line of the benchmark runner."""
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmarks against peers (see bench/README.md)."
    )
    parser.add_argument(
        "sections",
        nargs="*",
        choices=[*SECTIONS, []],
        help="sections to run (default: all, cluster-free ones first)",
    )
    parser.add_argument("--repeat", type=int, default=0, help="samples per measurement")
    parser.add_argument("--spawns", type=int, default=10, help="spawns per spawner (spawn)")
    parser.add_argument("--users", type=int, default=30, help="simultaneous users (concurrency)")
    parser.add_argument("--small-jobs", type=int, default=50, help="small jobs (jobs)")
    parser.add_argument(
        "--group-users", type=int, default=1000, help="users asking for their groups (groups-api)"
    )
    return parser.parse_args(argv)


DEFAULT_REPEAT = {"catalog": 20, "jobs": 5, "admission": 15}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections; a failing section is reported and the others still run."""
    args = parse_args(argv)
    names = args.sections or list(SECTIONS)
    results: list[Section] = []
    for name in names:
        section_args = argparse.Namespace(**vars(args))
        section_args.repeat = args.repeat or DEFAULT_REPEAT.get(name, 5)
        print(f"[bench] running {name} ...", flush=True)
        try:
            section = importlib.import_module(SECTIONS[name]).run(section_args)
        except Exception as exc:  # one broken section must not hide the others' numbers
            traceback.print_exc()
            section = Section(name, name, ok=False, error=f"{type(exc).__name__}: {exc}")
        results.append(section)
        print(format_table(section), flush=True)
        write_results([section])
    path = write_results([])
    if len(results) > 1:  # the summary of a full run, all tables together
        print("\n".join(["", *(format_table(s) for s in results)]))
    print(f"\nresults: {path}")
    return 0 if all(s.ok for s in results) else 1


if __name__ == "__main__":
    sys.exit(main())
