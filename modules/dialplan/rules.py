"""The translation rules of one dialplan partition and how an input picks one (dp_translate).

OpenSIPS's choice: the rules of a dpid are in two sets, string equality (match_op 0) and regular
expressions (match_op 1, PCRE, searched anywhere in the input), each in ascending priority (the
table read ordered by `pr`). The first match of each set competes: the lower priority wins, then
the rule read first. Bit 1 of match_flags makes both the match and the subst_exp caseless. A rule
with a timerec applies only while its time recurrence holds. Sans-I/O: rows in, answers out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from pysips.db.api import DbValue
from pysips.db.text import text_or_none as _text
from pysips.script.context import MsgContext
from pysips.script.pv import PVRegistry

from .repl import Replacement, ReplError, parse_repl

log = logging.getLogger("pysips.modules.dialplan")

EQUAL_OP = 0
REGEX_OP = 1
CASE_INSENSITIVE = 1

COLUMNS = ("dpid", "pr", "match_op", "match_exp", "match_flags", "subst_exp", "repl_exp",
           "attrs", "timerec")

TimeCheck = Callable[[float], bool]  # the timerec holds at this (wall clock) time
TimeParser = Callable[[str], TimeCheck]


class RuleError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rule:
    dpid: int
    priority: int
    match_op: int
    match_exp: str
    match_flags: int
    subst_exp: str | None
    repl_exp: str | None
    attrs: str | None
    timerec: str | None
    order: int  # position in the table read (the tie-break)
    match_re: re.Pattern[str] | None = None
    subst_re: re.Pattern[str] | None = None
    replacement: Replacement | None = None
    time_check: TimeCheck | None = None

    @property
    def caseless(self) -> bool:
        return bool(self.match_flags & CASE_INSENSITIVE)

    def applies_at(self, now: float) -> bool:
        return self.time_check is None or self.time_check(now)

    def matches(self, text: str) -> bool:
        if self.match_re is not None:
            return self.match_re.search(text) is not None
        if self.caseless:
            return self.match_exp.lower() == text.lower()
        return self.match_exp == text

    def output(self, text: str, ruri: str | None, ctx: MsgContext | None) -> str | None:
        """The translated string ("" when the rule has no repl_exp); None when the input does not
        match the subst_exp (an error in OpenSIPS: the translation fails)."""
        if self.replacement is None:
            return ""
        groups: list[str | None] | None = None
        if self.subst_re is not None:
            found = self.subst_re.search(text)
            if found is None:
                log.error("the string %s matched the match_exp %s but not the subst_exp %s!",
                          text, self.match_exp, self.subst_exp)
                return None
            groups = [found.group(0), *found.groups()]
        return self.replacement.build(groups, ruri, ctx)


def _int(value: DbValue, what: str) -> int:
    if value is None or isinstance(value, bytes):
        raise RuleError(f"bad {what} {value!r}")
    try:
        return int(value)
    except ValueError:
        raise RuleError(f"bad {what} {value!r}") from None


def _compile(pattern: str, flags: int, what: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE if flags & CASE_INSENSITIVE else 0)
    except re.error as exc:
        raise RuleError(f"failed to compile {what} expression \"{pattern}\": {exc}") from None


def build_rule(row: Sequence[DbValue], order: int, registry: PVRegistry | None,
               parse_time: TimeParser | None) -> Rule:
    """A rule from a row in COLUMNS order; RuleError says why OpenSIPS would discard it."""
    dpid_v, pr_v, op_v, match_v, flags_v, subst_v, repl_v, attrs_v, timerec_v = row
    match_op = _int(op_v, "match_op")
    if match_op not in (EQUAL_OP, REGEX_OP):
        raise RuleError("invalid value for match operator")
    match_exp = _text(match_v) or ""
    flags = _int(flags_v, "match_flags")
    if match_op == EQUAL_OP and not match_exp:
        raise RuleError("NULL matching expressions in database not accepted!!!")
    match_re = _compile(match_exp, flags, "match") if match_op == REGEX_OP else None
    subst_exp = _text(subst_v) or None
    subst_re = _compile(subst_exp, flags, "subst") if subst_exp else None
    repl_exp = _text(repl_v) or None
    replacement = None
    if repl_exp:
        try:
            replacement = parse_repl(repl_exp, registry)
        except ReplError as exc:
            raise RuleError(f"failed to compile replacing expression \"{repl_exp}\": {exc}") from None
    # OpenSIPS checks the back-references only against a subst_exp (without one, the
    # replacement is copied as written)
    if (replacement is not None and subst_re is not None
            and subst_re.groups < replacement.max_group):
        raise RuleError("repl_exp uses a non existing subexpression")
    timerec = _text(timerec_v) or None
    time_check = None
    if timerec:
        if parse_time is None:
            raise RuleError("timerec given but no time recurrence parser")
        try:
            time_check = parse_time(timerec)
        except ValueError as exc:
            raise RuleError(f"failed to parse timerec pattern {timerec}: {exc}") from None
    return Rule(_int(dpid_v, "dpid"), _int(pr_v, "pr"), match_op, match_exp, flags, subst_exp,
                repl_exp, _text(attrs_v) or None, timerec, order, match_re, subst_re,
                replacement, time_check)


@dataclass(slots=True)
class RuleSet:
    """The rules of one dpid, each kind in table (priority) order; the string rules also by their
    text without case (OpenSIPS's hash buckets), as only those can equal an input."""

    strings: list[Rule] = field(default_factory=list)
    regexes: list[Rule] = field(default_factory=list)
    by_text: dict[str, list[Rule]] = field(default_factory=dict)

    def add(self, rule: Rule) -> None:
        if rule.match_op == REGEX_OP:
            self.regexes.append(rule)
        else:
            self.strings.append(rule)
            self.by_text.setdefault(rule.match_exp.lower(), []).append(rule)

    def choose(self, text: str, now: float) -> Rule | None:
        bucket = self.by_text.get(text.lower(), ())
        first_string = next((r for r in bucket if r.applies_at(now) and r.matches(text)), None)
        first_regex = next((r for r in self.regexes if r.applies_at(now) and r.matches(text)), None)
        if first_string is None or first_regex is None:
            return first_string or first_regex
        if (first_regex.priority, first_regex.order) < (first_string.priority, first_string.order):
            return first_regex
        return first_string


@dataclass(slots=True)
class Dialplan:
    sets: dict[int, RuleSet] = field(default_factory=dict)
    loaded: int = 0
    discarded: int = 0

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[DbValue]], registry: PVRegistry | None = None,
                  parse_time: TimeParser | None = None) -> Dialplan:
        plan = cls()
        for order, row in enumerate(rows):
            try:
                rule = build_rule(row, order, registry, parse_time)
            except RuleError as exc:
                log.warning("failed to build rule |%s|: %s -> skipping", row[3], exc)
                plan.discarded += 1
                continue
            plan.sets.setdefault(rule.dpid, RuleSet()).add(rule)
            plan.loaded += 1
        return plan

    def translate(self, dpid: int, text: str, now: float, ruri: str | None = None,
                  ctx: MsgContext | None = None) -> tuple[str, str] | int:
        """(output, attributes) of the rule chosen, or -1: no such dpid, no rule matches, an
        empty input, or a subst_exp that does not match."""
        rules = self.sets.get(dpid)
        if rules is None or not text:
            return -1
        rule = rules.choose(text, now)
        if rule is None:
            return -1
        output = rule.output(text, ruri, ctx)
        if output is None:
            return -1
        return output, rule.attrs or ""
