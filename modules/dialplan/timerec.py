"""OpenSIPS time recurrences (the `timerec` column; cfgutils' check_time_rec format).

One recurrence is `[TZ|]DTSTART|DTEND|DURATION|FREQ|UNTIL|INTERVAL|BYDAY|BYMONTHDAY|BYYEARDAY|
BYWEEKNO|BYMONTH` (RFC 2445 pieces; trailing fields may be left out, empty ones skipped), e.g.
`20240101T090000|20240101T170000||WEEKLY|||MO,TU,WE,TH,FR` for office hours. Several combine
with `&` (and) or `/` (or, one kind per level), `!` (not) and parentheses. The checks follow
OpenSIPS's time_rec.c, Monday-based week numbers included, so a rule applies at the same moments
as there. Sans-I/O: the time is passed in.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FREQ_NONE, FREQ_YEARLY, FREQ_MONTHLY, FREQ_WEEKLY, FREQ_DAILY = 0, 1, 2, 3, 4
SEC_DAILY = 86400
SEC_WEEKLY = 7 * SEC_DAILY
SEC_MONTHLY_MAX = 31 * SEC_DAILY
SEC_YEARLY_MAX = 366 * SEC_DAILY
_WEEKDAYS = {"SU": 0, "MO": 1, "TU": 2, "WE": 3, "TH": 4, "FR": 5, "SA": 6}


@dataclass(frozen=True, slots=True)
class Tm:
    """struct tm as OpenSIPS reads it: month 0-11, yday 0-365, wday 0 = Sunday."""

    year: int
    mon: int
    mday: int
    hour: int
    min: int
    sec: int
    wday: int
    yday: int

    @classmethod
    def of(cls, moment: datetime) -> Tm:
        return cls(moment.year, moment.month - 1, moment.day, moment.hour, moment.minute,
                   moment.second, (moment.weekday() + 1) % 7, moment.timetuple().tm_yday - 1)

    @property
    def seconds(self) -> int:
        return self.hour * 3600 + self.min * 60 + self.sec

    @property
    def yweek(self) -> int:  # Monday-based week of the year (strftime %W)
        return (self.yday + 7 - (self.wday - 1 if self.wday else 6)) // 7


def _local(ts: float, zone: tzinfo | None) -> Tm:
    return Tm.of(datetime.fromtimestamp(ts, zone) if zone else datetime.fromtimestamp(ts))


def _epoch(year: int, mon: int, mday: int, hour: int, minute: int, sec: int,
           zone: tzinfo | None) -> int:
    return int(datetime(year, mon, mday, hour, minute, sec, tzinfo=zone).timestamp())


def _datetime(text: str, zone: tzinfo | None) -> tuple[int, Tm]:
    if len(text) != 15 or text[8] not in "Tt" or not (text[:8] + text[9:]).isdigit():
        raise ValueError(f"bad date-time {text!r}")
    year, mon, mday = int(text[:4]), int(text[4:6]), int(text[6:8])
    if year < 1970 or mon == 0 or mday == 0:
        raise ValueError(f"bad date-time {text!r}")
    ts = _epoch(year, mon, mday, int(text[9:11]), int(text[11:13]), int(text[13:15]), zone)
    return ts, _local(ts, zone)


def _duration(text: str) -> int:
    """RFC 2445 duration (P1W2DT3H4M5S, or 3H4M without P)."""
    if len(text) < 2:
        raise ValueError(f"bad duration {text!r}")
    date_part = text[0] in "Pp"
    total = value = 0
    units_date = {"w": 7 * SEC_DAILY, "d": SEC_DAILY}
    units_time = {"h": 3600, "m": 60, "s": 1}
    for ch in text[1:] if date_part else text:
        low = ch.lower()
        if ch.isdigit():
            value = value * 10 + int(ch)
        elif low == "t" and date_part:
            date_part = False
        elif date_part and low in units_date:
            total, value = total + value * units_date[low], 0
        elif not date_part and low in units_time:
            total, value = total + value * units_time[low], 0
        else:
            raise ValueError(f"bad duration {text!r}")
    return total


def _byxxx(text: str) -> list[tuple[int, int]]:
    """(value, sign) pairs of a BYMONTHDAY/BYYEARDAY/BYWEEKNO/BYMONTH list."""
    out = []
    for item in text.split(","):
        item = item.strip(" \t+")
        sign = -1 if item.startswith("-") else 1
        digits = item.lstrip("-").strip()
        if digits and not digits.isdigit():
            raise ValueError(f"bad list {text!r}")
        out.append((int(digits or 0), sign))
    return out


def _byday(text: str) -> list[tuple[int, int]]:
    """(weekday, occurrence) pairs: occurrence 0-based from the start, negative from the end."""
    out = []
    for item in text.split(","):
        item = item.strip(" \t+")
        sign = -1 if item.startswith("-") else 1
        item = item.lstrip("-").strip()
        digits = item[:-2]
        day = item[-2:].upper()
        if day not in _WEEKDAYS or (digits and not digits.isdigit()):
            raise ValueError(f"bad BYDAY {text!r}")
        occurrence = sign * int(digits or 0)
        if day == "WE":  # OpenSIPS resets the count before it stores it for Wednesday
            occurrence = 0
        out.append((_WEEKDAYS[day], occurrence - 1 if occurrence > 0 else occurrence))
    return out


@dataclass(slots=True)
class TimeRec:
    zone: tzinfo | None = None
    dtstart: int | None = None
    start_tm: Tm | None = None
    dtend: int | None = None
    duration: int | None = None
    freq: int = FREQ_NONE
    until: int | None = None
    interval: int | None = None
    byday: list[tuple[int, int]] | None = None
    bymday: list[tuple[int, int]] | None = None
    byyday: list[tuple[int, int]] | None = None
    byweekno: list[tuple[int, int]] | None = None
    bymonth: list[tuple[int, int]] | None = None

    @property
    def has_byxxx(self) -> bool:
        return any(x is not None for x in (self.byday, self.bymday, self.byyday, self.byweekno,
                                           self.bymonth))

    def min_interval(self) -> int:
        if self.freq == FREQ_DAILY or self.byday or self.bymday or self.byyday:
            return FREQ_DAILY
        if self.freq == FREQ_WEEKLY or self.byweekno:
            return FREQ_WEEKLY
        if self.freq == FREQ_MONTHLY or self.bymonth:
            return FREQ_MONTHLY
        return FREQ_YEARLY if self.freq == FREQ_YEARLY else FREQ_NONE


_FREQS = {"daily": FREQ_DAILY, "weekly": FREQ_WEEKLY, "monthly": FREQ_MONTHLY,
          "yearly": FREQ_YEARLY}


def parse_timerec(text: str) -> TimeRec:
    fields = text.split("|")
    rec = TimeRec()
    if fields and fields[0][:1].isupper() and fields[0][:1].isalpha():
        try:
            rec.zone = ZoneInfo(fields[0])
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {fields[0]!r}") from None
        fields = fields[1:]
    names = ("dtstart", "dtend", "duration", "freq", "until", "interval", "byday", "bymday",
             "byyday", "byweekno", "bymonth")
    if len(fields) > len(names):
        raise ValueError(f"too many fields in {text!r}")
    for name, value in zip(names, fields, strict=False):
        if not value:
            continue
        if name == "dtstart":
            rec.dtstart, rec.start_tm = _datetime(value, rec.zone)
        elif name in ("dtend", "until"):
            setattr(rec, name, _datetime(value, rec.zone)[0])
        elif name == "duration":
            rec.duration = _duration(value)
        elif name == "freq":
            rec.freq = _FREQS.get(value.lower(), FREQ_NONE)
        elif name == "interval":
            rec.interval = int(value) if value.isdigit() else 0
        elif name == "byday":
            rec.byday = _byday(value)
        else:
            setattr(rec, name, _byxxx(value))
    _complete(rec, text)
    return rec


def _complete(rec: TimeRec, text: str) -> None:
    """OpenSIPS's defaults: dtstart the epoch, an open or period-long end, duration from it."""
    if rec.dtstart is None:
        rec.dtstart = 0
        rec.start_tm = _local(0, rec.zone)
    start = rec.start_tm
    assert start is not None
    if rec.duration is None:
        if rec.dtend is None:
            unit = rec.min_interval()
            if unit == FREQ_DAILY:
                rec.dtend = rec.dtstart + SEC_DAILY - start.seconds
            elif unit == FREQ_WEEKLY:
                rec.dtend = rec.dtstart + SEC_WEEKLY - (start.wday * SEC_DAILY + start.seconds)
            elif unit == FREQ_MONTHLY:
                rec.dtend = rec.dtstart + SEC_MONTHLY_MAX - (start.mday * SEC_DAILY + start.seconds)
            elif unit == FREQ_YEARLY:
                rec.dtend = rec.dtstart + SEC_YEARLY_MAX - (start.yday * SEC_DAILY + start.seconds)
            else:
                rec.dtend = 4294967295
        rec.duration = rec.dtend - rec.dtstart
    else:
        rec.dtend = rec.dtstart + rec.duration
    if rec.freq == FREQ_NONE and (rec.until is not None or rec.interval is not None
                                  or rec.has_byxxx):
        raise ValueError(f"missing FREQ component in time rec: {text!r}")


def _freq_interval(rec: TimeRec, now: Tm) -> bool:
    start = rec.start_tm
    assert start is not None
    if not rec.interval or rec.interval == 1:
        return True
    if rec.freq in (FREQ_DAILY, FREQ_WEEKLY):
        t0 = _epoch(start.year, start.mon + 1, start.mday, 0, 0, 0, rec.zone)
        t1 = _epoch(now.year, now.mon + 1, now.mday, 0, 0, 0, rec.zone)
        if rec.freq == FREQ_DAILY:
            return int((t1 - t0) / SEC_DAILY) % rec.interval == 0
        t0 -= ((start.wday + 6) % 7) * SEC_DAILY
        t1 -= ((now.wday + 6) % 7) * SEC_DAILY
        return int((t1 - t0) / SEC_WEEKLY) % rec.interval == 0
    if rec.freq == FREQ_MONTHLY:
        return ((now.year - start.year) * 12 + now.mon - start.mon) % rec.interval == 0
    if rec.freq == FREQ_YEARLY:
        return (now.year - start.year) % rec.interval == 0
    return False


def _recur_interval(now: Tm, begin: Tm, end: Tm, duration: int, unit: int) -> bool:
    if unit == FREQ_DAILY:
        if begin.mday == end.mday:
            return begin.seconds <= now.seconds < end.seconds
        return begin.seconds <= now.seconds or now.seconds < end.seconds
    d1, d2, dx = {FREQ_YEARLY: (begin.yday, end.yday, now.yday),
                  FREQ_MONTHLY: (begin.mday, end.mday, now.mday),
                  FREQ_WEEKLY: (begin.wday, end.wday, now.wday)}[unit]
    if d1 < d2:
        if dx < d1 or dx > d2:
            return False
        if d1 < dx < d2:
            return True
    elif d2 < d1:
        if d2 < dx < d1:
            return False
        if dx < d2 or dx > d1:
            return True
    elif dx != d1:
        return duration > SEC_DAILY
    else:
        return begin.seconds <= now.seconds < end.seconds
    if dx == d1:
        return now.seconds - begin.seconds > 0
    return end.seconds - now.seconds > 0


def _min_unit(rec: TimeRec, now: Tm) -> bool:
    unit = rec.min_interval()
    duration = rec.duration or 0
    limits = {FREQ_DAILY: SEC_DAILY, FREQ_WEEKLY: SEC_WEEKLY, FREQ_MONTHLY: SEC_MONTHLY_MAX,
              FREQ_YEARLY: SEC_YEARLY_MAX}
    if unit not in limits:
        return False
    if duration >= limits[unit]:
        return True
    assert rec.start_tm is not None and rec.dtend is not None
    return _recur_interval(now, rec.start_tm, _local(rec.dtend, rec.zone), duration, unit)


def _year_limits(now: Tm) -> tuple[int, int, int, int, int]:
    """Days in the year and month, occurrences of now's weekday in the year and in the month, and
    weeks in the year (OpenSIPS's ac_get_maxval)."""
    year = now.year
    ydays = 366 if calendar.isleap(year) else 365
    mdays = calendar.monthrange(year, now.mon + 1)[1]
    last = Tm.of(datetime(year, 12, 31))
    v = now.wday - last.wday + 1 if now.wday > last.wday else last.wday - now.wday
    ywday = (last.yday - v) // 7 + 1
    yweek = last.yweek + 1
    mwday = (mdays - 1 - (mdays - now.mday) % 7) // 7 + 1
    return ydays, mdays, ywday, mwday, yweek


def _byxxx_ok(rec: TimeRec, now: Tm) -> bool:
    if not rec.has_byxxx:
        return True
    ydays, mdays, ywday_max, mwday_max, yweek_max = _year_limits(now)
    if rec.bymonth is not None and not any(
            now.mon == ((v - 1) * s + 12) % 12 for v, s in rec.bymonth):
        return False
    if rec.freq == FREQ_YEARLY and rec.byweekno is not None and not any(
            now.yweek == ((v - 1) * s + yweek_max) % yweek_max for v, s in rec.byweekno):
        return False
    if rec.byyday is not None and not any(
            now.yday == ((v - 1) * s + ydays) % ydays for v, s in rec.byyday):
        return False
    if rec.bymday is not None and not any(
            now.mday == (v * s + mdays) % mdays + (1 if s < 0 else 0) for v, s in rec.bymday):
        return False
    if rec.byday is not None:
        ywday, wom = now.yday // 7, (now.mday - 1) // 7
        for day, occurrence in rec.byday:
            if now.wday != day:
                continue
            if rec.freq == FREQ_YEARLY:
                if ywday == (occurrence + ywday_max) % ywday_max:
                    return True
            elif rec.freq == FREQ_MONTHLY:
                if wom == (occurrence + mwday_max) % mwday_max:
                    return True
            else:
                return True
        return False
    return True


def check_timerec(rec: TimeRec, ts: float) -> bool:
    assert rec.dtstart is not None and rec.dtend is not None
    if ts < rec.dtstart:
        return False
    if rec.freq == FREQ_NONE:
        return ts < rec.dtend
    now = _local(ts, rec.zone)
    if not _freq_interval(rec, now) or not _min_unit(rec, now) or not _byxxx_ok(rec, now):
        return False
    return rec.until is None or ts <= rec.until


# ---- expressions -----------------------------------------------------------------------------

Check = Callable[[float], bool]


def _split_operands(text: str) -> tuple[list[tuple[bool, str]], str | None]:
    """The operands of one level as (negated, text) and its operator ('&', '/' or None)."""
    operands: list[tuple[bool, str]] = []
    operator: str | None = None
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        negated = False
        while i < n and text[i] in "! \t":
            if text[i] == "!":
                negated = not negated
            i += 1
        if i >= n:
            raise ValueError(f"missing operand in {text!r}")
        if text[i] == "(":
            depth, j = 0, i
            while j < n:
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            if depth:
                raise ValueError(f"bad parentheses in {text!r}")
            operands.append((negated, text[i:j + 1]))
            i = j + 1
        else:
            j, seen_field = i, False
            while j < n and not text[j].isspace() and text[j] != "&" and not (
                    text[j] == "/" and seen_field):
                if text[j] in "!()":
                    raise ValueError(f"unexpected {text[j]!r} in {text!r}")
                seen_field = seen_field or text[j] == "|"
                j += 1
            operands.append((negated, text[i:j]))
            i = j
        while i < n and text[i].isspace():
            i += 1
        if i < n:
            if text[i] not in "&/":
                raise ValueError(f"expected & or / in {text!r}")
            if operator is not None and operator != text[i]:
                raise ValueError("only 1 operator type is allowed within an expression")
            operator = text[i]
            i += 1
            if i >= n or not text[i:].strip():
                raise ValueError(f"missing operand in {text!r}")
    if not operands:
        raise ValueError("empty time recurrence")
    return operands, operator


def parse_time_check(text: str) -> Check:
    """A function telling whether the recurrence expression holds at a time (ValueError when
    it does not parse)."""
    operands, operator = _split_operands(text.strip())
    checks: list[Check] = []
    for negated, operand in operands:
        if operand.startswith("("):
            inner = parse_time_check(operand[1:-1])
        else:
            rec = parse_timerec(operand)
            inner = (lambda r: lambda ts: check_timerec(r, ts))(rec)
        checks.append((lambda c: lambda ts: not c(ts))(inner) if negated else inner)
    if len(checks) == 1:
        return checks[0]
    if operator == "&":
        return lambda ts: all(c(ts) for c in checks)
    return lambda ts: any(c(ts) for c in checks)
