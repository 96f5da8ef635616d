"""Cron schedules as Kubernetes' CronJob controller reads them (robfig/cron's standard parser):
five fields `minute hour day-of-month month day-of-week` with `*`, `?`, lists, ranges, steps
(`*/15`, `1-30/5`, `3/10`), month and weekday names (`jan`, `mon`), the descriptors
`@yearly @annually @monthly @weekly @daily @midnight @hourly`, and a `CRON_TZ=` / `TZ=` prefix.

    s = parse("*/15 9-17 * * mon-fri")
    s.next(datetime(2024, 5, 3, 17, 50, tzinfo=UTC))  # -> Mon 2024-05-06 09:00 UTC

Pure: no I/O and no clock; `ScheduleError` carries the message the controller puts in its
UnparseableSchedule event. Day-of-month and day-of-week combine as cron does: when both are
restricted (neither starts with `*`/`?`) a day matching either runs; otherwise both must."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
               "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}


class ScheduleError(ValueError):
    pass


def _field(expr: str, lo: int, hi: int, names: dict[str, int] | None) -> tuple[frozenset[int], bool]:
    """The values of one field and whether it is a star (`*` or `?` leading)."""
    out: set[int] = set()
    star = False

    def num(s: str) -> int:
        if names and s.lower() in names:
            return names[s.lower()]
        if not s.isdigit():
            raise ScheduleError(f"failed to parse int from {s}: strconv.Atoi: parsing \"{s}\": invalid syntax")
        return int(s)
    for part in expr.split(","):
        rng, _, step_s = part.partition("/")
        step = 1
        if step_s:
            step = num(step_s)
            if step == 0:
                raise ScheduleError(f"step of range should be a positive number: {part}")
        if rng in ("*", "?"):
            a, b = lo, hi
            star = star or step == 1
        else:
            x, dash, y = rng.partition("-")
            a = num(x)
            b = num(y) if dash else (hi if step_s else a)
        if a < lo:
            raise ScheduleError(f"beginning of range ({a}) below minimum ({lo}): {part}")
        if b > hi:
            raise ScheduleError(f"end of range ({b}) above maximum ({hi}): {part}")
        if a > b:
            raise ScheduleError(f"beginning of range ({a}) beyond end of range ({b}): {part}")
        out.update(range(a, b + 1, step))
    return frozenset(out), star


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: frozenset[int]
    months: frozenset[int]
    dow: frozenset[int]
    dom_star: bool
    dow_star: bool
    tz: tzinfo | None = None

    def _day_matches(self, t: datetime) -> bool:
        d = t.day in self.dom
        w = (t.isoweekday() % 7) in self.dow
        if self.dom_star or self.dow_star:
            return d and w
        return d or w

    def next(self, after: datetime) -> datetime:
        """The first scheduled time strictly after `after` (an aware datetime), in the
        schedule's time zone when it has one, else in `after`'s.

        Minutes and hours advance in absolute time, days and months on the wall clock, as
        robfig/cron does: at a daylight-saving fall-back the repeated hour runs twice, at a
        spring-forward the skipped hour does not run."""
        tz = self.tz or after.tzinfo or UTC

        def plus(t: datetime, d: timedelta) -> datetime:
            return (t.astimezone(UTC) + d).astimezone(tz)
        t = plus(after.astimezone(tz).replace(second=0, microsecond=0), timedelta(minutes=1))
        limit = t.year + 5
        while t.year <= limit:
            if t.month not in self.months:
                y, m = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
                t = datetime(y, m, 1, tzinfo=tz)
                continue
            if not self._day_matches(t):
                t = datetime(t.year, t.month, t.day, tzinfo=tz) + timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = plus(t.replace(minute=0), timedelta(hours=1))
                continue
            if t.minute not in self.minutes:
                t = plus(t, timedelta(minutes=1))
                continue
            return t
        raise ScheduleError("no time matches the schedule within five years")


def load_zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ScheduleError(f"unknown time zone {name}") from e


def parse(spec: str, time_zone: str | None = None) -> Schedule:
    """Parse a CronJob's `schedule` (and its `timeZone`, which a CRON_TZ prefix may not
    accompany: the API rejects that combination)."""
    s = spec.strip()
    tz: tzinfo | None = load_zone(time_zone) if time_zone else None
    if s.startswith(("CRON_TZ=", "TZ=")):
        head, _, s = s.partition(" ")
        tz = load_zone(head.split("=", 1)[1])
        s = s.strip()
    s = DESCRIPTORS.get(s.lower(), s) if s.startswith("@") else s
    if s.startswith("@"):
        raise ScheduleError(f"unrecognized descriptor: {s}")
    fields = s.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: {spec}")
    minutes, _ = _field(fields[0], 0, 59, None)
    hours, _ = _field(fields[1], 0, 23, None)
    dom, dom_star = _field(fields[2], 1, 31, None)
    months, _ = _field(fields[3], 1, 12, MONTHS)
    dow, dow_star = _field(fields[4], 0, 7, DAYS)
    if 7 in dow:
        dow = frozenset((dow - {7}) | {0})
    return Schedule(minutes, hours, dom, months, dow, dom_star, dow_star, tz)
