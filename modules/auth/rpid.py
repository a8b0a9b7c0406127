"""Remote-Party-ID helpers: the RPID value sits in an AVP (rpid_avp, filled by auth_db's
load_credentials or by the script)."""

from __future__ import annotations

from pysips.script.context import MsgContext
from pysips.sip.message import SipMessage
from pysips.sip.nameaddr import NameAddr, parse_name_addr
from pysips.sip.uri import SipUri, parse_uri

from .runtime import AuthRuntime


def _rpid(auth: AuthRuntime, ctx: MsgContext) -> str | None:
    key = auth.config.rpid_avp
    if key is None:
        return None
    values = ctx.avps.get(key)
    if not values:
        return None
    value = values[0]
    return str(value) if value != "" else None


def _user_of(value: str) -> str | None:
    text = value.strip()
    if "<" in text:
        parsed = parse_name_addr(text)
        if isinstance(parsed, NameAddr):
            text = parsed.uri
    uri = parse_uri(text)
    if isinstance(uri, SipUri):
        return uri.user
    return text if not text.lower().startswith(("sip:", "sips:", "tel:")) else None


def is_e164(user: str) -> bool:
    return 3 <= len(user) <= 16 and user[0] == "+" and user[1:].isdigit()


def is_rpid_user_e164(auth: AuthRuntime, ctx: MsgContext) -> int:
    value = _rpid(auth, ctx)
    if value is None:
        return -1
    user = _user_of(value)
    return 1 if user is not None and is_e164(user) else -1


def append_rpid_hf(auth: AuthRuntime, ctx: MsgContext, prefix: str | None, suffix: str | None) -> int:
    msg = ctx.msg
    if not isinstance(msg, SipMessage) or not msg.is_request:
        return -1
    value = _rpid(auth, ctx)
    if value is None:
        return -1
    head = auth.config.rpid_prefix if prefix is None else prefix
    tail = auth.config.rpid_suffix if suffix is None else suffix
    msg.append_header(f"Remote-Party-ID: {head}{value}{tail}")
    return 1
