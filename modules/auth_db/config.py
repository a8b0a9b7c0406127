"""auth_db parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pysips.db.url import DbUrl, DbUrlError, parse_db_url
from pysips.script.errors import FixupError
from pysips.script.exports import check_bool
from pysips.script.pv_vars import avp_key

DEFAULT_DB_URL = "mysql://opensipsro:opensipsro@localhost/opensips"
SUBSCRIBER_VERSION = 8
URI_VERSION = 2
TABLES_KEY = "_checked_tables"  # filled by the table fixups: tables whose version init checks


@dataclass(slots=True)
class AuthDbConfig:
    db_url: DbUrl
    user_column: str = "username"
    domain_column: str = "domain"
    password_column: str = "ha1"
    password_column_2: str | None = None  # 2.x: HA1 of "user@domain" usernames
    hash_column_sha256: str = "ha1_sha256"
    hash_column_sha512t256: str = "ha1_sha512t256"
    calculate_ha1: bool = False
    use_domain: bool = True
    skip_version_check: bool = False
    uri_user_column: str = "username"
    uri_domain_column: str = "domain"
    uri_uriuser_column: str = "uri_user"
    credentials: list[tuple[str, str]] = field(default_factory=list)  # (AVP key, column)


def check_db_url(value: Any) -> DbUrl:
    try:
        return parse_db_url(str(value))
    except DbUrlError as exc:
        raise FixupError(str(exc)) from None


def check_column(value: Any) -> str:
    name = str(value).strip()
    if not name or not all(c.isalnum() or c == "_" for c in name):
        raise FixupError(f"bad column name {name!r}")
    return name


def parse_credentials(value: Any) -> list[tuple[str, str]]:
    """load_credentials: "$avp(13)=rpid;email_address" -> [("13", "rpid"), ("email_address", ...)]."""
    out: list[tuple[str, str]] = []
    for item in str(value).split(";"):
        text = item.strip()
        if not text:
            continue
        avp, eq, column = text.partition("=")
        if eq:
            avp, column = avp.strip(), column.strip()
            if not (avp.startswith("$avp(") and avp.endswith(")")):
                raise FixupError(f"load_credentials: expected $avp(name)=column, got {text!r}")
            key = avp_key(avp)
        else:
            column = key = text
        out.append((key, check_column(column)))
    return out


def _str(params: dict[str, Any], name: str, default: str) -> str:
    value = params.get(name)
    return str(value) if value else default


def config_from(params: dict[str, Any]) -> AuthDbConfig:
    url = params.get("db_url")
    db_url = url if isinstance(url, DbUrl) else parse_db_url(str(url or DEFAULT_DB_URL))
    creds = params.get("load_credentials")
    return AuthDbConfig(
        db_url=db_url,
        user_column=_str(params, "user_column", "username"),
        domain_column=_str(params, "domain_column", "domain"),
        password_column=_str(params, "password_column", "ha1"),
        password_column_2=str(params["password_column_2"]) if params.get("password_column_2") else None,
        hash_column_sha256=_str(params, "hash_column_sha256", "ha1_sha256"),
        hash_column_sha512t256=_str(params, "hash_column_sha512t256", "ha1_sha512t256"),
        calculate_ha1=bool(check_bool(params.get("calculate_ha1") or 0)),
        use_domain=bool(check_bool(1 if params.get("use_domain") is None else params["use_domain"])),
        skip_version_check=bool(check_bool(params.get("skip_version_check") or 0)),
        uri_user_column=_str(params, "uri_user_column", "username"),
        uri_domain_column=_str(params, "uri_domain_column", "domain"),
        uri_uriuser_column=_str(params, "uri_uriuser_column", "uri_user"),
        credentials=creds if isinstance(creds, list) else parse_credentials(creds or ""),
    )
