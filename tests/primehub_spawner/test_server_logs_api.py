"""The server-log API's pure parts: Kubernetes timestamps compared as times, lines after the
last one read (what ``primehub notebook logs -f`` polls with), the query's checks."""

from __future__ import annotations

import re

import pytest
from tornado import web

from primehub_spawner.server_logs_api import (
    DEFAULT_TAIL,
    MAX_TAIL,
    lines_after,
    parse_query,
    parse_stamp,
    server_logs_handlers,
)


def test_timestamps_compare_by_time_not_as_text():
    # RFC 3339 with trimmed zeros: as strings "...05.1Z" > "...05.12Z", as times it is earlier
    assert parse_stamp("2026-01-02T03:04:05.1Z") < parse_stamp("2026-01-02T03:04:05.12Z")
    assert parse_stamp("2026-01-02T03:04:05Z") < parse_stamp("2026-01-02T03:04:05.000000001Z")
    for bad in ("", "yesterday", "2026-01-02 03:04:05Z", "2026-01-02T03:04:05.1234567891Z"):
        assert parse_stamp(bad) is None


def test_only_lines_after_the_last_one_read_without_their_stamps():
    log = (
        "2026-01-02T03:04:05.1Z first\n"
        "2026-01-02T03:04:05.12Z second\n"
        "a line without a stamp\n"
        "2026-01-02T03:04:06Z third\n"
    )
    text, last = lines_after(log, None)
    assert text == "first\nsecond\na line without a stamp\nthird\n"
    assert last == "2026-01-02T03:04:06Z"
    text, last = lines_after(log, parse_stamp("2026-01-02T03:04:05.1Z"))
    assert text == "second\na line without a stamp\nthird\n"
    assert lines_after("", None) == ("", None)


def test_the_query_is_checked_with_a_message():
    assert parse_query(None, None) == (DEFAULT_TAIL, None)
    assert parse_query("20", "2026-01-02T03:04:05Z")[0] == 20
    for tail, since, message in (
        ("0", None, "between 1 and"),
        (str(MAX_TAIL + 1), None, "between 1 and"),
        ("ten", None, "whole number"),
        (None, "1 hour ago", "X-Log-Last"),
    ):
        with pytest.raises(web.HTTPError) as e:
            parse_query(tail, since)
        assert e.value.status_code == 400 and message in e.value.log_message


def test_routes_take_one_segment_per_name():
    (default, named) = [re.compile(pattern + "$") for pattern, _ in server_logs_handlers()]
    assert default.match("/api/primehub/users/alice%2Fx/server/logs").groups() == ("alice%2Fx",)
    assert named.match("/api/primehub/users/alice/servers/gpu/logs").groups() == ("alice", "gpu")
    assert not named.match("/api/primehub/users/alice/servers/a/b/logs")
    assert not named.match("/api/primehub/users/alice/servers//logs")
