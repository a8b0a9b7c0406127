"""acc parameters: backends' settings, columns, extra fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pysips.db.url import DbUrl, DbUrlError, parse_db_url
from pysips.script.errors import FixupError
from pysips.script.pv import PVRegistry
from pysips.script.pv_base import PVAccessor

from .pvspec import compile_spec

# core value -> default column (the acc_*_column parameters)
DEFAULT_COLUMNS = {
    "method": "method", "from_tag": "from_tag", "to_tag": "to_tag", "callid": "callid",
    "sip_code": "sip_code", "sip_reason": "sip_reason", "time": "time",
}
COLUMN_PARAMS = {
    "acc_method_column": "method", "acc_from_tag_column": "from_tag", "acc_to_tag_column": "to_tag",
    "acc_callid_column": "callid", "acc_sip_code_column": "sip_code",
    "acc_sip_reason_column": "sip_reason", "acc_time_column": "time",
}

@dataclass(frozen=True, slots=True)
class ExtraField:
    """One extra value: `tag` names it for $acc_extra(tag); `name` is the log key or DB column;
    `spec`, for the 2.x log_extra/db_extra lists, is the pseudo-variable read at accounting time."""

    tag: str
    name: str
    spec: PVAccessor | None = None


@dataclass(slots=True)
class AccConfig:
    early_media: bool = False
    report_cancels: bool = False
    detect_direction: bool = False
    log_level: int = 2  # L_NOTICE
    log_facility: str = "LOG_DAEMON"
    db_url: DbUrl | None = None
    table_acc: str = "acc"
    table_missed: str = "missed_calls"
    columns: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_COLUMNS))
    log_extra: list[ExtraField] = field(default_factory=list)
    db_extra: list[ExtraField] = field(default_factory=list)
    tags: tuple[str, ...] = ()  # every $acc_extra tag declared by extra_fields
    # multi-leg accounting (leg_fields): values set per leg with $acc_leg(tag)
    log_legs: list[ExtraField] = field(default_factory=list)
    db_legs: list[ExtraField] = field(default_factory=list)
    evi_extra: list[ExtraField] = field(default_factory=list)
    evi_legs: list[ExtraField] = field(default_factory=list)
    leg_tags: tuple[str, ...] = ()
    # 2.x: message flags that mark a transaction for accounting (log_flag ...): param -> bit index
    legacy_flags: dict[str, int] = field(default_factory=dict)


# The 2.x parameters naming a message flag that turns accounting on; 3.x calls do_accounting().
LEGACY_FLAG_PARAMS = ("log_flag", "db_flag", "log_missed_flag", "db_missed_flag", "failed_transaction_flag")


_BACKENDS = ("log", "db", "aaa", "evi")


def check_db_url(value: Any) -> DbUrl | None:
    text = str(value).strip()
    if not text:
        return None
    try:
        return parse_db_url(text)
    except DbUrlError as exc:
        raise FixupError(str(exc)) from None


def check_name(value: Any) -> str:
    name = str(value).strip()
    if not name or not all(c.isalnum() or c == "_" for c in name):
        raise FixupError(f"bad column or table name {name!r}")
    return name


def parse_extra_fields(text: str, what: str = "extra_fields") -> list[tuple[str, ExtraField]]:
    """"log: a->My_a; b" -> [("log", ExtraField("a", "My_a")), ("log", ExtraField("b", "b"))].
    Without a backend prefix the fields serve every backend (OpenSIPS: the evi form)."""
    out: list[tuple[str, ExtraField]] = []
    backend, colon, rest = text.partition(":")
    backends: tuple[str, ...]
    if colon and backend.strip().lower() in _BACKENDS:
        backends = (backend.strip().lower(),)
    else:
        backends = ("log", "db")
        rest = text
    for item in rest.split(";"):
        entry = item.strip()
        if not entry:
            continue
        tag, arrow, name = entry.partition("->")
        tag, name = tag.strip(), (name.strip() if arrow else tag.strip())
        if not tag or not name or not all(c.isalnum() or c in "_-." for c in tag + name):
            raise FixupError(f"{what}: bad entry {entry!r} (expected tag or tag->name)")
        out.extend((b, ExtraField(tag, name)) for b in backends)
    return out


def parse_pv_extra(text: str, what: str, registry: PVRegistry | None = None) -> list[ExtraField]:
    """2.x log_extra/db_extra: "ua=$hdr(User-Agent);uuid=$avp(x)"."""
    out: list[ExtraField] = []
    for item in text.split(";"):
        entry = item.strip()
        if not entry:
            continue
        name, eq, spec = entry.partition("=")
        if not eq or not name.strip() or not spec.strip():
            raise FixupError(f"{what}: bad entry {entry!r} (expected name=$pvar)")
        out.append(ExtraField(name.strip(), name.strip(), compile_spec(spec, what, registry=registry)))
    return out


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "yes", "true", "on")
    return bool(value)


def _sort_fields(values: list[Any], what: str, sinks: dict[str, list[ExtraField]]) -> tuple[str, ...]:
    """Puts each field of the extra_fields/leg_fields values (text, or already parsed by the
    param check) into its backend's list; the tags, each once, in order of appearance."""
    tags: list[str] = []
    for value in values:
        for backend, extra in value if isinstance(value, list) else parse_extra_fields(str(value), what):
            if backend in sinks:
                sinks[backend].append(extra)
            if extra.tag not in tags:
                tags.append(extra.tag)
    return tuple(tags)


def config_from(params: dict[str, Any]) -> AccConfig:
    cfg = AccConfig(
        early_media=_bool(params.get("early_media") or 0),
        report_cancels=_bool(params.get("report_cancels") or 0),
        detect_direction=_bool(params.get("detect_direction") or 0),
        log_level=int(params.get("log_level") or 0) if params.get("log_level") is not None else 2,
        log_facility=str(params.get("log_facility") or "LOG_DAEMON"),
        db_url=params.get("db_url") if isinstance(params.get("db_url"), DbUrl) else None,
        table_acc=str(params.get("db_table_acc") or "acc"),
        table_missed=str(params.get("db_table_missed_calls") or "missed_calls"),
    )
    for param, key in COLUMN_PARAMS.items():
        if params.get(param):
            cfg.columns[key] = str(params[param])
    cfg.tags = _sort_fields(params.get("extra_fields") or [], "extra_fields",
                            {"log": cfg.log_extra, "db": cfg.db_extra, "evi": cfg.evi_extra})
    cfg.leg_tags = _sort_fields(params.get("leg_fields") or [], "leg_fields",
                                {"log": cfg.log_legs, "db": cfg.db_legs, "evi": cfg.evi_legs})
    cfg.legacy_flags = {
        name: int(params[name]) for name in LEGACY_FLAG_PARAMS if params.get(name) is not None
    }
    for value in params.get("log_extra") or []:
        cfg.log_extra.extend(value if isinstance(value, list) else parse_pv_extra(str(value), "log_extra"))
    for value in params.get("db_extra") or []:
        cfg.db_extra.extend(value if isinstance(value, list) else parse_pv_extra(str(value), "db_extra"))
    return cfg
