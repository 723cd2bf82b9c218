"""Cron parsing and next-run times in a time zone (hub jobs schedules)."""

from datetime import datetime, timezone

import pytest

from primehub_spawner.jobs.cron import CronError, expression_for, next_run, parse_cron, zone

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "expression, after, expected",
    [
        ("*/15 * * * *", "2026-03-01T10:07:00", "2026-03-01T10:15:00"),
        ("*/15 * * * *", "2026-03-01T10:15:00", "2026-03-01T10:30:00"),  # strictly after
        ("0 4 * * *", "2026-03-01T04:00:30", "2026-03-02T04:00:00"),
        ("30 9 * * mon-fri", "2026-03-06T10:00:00", "2026-03-09T09:30:00"),  # Fri -> Mon
        ("0 0 1 jan,jul *", "2026-03-01T00:00:00", "2026-07-01T00:00:00"),
        ("0 12 * * 7", "2026-03-02T00:00:00", "2026-03-08T12:00:00"),  # 7 is Sunday
        ("0 0 29 2 *", "2026-03-01T00:00:00", "2028-02-29T00:00:00"),  # leap day
        # both day fields restricted: either matches (classic cron)
        ("0 0 13 * fri", "2026-03-01T00:00:00", "2026-03-06T00:00:00"),
        ("5-10/5 1 * * *", "2026-03-01T01:05:00", "2026-03-01T01:10:00"),
    ],
)
def test_next_run_in_utc(expression, after, expected):
    assert next_run(parse_cron(expression), at(after), zone("UTC")) == at(expected)


def test_next_run_uses_the_schedules_time_zone():
    # 04:00 in Taipei (UTC+8, no DST) is 20:00 UTC the day before
    got = next_run(parse_cron("0 4 * * *"), at("2026-03-01T12:00:00"), zone("Asia/Taipei"))
    assert got == at("2026-03-01T20:00:00")


def test_daylight_saving_gap_and_repeat():
    ny = zone("America/New_York")
    # 2026-03-08 02:30 does not exist in New York: that day is skipped
    got = next_run(parse_cron("30 2 * * *"), at("2026-03-08T00:00:00"), ny)
    assert got == at("2026-03-09T06:30:00")  # 02:30 EDT
    # 2026-11-01 01:30 happens twice: it runs once, at the first (EDT, UTC-4)
    first = next_run(parse_cron("30 1 * * *"), at("2026-11-01T04:00:00"), ny)
    assert first == at("2026-11-01T05:30:00")
    assert next_run(parse_cron("30 1 * * *"), first, ny) == at("2026-11-02T06:30:00")


@pytest.mark.parametrize(
    "expression, message",
    [
        ("* * * *", "must have 5 fields"),
        ("61 * * * *", "minute: 61 is out of range 0-59"),
        ("* 24 * * *", "hour: 24 is out of range 0-23"),
        ("*/0 * * * *", "step '0' must be a positive number"),
        ("5-1 * * * *", "range '5-1' goes backwards"),
        ("* * * foo *", "month: 'foo' is not a number"),
        ("1,,2 * * * *", "empty list item"),
    ],
)
def test_invalid_cron_is_refused_with_a_message(expression, message):
    with pytest.raises(CronError, match=message.replace("(", r"\(").replace("*", r"\*")):
        parse_cron(expression)


def test_never_running_expression_is_refused():
    with pytest.raises(CronError, match="never runs"):
        next_run(parse_cron("0 0 30 2 *"), at("2026-01-01T00:00:00"), zone("UTC"))


def test_presets_and_recurrence_types():
    assert expression_for("daily", None) == "0 4 * * *"
    assert expression_for("weekly", None) == "0 4 * * 0"
    assert expression_for("monthly", None) == "0 4 1 * *"
    assert expression_for("inactive", "* * * * *") is None
    assert expression_for("custom", "*/5  *  * * *") == "*/5 * * * *"
    with pytest.raises(CronError, match="needs a cron expression"):
        expression_for("custom", None)
    with pytest.raises(CronError, match="recurrence: 'hourly' is not one of"):
        expression_for("hourly", None)


def test_unknown_time_zone():
    with pytest.raises(CronError, match="unknown time zone 'Mars/Olympus'"):
        zone("Mars/Olympus")
