"""The fuzzers' count of HTTP requests really sent, per API (issue 15: at least 10,000 in one
run across the hub, the jobs service and the single-user server, zero 5xx).

Each fuzzer calls :func:`sent` once per request it sends; ``conftest.py`` prints the counts at
the end of the session and ``test_fuzz_zz_total.py`` checks the sum.
"""

from __future__ import annotations

from collections import Counter

HUB_SPAWN = "hub REST spawn (user_options)"
HUB_JOBS = "hub primehub-jobs REST API"
SINGLE_USER = "single-user jobs REST API"
APIS = (HUB_SPAWN, HUB_JOBS, SINGLE_USER)

COUNTS: Counter[str] = Counter()


def sent(api: str) -> None:
    """One request was sent to ``api``."""
    COUNTS[api] += 1


def total() -> int:
    return sum(COUNTS.values())
