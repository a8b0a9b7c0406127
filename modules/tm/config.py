"""The tm module's parameters, read once at load time into one frozen object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pysips.script.errors import FixupError
from pysips.script.exports import ParamExport, ParamType
from pysips.sip.transaction import DEFAULT_TIMERS, TimerConfig


@dataclass(frozen=True, slots=True)
class TmConfig:
    fr_timeout: float = 30.0
    fr_inv_timeout: float = 120.0
    wt_timer: float = 5.0
    t1: float = 0.5
    t2: float = 4.0
    restart_fr_on_each_reply: bool = True
    onreply_avp_mode: int = 0
    disable_6xx_block: bool = False
    auto_100trying: bool = True
    timers: TimerConfig = DEFAULT_TIMERS

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TmConfig:
        def number(*names: str, default: float) -> float:
            for name in names:
                value = params.get(name)
                if value is not None:
                    return float(value)
            return default

        t1 = number("T1_timer", default=500) / 1000.0
        t2 = number("T2_timer", default=4000) / 1000.0
        wt = number("wt_timer", default=5)
        return cls(
            # the 1.x names have no default: given, they win
            fr_timeout=number("fr_timer", "fr_timeout", default=30),
            fr_inv_timeout=number("fr_inv_timer", "fr_inv_timeout", default=120),
            wt_timer=wt,
            t1=t1,
            t2=t2,
            restart_fr_on_each_reply=bool(number("restart_fr_on_each_reply", default=1)),
            onreply_avp_mode=int(number("onreply_avp_mode", default=0)),
            disable_6xx_block=bool(number("disable_6xx_block", default=0)),
            auto_100trying=bool(number("auto_100trying", default=1)),
            # wt_timer bounds the absorbing states (timers D and J), as OpenSIPS's wait timer does.
            timers=TimerConfig(t1=t1, t2=t2, timer_d=wt, timer_j=wt),
        )


def _non_negative(value: Any) -> Any:
    if isinstance(value, int) and value < 0:
        raise FixupError(f"must not be negative (got {value})")
    return value


def _positive(value: Any) -> Any:
    if isinstance(value, int) and value <= 0:
        raise FixupError(f"must be positive (got {value})")
    return value


# OpenSIPS's tm refuses to start with a timer below 2 seconds (MIN_TIMER_VALUE in its timer.h)
MIN_TIMER_S = 2


def _timer(value: Any) -> Any:
    if isinstance(value, int) and value < MIN_TIMER_S:
        raise FixupError(f"must be at least {MIN_TIMER_S} seconds (got {value})")
    return value


def _zero_or_one(value: Any) -> Any:
    if value not in (0, 1):
        raise FixupError(f"must be 0 or 1 (got {value!r})")
    return value


def _int(name: str, default: int, doc: str, check: Any = _non_negative) -> ParamExport:
    return ParamExport(name, ParamType.INT, default, check=check, doc=doc)


PARAMS: tuple[ParamExport, ...] = (
    _int("fr_timeout", 30, "seconds to wait for a final reply (or a first reply for INVITE)", _timer),
    _int("fr_inv_timeout", 120, "seconds to wait for a final INVITE reply after a provisional", _timer),
    ParamExport("fr_timer", ParamType.INT, None, check=_timer, doc="1.x name of fr_timeout"),
    ParamExport("fr_inv_timer", ParamType.INT, None, check=_timer, doc="1.x name of fr_inv_timeout"),
    _int("wt_timer", 5, "seconds a completed non-INVITE transaction absorbs retransmissions", _timer),
    _int("delete_timer", 2, "accepted for compatibility; memory is freed at once here", _timer),
    _int("T1_timer", 500, "RFC 3261 T1 in milliseconds", _positive),
    _int("T2_timer", 4000, "RFC 3261 T2 in milliseconds", _positive),
    _int("ruri_matching", 1, "accepted; RFC 2543 matching always compares the Request-URI", _zero_or_one),
    _int("via1_matching", 1, "accepted; RFC 2543 matching always compares the top Via", _zero_or_one),
    _int("restart_fr_on_each_reply", 1, "re-arm fr_inv_timeout on every provisional reply", _zero_or_one),
    _int("onreply_avp_mode", 0, "1: onreply routes see the transaction's AVPs", _zero_or_one),
    _int("disable_6xx_block", 0, "1: a 6xx does not stop serial forking", _zero_or_one),
    _int("auto_100trying", 1, "send 100 Trying when an INVITE transaction is created", _zero_or_one),
    _int("syn_branch", 1, "accepted; branch ids are always stateful here", _zero_or_one),
    _int("enable_stats", 1, "accepted", _zero_or_one),
    _int("timer_partitions", 1, "accepted; one timer queue per process", _positive),
    _int("pass_provisional_replies", 0, "accepted (FIFO applications are not supported)", _zero_or_one),
)
