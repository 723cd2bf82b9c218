"""The fuzzers together sent at least 10,000 requests in this run (issue 15's proof).

Runs after the fuzz modules (file order). ``fuzzcount.COUNTS`` is incremented once per HTTP
request the fuzzers really sent; when a fuzz module did not run in this session (deselected,
or its cluster is unavailable) there is no total to check.
"""

from __future__ import annotations

import pytest

from .fuzzcount import APIS, COUNTS, total

MODULES = (
    "test_fuzz_hub_jobs_api.py",
    "test_fuzz_hub_spawn.py",
    "test_fuzz_jobs_api.py",
    "test_fuzz_job_artifacts.py",
)


def test_the_fuzzers_sent_at_least_10000_requests_to_the_three_apis(request):
    ran = {item.path.name for item in request.session.items}
    missing = [m for m in MODULES if m not in ran] + [a for a in APIS if not COUNTS[a]]
    if missing:
        pytest.skip(f"not every fuzzer ran in this session: {', '.join(missing)}")
    assert total() >= 10_000, dict(COUNTS)
