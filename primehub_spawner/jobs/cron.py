"""PURE cron: five-field expressions, PrimeHub's recurrence presets, next run in a time zone.

Fields: minute hour day-of-month month day-of-week, each ``*``, a number, a range ``a-b``, a
step ``*/n`` or ``a-b/n``, or a comma list of those; month and weekday names (``jan``, ``mon``)
are accepted; weekday 0 and 7 are Sunday. As in classic cron, when both day fields are
restricted a day matching either one matches. Times are wall-clock times in the schedule's
time zone: a time skipped by a daylight-saving jump does not run that day, a repeated hour runs
once (the first occurrence).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PRESETS = {
    "daily": "0 4 * * *",
    "weekly": "0 4 * * 0",
    "monthly": "0 4 1 * *",
}
RECURRENCE_TYPES = ("inactive", "daily", "weekly", "monthly", "custom")
_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_DAYS = "sun mon tue wed thu fri sat".split()
_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    ("day of week", 0, 7, {name: i for i, name in enumerate(_DAYS)}),
)
MAX_YEARS_AHEAD = 5


class CronError(ValueError):
    """An expression or time zone that cannot be used; the message says what to change."""


def _number(text: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    value = names.get(text.lower())
    if value is None:
        if not text.isdigit():
            raise CronError(f"{field}: {text!r} is not a number")
        value = int(text)
    if not low <= value <= high:
        raise CronError(f"{field}: {value} is out of range {low}-{high}")
    return value


def _parse_field(text: str, field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{field}: empty list item in {text!r}")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            start = _number(a, field, low, high, names)
            end = _number(b, field, low, high, names)
            if start > end:
                raise CronError(f"{field}: range {base!r} goes backwards")
        else:
            start = _number(base, field, low, high, names)
            end = high if slash else start
        values.update(range(start, end + 1, step))
    return values


@dataclass(frozen=True)
class CronSpec:
    """A parsed expression: the allowed values of each field."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month is "*"
    any_weekday: bool  # day of week is "*"

    def matches_day(self, day: date) -> bool:
        """Whether the schedule runs on ``day`` (some time)."""
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return in_week
        if self.any_weekday:
            return in_month
        return in_month or in_week


def parse_cron(expression: str) -> CronSpec:
    """Parse a five-field cron expression or raise :class:`CronError`."""
    if not isinstance(expression, str):
        raise CronError("cron: must be a string such as '0 4 * * *'")
    parts = expression.split()
    if len(parts) != 5:
        raise CronError(
            f"cron: {expression!r} must have 5 fields (minute hour day-of-month month "
            "day-of-week), e.g. '*/15 * * * *'"
        )
    sets = [
        _parse_field(text, name, low, high, names)
        for text, (name, low, high, names) in zip(parts, _FIELDS, strict=True)
    ]
    weekdays = {d % 7 for d in sets[4]}
    return CronSpec(
        expression=" ".join(parts),
        minutes=frozenset(sets[0]),
        hours=frozenset(sets[1]),
        days=frozenset(sets[2]),
        months=frozenset(sets[3]),
        weekdays=frozenset(weekdays),
        any_day=parts[2] == "*",
        any_weekday=parts[4] == "*",
    )


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (e.g. ``Asia/Taipei``) or :class:`CronError`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise CronError(
            f"timezone: unknown time zone {name!r} (use e.g. 'UTC', 'Asia/Taipei')"
        ) from None


def expression_for(recurrence: str, cron: str | None) -> str | None:
    """The cron expression of a recurrence type (None for ``inactive``)."""
    if recurrence not in RECURRENCE_TYPES:
        raise CronError(f"recurrence: {recurrence!r} is not one of {', '.join(RECURRENCE_TYPES)}")
    if recurrence == "inactive":
        return None
    if recurrence == "custom":
        if not cron:
            raise CronError("cron: a custom recurrence needs a cron expression")
        return parse_cron(cron).expression
    return PRESETS[recurrence]


def _exists(local: datetime, tz: ZoneInfo) -> bool:
    # A wall-clock time that a daylight-saving jump skips does not survive the round trip.
    there = local.replace(tzinfo=tz)
    back = there.astimezone(timezone.utc).astimezone(tz)
    return back.replace(tzinfo=None) == local


def next_run(spec: CronSpec, after: datetime, tz: ZoneInfo) -> datetime:
    """The first run strictly after ``after`` (aware), as an aware UTC datetime."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    start = after.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
    day = start.date()
    last_day = day + timedelta(days=366 * MAX_YEARS_AHEAD)
    times = sorted(time(h, m) for h in spec.hours for m in spec.minutes)
    while day <= last_day:
        if spec.matches_day(day):
            for t in times:
                local = datetime.combine(day, t)
                if local <= start and day == start.date():
                    continue
                if not _exists(local, tz):
                    continue
                candidate = local.replace(tzinfo=tz, fold=0).astimezone(timezone.utc)
                if candidate > after:
                    return candidate
        day += timedelta(days=1)
    raise CronError(f"cron: {spec.expression!r} never runs (e.g. February 30)")
