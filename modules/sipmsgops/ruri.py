"""R-URI parameter functions and the E.164 test of sipmsgops.

They act on the current R-URI ($ru: the script's new one, else the received one) and write the
result as the new R-URI, like the core's rewrite functions.
"""

from __future__ import annotations

import logging

from pysips.script.context import MsgContext
from pysips.sip.message import SipMessage
from pysips.sip.uri import SipUri, parse_uri

log = logging.getLogger("pysips.modules.sipmsgops")


def current_ruri(ctx: MsgContext) -> str | None:
    msg = ctx.msg
    if not isinstance(msg, SipMessage) or not msg.is_request:
        return None
    return ctx.new_ruri or msg.ruri


def _params_span(uri: str) -> tuple[int, int]:
    """Where the URI parameters are in the text: (index of the first ';', index of '?' or end)."""
    at = uri.find("@")
    head = at + 1 if at >= 0 else uri.find(":") + 1
    close = uri.find("]", head)
    semi = uri.find(";", close + 1 if close >= 0 else head)
    qmark = uri.find("?", head)
    end = len(uri) if qmark < 0 else qmark
    if semi < 0 or semi > end:
        return end, end
    return semi, end


def ruri_has_param(ctx: MsgContext, name: str, value: str | None = None) -> int:
    text = current_ruri(ctx)
    if text is None:
        return -1
    uri = parse_uri(text)
    if not isinstance(uri, SipUri):
        log.error("ruri parsing failed")
        return -1
    start, end = _params_span(text)
    for item in text[start + 1 : end].split(";"):
        key, _, got = item.partition("=")
        if key != name:
            continue
        if value is None:
            return 1 if not got else -1
        return 1 if got == value else -1
    return -1


def ruri_add_param(ctx: MsgContext, param: str) -> int:
    if not param:
        return 1
    text = current_ruri(ctx)
    if text is None or not isinstance(parse_uri(text), SipUri):
        log.error("ruri parsing failed")
        return -1
    _, end = _params_span(text)
    ctx.new_ruri = f"{text[:end]};{param}{text[end:]}"
    return 1


def ruri_del_param(ctx: MsgContext, name: str) -> int:
    if not name:
        return 1
    text = current_ruri(ctx)
    if text is None or not isinstance(parse_uri(text), SipUri):
        log.error("ruri parsing failed")
        return -1
    start, end = _params_span(text)
    if start == end:
        return -1
    items = text[start + 1 : end].split(";")
    for i, item in enumerate(items):
        if item.partition("=")[0] == name:
            del items[i]
            params = "".join(f";{p}" for p in items)
            ctx.new_ruri = text[:start] + params + text[end:]
            return 1
    return -1


def is_e164(user: str | None) -> bool:
    if user is None or not 2 < len(user) < 17 or user[0] != "+":
        return False
    return user[1:].isdigit() and user.isascii()


def is_uri_user_e164(ctx: MsgContext, uri: str) -> int:
    if not uri:
        return -1
    parsed = parse_uri(uri)
    if not isinstance(parsed, SipUri):
        log.error("parsing URI failed")
        return -1
    return 1 if is_e164(parsed.user) else -1


def ruri_tel2sip(ctx: MsgContext) -> int:
    """tel:+123 -> sip:+123@<From host>;user=phone."""
    text = current_ruri(ctx)
    msg = ctx.msg
    if text is None or not isinstance(msg, SipMessage) or text[:4].lower() != "tel:":
        return 1
    from_uri = parse_uri(msg.from_.uri)
    if not isinstance(from_uri, SipUri):
        log.error("parsing From header failed")
        return -1
    ctx.new_ruri = f"sip:{text[4:]}@{from_uri.host};user=phone"
    return 1
