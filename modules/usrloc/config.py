"""usrloc parameters: OpenSIPS 3.x `working_mode_preset` and friends, and the 2.x `db_mode`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pysips.db.url import DbUrlError, parse_db_url
from pysips.script.errors import FixupError

from .domain import DB_ONLY, NO_DB, WRITE_BACK, WRITE_THROUGH

DEFAULT_DB_URL = "mysql://opensips:opensipsrw@localhost/opensips"

PRESETS = {
    "single-instance-no-db": NO_DB,
    "single-instance-sql-write-through": WRITE_THROUGH,
    "single-instance-sql-write-back": WRITE_BACK,
    "sql-only": DB_ONLY,
}
CLUSTER_PRESETS = ("federation-cachedb-cluster", "full-sharing-cluster", "full-sharing-cachedb-cluster")
SQL_WRITE_MODES = {"none": NO_DB, "write-through": WRITE_THROUGH, "write-back": WRITE_BACK}


def check_preset(value: Any) -> str:
    text = str(value).strip().lower()
    if text in CLUSTER_PRESETS:
        raise FixupError(f"working_mode_preset {text!r}: clustered user location is not supported by pysips")
    if text not in PRESETS:
        raise FixupError(f"unknown working_mode_preset {text!r} (one of: {', '.join(PRESETS)})")
    return text


def check_db_mode(value: Any) -> int:
    if value not in (0, 1, 2, 3):
        raise FixupError(f"db_mode must be 0, 1, 2 or 3, got {value!r}")
    return int(value)


def check_db_url(value: Any) -> str:
    try:
        parse_db_url(str(value))
    except DbUrlError as exc:
        raise FixupError(str(exc)) from None
    return str(value)


def check_cluster_mode(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("none", "sql-only"):
        raise FixupError(f"cluster_mode {text!r} is not supported by pysips (none or sql-only)")
    return text


def check_restart_persistency(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("none", "load-from-sql"):
        raise FixupError(f"restart_persistency {text!r} is not supported (none or load-from-sql)")
    return text


def check_sql_write_mode(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in SQL_WRITE_MODES:
        raise FixupError(f"unknown sql_write_mode {text!r} (none, write-through or write-back)")
    return text


def check_hash_size(value: Any) -> int:
    """The 2^n exponent, as OpenSIPS takes it (above 16 refused; 0 or 1 means 512 entries)."""
    if not isinstance(value, int) or isinstance(value, bool) or value > 16:
        raise FixupError(f"hash_size must be a power-of-two exponent up to 16, got {value!r}")
    return value


def table_size(exponent: int) -> int:
    return 512 if exponent <= 1 else 1 << exponent


@dataclass(frozen=True, slots=True)
class UlConfig:
    mode: int = NO_DB
    db_url: str = DEFAULT_DB_URL
    timer_interval: int = 60
    use_domain: bool = False
    matching_mode: int = 0
    cseq_delay: int = 20
    nat_bflag: int | None = None  # bit index
    handle_lost_tcp: bool = False
    desc_time_order: bool = False
    hash_size: int = 512  # entries (2 ** the hash_size modparam)

    @property
    def nat_flag(self) -> int:
        return 0 if self.nat_bflag is None else 1 << self.nat_bflag


def write_mode(params: dict[str, Any]) -> int:
    """The preset wins over the separate 3.x knobs, which win over the 2.x db_mode."""
    preset = params.get("working_mode_preset")
    if preset:
        return PRESETS[str(preset)]
    if params.get("cluster_mode") == "sql-only":
        return DB_ONLY
    if params.get("restart_persistency") == "load-from-sql":
        wmode = params.get("sql_write_mode") or "write-back"
        return SQL_WRITE_MODES[str(wmode)] or WRITE_BACK
    if params.get("sql_write_mode") not in (None, "none"):
        return SQL_WRITE_MODES[str(params["sql_write_mode"])]
    return int(params.get("db_mode") or 0)


def config_from(params: dict[str, Any]) -> UlConfig:
    return UlConfig(
        mode=write_mode(params),
        db_url=str(params.get("db_url") or DEFAULT_DB_URL),
        timer_interval=max(1, int(params.get("timer_interval") or 60)),
        use_domain=bool(params.get("use_domain", 0)),
        matching_mode=int(params.get("matching_mode") or 0),
        cseq_delay=int(params.get("cseq_delay", 20) or 0),
        nat_bflag=params.get("nat_bflag"),
        handle_lost_tcp=bool(params.get("handle_lost_tcp") or 0),
        desc_time_order=bool(params.get("desc_time_order") or 0),
        hash_size=table_size(int(params.get("hash_size", 9) if params.get("hash_size") is not None else 9)),
    )
