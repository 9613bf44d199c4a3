"""Cron schedules as Kubernetes CronJobs take them, and refusal of schedules that never fire.

Kubernetes validates ``spec.schedule`` with ``cron.ParseStandard`` of github.com/robfig/cron/v3:
five fields (minute hour day-of-month month day-of-week), each a list of ``*``, ``?``, ``N``,
``N-M``, ``*/S``, ``N-M/S`` or ``N/S`` (N to the field's end, every S), month names JAN-DEC and
day names SUN-SAT in any case, day of week 0-6 (0 is Sunday), and the descriptors below. It refuses
``TZ=``/``CRON_TZ=`` prefixes (the CronJob's timeZone field sets the zone). These rules follow that
parser; no PyPI library matches it (croniter also accepts ``L``, ``#``, a seconds field and
day-of-week 7, which the API server refuses), hence this small validator.

Like robfig/cron, a schedule that restricts both day of month and day of week fires when either
matches; with one of them ``*`` or ``?``, both must match. A schedule whose only days do not exist
(30 February, 31 April) would never run: it is refused.
"""

from __future__ import annotations

import calendar
import re

#: The descriptors Kubernetes documents for CronJob schedules (robfig/cron's), as their five-field form.
DESCRIPTORS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
#: (name, lowest, highest, names) of the five fields, in order.
FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
_ITEM = re.compile(r"^(?P<start>\*|\?|[A-Za-z0-9]+)(-(?P<end>[A-Za-z0-9]+))?(/(?P<step>[0-9]+))?$")
#: The most days each month can have (29 February fires in leap years).
_MONTH_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
ALLOWED = (
    "five-field cron as CronJobs take it (N, N-M, */S, lists, JAN-DEC, SUN-SAT, ?) or @hourly, @daily, @weekly, @monthly, @yearly; "
    "a schedule that never fires (30 February) is refused"
)


class _Refused(ValueError):
    pass


def _number(text: str, what: str, low: int, high: int, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        allowed = f" or a name {'-'.join(k.upper() for k in list(names)[:: len(names) - 1])}" if names else ""
        raise _Refused(f"{what} {text!r} is not a number {low}-{high}{allowed}")
    value = int(text)
    if not low <= value <= high:
        raise _Refused(f"{what} {value} is outside {low}-{high}")
    return value


def _field(text: str, what: str, low: int, high: int, names: dict[str, int]) -> tuple[set[int], bool]:
    """The values a field matches, and whether it is unrestricted (``*`` or ``?`` without a step)."""
    values: set[int] = set()
    star = False
    for item in text.split(","):
        match = _ITEM.match(item)
        if not match:
            raise _Refused(f"{what} {text!r} is not *, ?, N, N-M, */S, N-M/S or a list of them")
        start_text, end_text, step_text = match.group("start"), match.group("end"), match.group("step")
        step = int(step_text) if step_text is not None else 1
        if step == 0:
            raise _Refused(f"step 0 in {what} {text!r}")
        if start_text in ("*", "?"):
            if end_text is not None:
                raise _Refused(f"{what} {item!r}: a range cannot start with {start_text}")
            start, end = low, high
            star = star or step == 1
        else:
            start = _number(start_text, what, low, high, names)
            # N/S means N to the field's end, every S (robfig/cron).
            end = _number(end_text, what, low, high, names) if end_text is not None else high if step_text is not None else start
            if start > end:
                raise _Refused(f"{what} {item!r}: the range starts after it ends")
        values.update(range(start, end + 1, step))
    return values, star


def cron_schedule(value: str) -> str:
    """``value`` if Kubernetes accepts it as a CronJob schedule and it fires at least once; else a ValueError."""
    text = value.strip()
    try:
        if "TZ" in text:
            raise _Refused("time zone prefixes (TZ=, CRON_TZ=) are refused by Kubernetes; schedules run in UTC")
        if text.startswith("@"):
            if text.lower() not in DESCRIPTORS:
                raise _Refused(f"unknown descriptor {text!r}; allowed: {', '.join(DESCRIPTORS)}")
            return value
        fields = text.split()
        if len(fields) != 5:
            raise _Refused("five fields (minute hour day-of-month month day-of-week), e.g. 0 3 * * * or 0 6 * * MON-FRI")
        parsed = [_field(field, *spec) for field, spec in zip(fields, FIELDS, strict=True)]
    except _Refused as refusal:
        raise ValueError(f"{value!r} is not a cron schedule: {refusal}") from None
    (days, days_star), (months, _), (_, weekdays_star) = parsed[2], parsed[3], parsed[4]
    # Days of month restricted, days of week not: only those dates fire; they must exist in a listed month.
    if not days_star and weekdays_star and not any(day <= _MONTH_DAYS[month] for month in months for day in days):
        raise ValueError(
            f"{value!r} never fires: no listed month has day {', '.join(str(d) for d in sorted(days))}; the scan would never run"
        )
    return value
