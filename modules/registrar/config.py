"""registrar module parameters, resolved once at init."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pysips.script.pv_vars import avp_key


@dataclass(frozen=True, slots=True)
class RegConfig:
    default_expires: int = 3600
    min_expires: int = 60
    max_expires: int = 0
    default_q: float = -1.0  # unspecified
    case_sensitive: bool = True
    realm_prefix: str = ""
    received_avp: str | None = None  # AVP storage key
    received_param: str = "received"
    allow_dup_cseq: bool = True
    expires_max_deviation: int = 0
    max_contacts: int = 0
    retry_after: int = 0
    sock_hdr_name: str | None = None
    max_username_len: int = 64
    max_domain_len: int = 64
    max_aor_len: int = 256
    max_contact_len: int = 255
    tcp_persistent_flag: int = 0  # message flag mask
    reject_brief_expires: bool = False  # pysips: 423 + Min-Expires instead of raising the value
    attr_avp: str | None = None  # AVP storage key; also the name of the branch attribute lookup sets
    mcontact_avp: str | None = None  # AVP storage key: the Contact URI sent to an upstream registrar


def _q(value: Any) -> float:
    if value is None or int(value) < 0:
        return -1.0
    return min(1000, int(value)) / 1000.0


def config_from(params: dict[str, Any]) -> RegConfig:
    def num(name: str, default: int) -> int:
        value = params.get(name)
        return default if value is None else int(value)

    min_exp = num("min_expires", 60)
    max_exp = num("max_expires", 0)
    if max_exp and max_exp < min_exp:
        max_exp = min_exp
    default_exp = max(num("default_expires", 3600), min_exp)
    rcv = params.get("received_avp")
    return RegConfig(
        default_expires=default_exp,
        min_expires=min_exp,
        max_expires=max_exp,
        default_q=_q(params.get("default_q")),
        case_sensitive=bool(num("case_sensitive", 1)),
        realm_prefix=str(params.get("realm_prefix") or "").lower(),
        received_avp=avp_key(str(rcv)) if rcv else None,
        received_param=str(params.get("received_param") or "received"),
        allow_dup_cseq=bool(num("allow_dup_cseq", 1)),
        expires_max_deviation=num("expires_max_deviation", 0),
        max_contacts=num("max_contacts", 0),
        retry_after=num("retry_after", 0),
        sock_hdr_name=str(params["sock_hdr_name"]) if params.get("sock_hdr_name") else None,
        max_username_len=num("max_username_len", 64),
        max_domain_len=num("max_domain_len", 64),
        max_aor_len=num("max_aor_len", 256),
        max_contact_len=num("max_contact_len", 255),
        tcp_persistent_flag=(1 << int(params["tcp_persistent_flag"]))
        if params.get("tcp_persistent_flag") is not None else 0,
        reject_brief_expires=bool(num("reject_brief_expires", 0)),
        attr_avp=avp_key(str(params["attr_avp"])) if params.get("attr_avp") else None,
        mcontact_avp=avp_key(str(params["mcontact_avp"])) if params.get("mcontact_avp") else None,
    )
