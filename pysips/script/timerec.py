"""Time recurrences as OpenSIPS 3.6 matches them (its time_rec.c, after RFC 2445): the
`timerec` column of dr_rules and dialplan, and cfgutils' check_time_rec() argument. One parser and
checker for every module that takes them.

    [tz|]dtstart|dtend|duration|freq|until|interval|byday|bymonthday|byyearday|byweekno|bymonth

Several may be combined with `&` (and), `/` (or), `!` (not) and parentheses. Weeks start on
Monday, as in OpenSIPS's default build. Checking takes the time as a UNIX timestamp (sans-I/O):
`TimeRecExpr.matches(now)`. The local time is the recurrence's time zone, else the server's.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

NOVAL = -1
FREQ_NOFREQ, FREQ_YEARLY, FREQ_MONTHLY, FREQ_WEEKLY, FREQ_DAILY = 0, 1, 2, 3, 4
SEC_DAILY = 86400
SEC_WEEKLY = 7 * SEC_DAILY
SEC_MONTHLY_MAX = 31 * SEC_DAILY
SEC_YEARLY_MAX = 366 * SEC_DAILY
WDAY = {"SU": 0, "MO": 1, "TU": 2, "WE": 3, "TH": 4, "FR": 5, "SA": 6}


class TimeRecError(ValueError):
    """A recurrence OpenSIPS would refuse to parse."""


@dataclass(frozen=True, slots=True)
class Tm:
    """C's struct tm fields the checks use (tm_wday: Sunday 0; tm_yday from 0)."""

    year: int
    mon: int  # 0-11
    mday: int
    hour: int
    min: int
    sec: int
    wday: int
    yday: int

    @property
    def secs(self) -> int:
        return self.hour * 3600 + self.min * 60 + self.sec


def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC  # glibc treats an unknown TZ as UTC


def localtime(ts: float, zone: tzinfo | None) -> Tm:
    if zone is None:
        t = time.localtime(ts)
        return Tm(
            t.tm_year,
            t.tm_mon - 1,
            t.tm_mday,
            t.tm_hour,
            t.tm_min,
            t.tm_sec,
            (t.tm_wday + 1) % 7,
            t.tm_yday - 1,
        )
    d = datetime.fromtimestamp(ts, zone)
    return Tm(
        d.year,
        d.month - 1,
        d.day,
        d.hour,
        d.minute,
        d.second,
        (d.weekday() + 1) % 7,
        d.timetuple().tm_yday - 1,
    )


def mktime(year: int, mon: int, mday: int, hour: int, minute: int, sec: int, zone: tzinfo | None) -> int:
    """C mktime with tm_isdst = -1; the month, day and time may be out of range (normalised)."""
    if zone is None:
        return int(time.mktime((year, mon + 1, mday, hour, minute, sec, 0, 0, -1)))
    years, mon = divmod(mon, 12)
    naive = datetime(year + years, mon + 1, 1) + timedelta(
        days=mday - 1, hours=hour, minutes=minute, seconds=sec
    )
    return int(naive.replace(tzinfo=zone).timestamp())


def _tm_of(year: int, mon: int, mday: int, zone: tzinfo | None) -> Tm:
    return localtime(mktime(year, mon, mday, 0, 0, 0, zone), zone)


def parse_datetime(text: str, zone: tzinfo | None) -> tuple[int, Tm]:
    """ "20240131T083000" in the recurrence's zone -> (timestamp, its broken-down time)."""
    if len(text) != 15:
        raise TimeRecError(f"bad Date-Time {text!r}")

    def d(i: int) -> int:
        return ord(text[i]) - 48

    year = d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3)
    if year < 1970:
        raise TimeRecError(f"invalid year in Date-Time: {text!r}")
    mon = d(4) * 10 + d(5) - 1
    mday = d(6) * 10 + d(7)
    if mon == -1 or mday == 0:
        raise TimeRecError(f"month or month day cannot be zero in Date-Time: {text!r}")
    ts = mktime(year, mon, mday, d(9) * 10 + d(10), d(11) * 10 + d(12), d(13) * 10 + d(14), zone)
    return ts, localtime(ts, zone)


def parse_duration(text: str) -> int:
    """ "PT1H30M", "P2D", "3600" ... in seconds; 0 for a bad one (as OpenSIPS, which logs it)."""
    if len(text) < 2:
        raise TimeRecError(f"bad duration {text!r}")
    rest, date_part = (text[1:], True) if text[0] in "Pp" else (text, False)
    total = value = 0
    for ch in rest:
        if ch.isdigit():
            value = value * 10 + ord(ch) - 48
            continue
        unit = ch.lower()
        if unit == "t" and date_part:
            date_part = False
            continue
        seconds = {"w": SEC_WEEKLY, "d": SEC_DAILY, "h": 3600, "m": 60, "s": 1}.get(unit)
        if seconds is None or (unit in "wd") != date_part:
            return 0
        total += value * seconds
        value = 0
    return total


@dataclass(frozen=True, slots=True)
class ByList:
    values: tuple[int, ...]
    signs: tuple[int, ...]  # -1 counts from the end


def parse_byxxx(text: str) -> ByList:
    values: list[int] = []
    signs: list[int] = []
    value, sign = 0, 1
    for ch in text:
        if ch.isdigit():
            value = value * 10 + ord(ch) - 48
        elif ch == "-":
            sign = -1
        elif ch in "+ \t":
            continue
        elif ch == ",":
            values.append(value)
            signs.append(sign)
            value, sign = 0, 1
        else:
            raise TimeRecError(f"bad list {text!r}")
    values.append(value)
    signs.append(sign)
    return ByList(tuple(values), tuple(signs))


def parse_byday(text: str) -> ByList:
    """ "MO,-1FR,2TU": (weekday, occurrence) pairs; occurrences count from 0 (1st -> 0), negative
    from the end. As in OpenSIPS, a number before WE is ignored."""
    days: list[int] = []
    reqs: list[int] = []
    value, sign = 0, 1
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit():
            value = value * 10 + ord(ch) - 48
        elif ch == "-":
            sign = -1
        elif ch in "+ \t,":
            pass
        else:
            code = text[i : i + 2].upper()
            if code not in WDAY:
                raise TimeRecError(f"bad byday {text!r}")
            if code == "WE":
                sign, value = 1, 0
            req = sign * value
            days.append(WDAY[code])
            reqs.append(req - 1 if req > 0 else req)
            sign, value = 1, 0
            i += 1
        i += 1
    return ByList(tuple(days), tuple(reqs))


@dataclass(slots=True)
class TimeRec:
    """One recurrence (OpenSIPS tmrec_t)."""

    tz: str | None = None
    dtstart: int = NOVAL
    ts: Tm | None = None
    dtend: int = NOVAL
    duration: int = NOVAL
    freq: int = NOVAL
    until: int = NOVAL
    interval: int = NOVAL
    byday: ByList | None = None
    bymday: ByList | None = None
    byyday: ByList | None = None
    byweekno: ByList | None = None
    bymonth: ByList | None = None
    has_byxxx: bool = False
    empty: bool = False

    @property
    def zone(self) -> tzinfo | None:
        return _zone(self.tz)

    def min_interval(self) -> int:
        if self.freq == FREQ_DAILY or self.byday or self.bymday or self.byyday:
            return FREQ_DAILY
        if self.freq == FREQ_WEEKLY or self.byweekno:
            return FREQ_WEEKLY
        if self.freq == FREQ_MONTHLY or self.bymonth:
            return FREQ_MONTHLY
        if self.freq == FREQ_YEARLY:
            return FREQ_YEARLY
        return FREQ_NOFREQ

    def matches(self, now: float) -> bool:
        if self.empty:
            return True
        zone = self.zone
        t = int(now)
        at = localtime(t, zone)
        return _check(self, t, at, zone)


_FIELDS = (
    "dtstart",
    "dtend",
    "duration",
    "freq",
    "until",
    "interval",
    "byday",
    "bymday",
    "byyday",
    "byweekno",
    "bymonth",
)


def parse_timerec(text: str) -> TimeRec:
    rec = TimeRec()
    if not text:
        rec.empty = True
        return rec
    parts = text.split("|")
    if parts and parts[0] and "A" <= parts[0][0] <= "Z":
        rec.tz = parts[0]
        parts = parts[1:]
    zone = rec.zone
    for name, value in zip(_FIELDS, parts, strict=False):
        if not value:
            continue
        if name == "dtstart":
            rec.dtstart, rec.ts = parse_datetime(value, zone)
        elif name == "dtend":
            rec.dtend = parse_datetime(value, zone)[0]
        elif name == "duration":
            rec.duration = parse_duration(value)
        elif name == "until":
            rec.until = parse_datetime(value, zone)[0]
        elif name == "freq":
            rec.freq = {
                "daily": FREQ_DAILY,
                "weekly": FREQ_WEEKLY,
                "monthly": FREQ_MONTHLY,
                "yearly": FREQ_YEARLY,
            }.get(value.lower(), FREQ_NOFREQ)
        elif name == "interval":
            digits = ""
            for ch in value:
                if not ch.isdigit():
                    break
                digits += ch
            # OpenSIPS's strz2int adds the digits up rather than reading the number
            rec.interval = sum(ord(c) - 48 for c in digits)
        elif name == "byday":
            rec.byday, rec.has_byxxx = parse_byday(value), True
        else:
            setattr(rec, name, parse_byxxx(value))
            rec.has_byxxx = True
    if rec.dtstart == NOVAL:
        rec.dtstart = 0
        rec.ts = localtime(0, zone)
    assert rec.ts is not None
    if rec.duration == NOVAL:
        if rec.dtend == NOVAL:
            ts = rec.ts
            rec.dtend = {
                FREQ_DAILY: rec.dtstart + SEC_DAILY - ts.secs,
                FREQ_WEEKLY: rec.dtstart + SEC_WEEKLY - (ts.wday * SEC_DAILY + ts.secs),
                FREQ_MONTHLY: rec.dtstart + SEC_MONTHLY_MAX - (ts.mday * SEC_DAILY + ts.secs),
                FREQ_YEARLY: rec.dtstart + SEC_YEARLY_MAX - (ts.yday * SEC_DAILY + ts.secs),
            }.get(rec.min_interval(), 4294967295)
        rec.duration = rec.dtend - rec.dtstart
    else:
        rec.dtend = rec.dtstart + rec.duration
    if rec.freq == NOVAL and (rec.until != NOVAL or rec.interval != NOVAL or rec.has_byxxx):
        raise TimeRecError(f"missing FREQ component in time rec: {text!r}")
    return rec


def _check(rec: TimeRec, t: int, at: Tm, zone: tzinfo | None) -> bool:
    if t < rec.dtstart or (rec.freq == NOVAL and t >= rec.dtend):
        return False
    if rec.freq == NOVAL and t < rec.dtend:
        return True
    if not _freq_interval(rec, at, zone) or not _min_unit(rec, at, zone) or not _byxxx(rec, at, zone):
        return False
    return rec.until == NOVAL or t <= rec.until


def _cdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _cmod(a: int, b: int) -> int:
    return a - b * _cdiv(a, b)


def _freq_interval(rec: TimeRec, at: Tm, zone: tzinfo | None) -> bool:
    if rec.freq == NOVAL:
        return False
    if rec.interval in (NOVAL, 1):
        return True
    if rec.interval == 0:
        return False  # C's "% 0" would crash; no OpenSIPS rule can rely on it
    ts = rec.ts
    assert ts is not None
    if rec.freq in (FREQ_DAILY, FREQ_WEEKLY):
        t0 = mktime(ts.year, ts.mon, ts.mday, 0, 0, 0, zone)
        t1 = mktime(at.year, at.mon, at.mday, 0, 0, 0, zone)
        if rec.freq == FREQ_DAILY:
            return _cmod(_cdiv(t1 - t0, SEC_DAILY), rec.interval) == 0
        t0 -= ((ts.wday + 6) % 7) * SEC_DAILY
        t1 -= ((at.wday + 6) % 7) * SEC_DAILY
        return _cmod(_cdiv(t1 - t0, SEC_WEEKLY), rec.interval) == 0
    if rec.freq == FREQ_MONTHLY:
        return _cmod((at.year - ts.year) * 12 + at.mon - ts.mon, rec.interval) == 0
    if rec.freq == FREQ_YEARLY:
        return _cmod(at.year - ts.year, rec.interval) == 0
    return False


def _recur_itv(x: Tm, bgn: Tm, end: Tm, dur: int, freq: int) -> bool:
    if freq == FREQ_YEARLY:
        d1, d2, dx = bgn.yday, end.yday, x.yday
    elif freq == FREQ_MONTHLY:
        d1, d2, dx = bgn.mday, end.mday, x.mday
    elif freq == FREQ_WEEKLY:
        d1, d2, dx = bgn.wday, end.wday, x.wday
    else:
        if bgn.mday == end.mday:
            return x.secs - bgn.secs >= 0 and end.secs - x.secs > 0
        return bgn.secs - x.secs <= 0 or x.secs - end.secs < 0
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
        return dur > SEC_DAILY
    else:
        return x.secs - bgn.secs >= 0 and end.secs - x.secs > 0
    diff = x.secs - bgn.secs if dx == d1 else end.secs - x.secs
    return diff > 0


def _min_unit(rec: TimeRec, at: Tm, zone: tzinfo | None) -> bool:
    unit = rec.min_interval()
    needed = {
        FREQ_DAILY: SEC_DAILY,
        FREQ_WEEKLY: SEC_WEEKLY,
        FREQ_MONTHLY: SEC_MONTHLY_MAX,
        FREQ_YEARLY: SEC_YEARLY_MAX,
    }.get(unit)
    if needed is None:
        return False
    if rec.duration >= needed:
        return True
    assert rec.ts is not None
    return _recur_itv(at, rec.ts, localtime(rec.dtend, zone), rec.duration, unit)


def _mon_week(t: Tm) -> int:
    return (t.yday + 7 - (t.wday - 1 if t.wday else 6)) // 7


def _byxxx(rec: TimeRec, at: Tm, zone: tzinfo | None) -> bool:
    if not rec.has_byxxx:
        return True
    leap = calendar.isleap(at.year)
    yday_max = 366 if leap else 365
    mday_max = calendar.monthrange(at.year, at.mon + 1)[1]
    dec31 = _tm_of(at.year, 11, 31, zone)
    v = at.wday - dec31.wday + 1 if at.wday > dec31.wday else dec31.wday - at.wday
    ywday_max = (dec31.yday - v) // 7 + 1
    yweek_max = _mon_week(dec31) + 1
    mwday_max = (mday_max - 1 - (mday_max - at.mday) % 7) // 7 + 1
    yweek = _mon_week(at)
    ywday = at.yday // 7
    wom = (at.mday - 1) // 7
    if rec.bymonth and not any(
        at.mon == ((x - 1) * s + 12) % 12 for x, s in zip(rec.bymonth.values, rec.bymonth.signs, strict=True)
    ):
        return False
    if (
        rec.freq == FREQ_YEARLY
        and rec.byweekno
        and not any(
            yweek == ((x - 1) * s + yweek_max) % yweek_max
            for x, s in zip(rec.byweekno.values, rec.byweekno.signs, strict=True)
        )
    ):
        return False
    if rec.byyday and not any(
        at.yday == ((x - 1) * s + yday_max) % yday_max
        for x, s in zip(rec.byyday.values, rec.byyday.signs, strict=True)
    ):
        return False
    if rec.bymday and not any(
        at.mday == (x * s + mday_max) % mday_max + (1 if s < 0 else 0)
        for x, s in zip(rec.bymday.values, rec.bymday.signs, strict=True)
    ):
        return False
    if rec.byday:
        for day, req in zip(rec.byday.values, rec.byday.signs, strict=True):
            if at.wday != day:
                continue
            if rec.freq == FREQ_YEARLY:
                if ywday == (req + ywday_max) % ywday_max:
                    break
            elif rec.freq == FREQ_MONTHLY:
                if wom == (req + mwday_max) % mwday_max:
                    break
            else:
                break
        else:
            return False
    return True


@dataclass(slots=True)
class TimeRecExpr:
    """Recurrences joined by one operator (`&` or `/`), possibly inverted with `!`."""

    leaf: TimeRec | None = None
    op: str = ""
    operands: list[TimeRecExpr] = field(default_factory=list)
    inverted: bool = False

    def _rc(self, now: float) -> int:
        # OpenSIPS's arithmetic: 2 true, 0 false, combined bitwise over (result + 1)
        if self.leaf is not None:
            rc = 2 if self.leaf.matches(now) else 0
        elif not self.operands:
            rc = 0
        else:
            rc = 2 if self.op == "&" else 0
            for operand in self.operands:
                if self.op == "&":
                    rc &= operand._value(now) + 1
                else:
                    rc |= operand._value(now) + 1
        return rc

    def _value(self, now: float) -> int:
        rc = self._rc(now)
        return (rc + 2) % 4 - 1 if self.inverted else rc - 1

    def matches(self, now: float) -> bool:
        return self._value(now) == 1


def parse_expr(text: str) -> TimeRecExpr:
    """tmrec_expr_parse: TimeRecError for anything OpenSIPS refuses."""
    expr = TimeRecExpr()
    need_operand = True
    invert_next = False
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        if need_operand:
            if ch in ")&/":
                raise TimeRecError(f"failed to parse time rec (unexpected {ch!r})")
            if ch == "!":
                invert_next = not invert_next
                i += 1
                continue
            if ch == "(":
                depth, j = 1, i + 1
                while j < n:
                    if text[j] == "(":
                        depth += 1
                    elif text[j] == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                if depth:
                    raise TimeRecError("failed to parse time rec (bad parentheses)")
                sub = parse_expr(text[i + 1 : j].strip())
                sub.inverted = sub.inverted or invert_next
                invert_next = False
                expr.operands.append(sub)
                i = j + 1
                need_operand = False
                continue
            j, has_sep = i + 1, False
            while j < n:
                c = text[j]
                if c in "!()":
                    raise TimeRecError(f"failed to parse multi time rec at {c!r} (unexpected character)")
                if c == "|":
                    has_sep = True
                if c in " \t\r\n":
                    need_operand = False
                    break
                if c == "&" or (c == "/" and has_sep):
                    break
                j += 1
            leaf = TimeRecExpr(parse_timerec(text[i:j].strip()), inverted=invert_next)
            invert_next = False
            expr.operands.append(leaf)
            if j < n and text[j] in "&/":
                _set_op(expr, text[j])
            if j >= n:
                return expr
            i = j + 1 if text[j] in "&/" else j
            continue
        if ch in "&/":
            _set_op(expr, ch)
            need_operand = True
            i += 1
            continue
        raise TimeRecError(f"failed to parse the rec string (bad char: {ch!r}, expected operator)")
    if need_operand and expr.op:
        raise TimeRecError("failed to parse the rec string (missing operand)")
    if invert_next:
        expr.inverted = True
    return expr


def parse_time_check(text: str) -> Callable[[float], bool]:
    """The recurrence expression as a predicate over UNIX time (TimeRecError, a ValueError, when
    OpenSIPS would refuse it): the form dialplan's rules keep."""
    return parse_expr(text).matches


def _set_op(expr: TimeRecExpr, op: str) -> None:
    if expr.op and expr.op != op:
        raise TimeRecError(
            f"failed to parse rec at {op!r} (only 1 operator type is allowed within an expression)"
        )
    expr.op = op
