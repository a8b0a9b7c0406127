"""registrar: REGISTER processing and contact lookup (OpenSIPS module `registrar`).

save() stores the Contacts of a REGISTER in usrloc and answers it (RFC 3261 section 10.3, Path
RFC 3327, +sip.instance/reg-id RFC 5626); lookup() rewrites the request towards the registered
contacts. Flags are accepted in both the 3.x spelling ("memory-only, max-contacts=5") and the 2.x
letters ("mc5"); the return codes are OpenSIPS's.
"""

from __future__ import annotations

from typing import Any

from pysips.core.services import LOCATION, REPLIES, TRANSACTIONS
from pysips.script.context import MsgContext, RouteType
from pysips.script.errors import FixupError
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FixupContext,
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamType,
    StatExport,
)

from .config import config_from
from .flags import (
    LETTERS_NOTE,
    LookupFlags,
    SaveFlags,
    lookup_flags_3x,
    lookup_letters_used,
    parse_lookup_flags,
    parse_save_flags,
    save_flags_3x,
    save_letters_used,
)
from .lookup import is_contact_registered, lookup, registered, remove, remove_ip_port
from .reply_save import save_on_reply
from .runtime import Registrar, registrar_of
from .save import save

__all__ = ["Registrar", "exports"]


def _save_flags(value: Any, fctx: FixupContext) -> SaveFlags:
    try:
        parsed = parse_save_flags(value)
    except FixupError as exc:
        raise FixupError(exc.message, fctx.pos) from None
    if save_letters_used(value):
        fctx.warnings.append(LETTERS_NOTE.format(raw=str(value).strip(), fixed=save_flags_3x(parsed)))
    return parsed


def _lookup_flags(value: Any, fctx: FixupContext) -> LookupFlags:
    try:
        parsed = parse_lookup_flags(value)
    except FixupError as exc:
        raise FixupError(exc.message, fctx.pos) from None
    if lookup_letters_used(value):
        fctx.warnings.append(LETTERS_NOTE.format(raw=str(value).strip(), fixed=lookup_flags_3x(parsed)))
    return parsed


# filled by the table fixups: the usrloc tables the script names, opened at init as OpenSIPS
# registers them with usrloc at fixup time (so they exist, and show in ul_dump, from the start)
TABLES_KEY = "_usrloc_tables"


def _domain(value: Any, fctx: FixupContext) -> str:
    name = str(value).strip()
    if not name or not all(ch.isalnum() or ch in "_-." for ch in name):
        raise FixupError(f"bad usrloc table name {name!r}", fctx.pos)
    tables = fctx.params.setdefault(TABLES_KEY, [])
    if name not in tables:
        tables.append(name)
    return name


def _opt(value: str | None) -> str | None:
    return value if value else None


# OpenSIPS parameters whose feature pysips lacks: named so that setting one is a clear load error
_PUSH = "RFC 8599 push notification"
_NOT_IMPLEMENTED = (
    ("gruu_secret", "GRUU"),
    ("pn_providers", _PUSH),
    ("pn_ct_match_params", _PUSH),
    ("pn_pnsreg_interval", _PUSH),
    ("pn_trigger_interval", _PUSH),
    ("pn_skip_pn_interval", _PUSH),
    ("pn_refresh_timeout", _PUSH),
    ("pn_enable_purr", _PUSH),
)


def _not_implemented(name: str, what: str) -> Any:
    def check(value: Any) -> Any:
        raise FixupError(f"{name} is not supported by pysips: {what} is not implemented")

    return check


# shared by every call without flags (frozen), instead of a new object per REGISTER
_NO_SAVE_FLAGS = SaveFlags()
_NO_LOOKUP_FLAGS = LookupFlags()


def w_save(ctx: MsgContext, domain: str, flags: SaveFlags | None = None, aor: str | None = None,
           ownership_tag: str | None = None) -> int:
    msg = ctx.msg
    if msg is not None and not msg.is_request:
        # onreply_route: the binding the upstream registrar accepted (mcontact_avp)
        return save_on_reply(registrar_of(ctx), ctx, domain, flags or _NO_SAVE_FLAGS, _opt(aor))
    return save(registrar_of(ctx), ctx, domain, flags or _NO_SAVE_FLAGS, _opt(aor))


def w_lookup(ctx: MsgContext, domain: str, flags: LookupFlags | None = None, aor: str | None = None) -> int:
    return lookup(registrar_of(ctx), ctx, domain, flags or _NO_LOOKUP_FLAGS, _opt(aor))


def w_registered(ctx: MsgContext, domain: str, aor: str | None = None, callid: str | None = None) -> int:
    return registered(registrar_of(ctx), ctx, domain, _opt(aor), _opt(callid))


def w_is_registered(ctx: MsgContext, domain: str, aor: str | None = None) -> int:
    return registered(registrar_of(ctx), ctx, domain, _opt(aor), to_for_register=True)


def w_is_contact_registered(ctx: MsgContext, domain: str, aor: str | None = None,
                            contact: str | None = None, callid: str | None = None) -> int:
    return is_contact_registered(registrar_of(ctx), ctx, domain, _opt(aor), _opt(contact), _opt(callid))


def w_remove(ctx: MsgContext, domain: str, aor: str, contact: str | None = None,
             next_hop: str | None = None, instance: str | None = None) -> int:
    return remove(registrar_of(ctx), ctx, domain, aor, _opt(contact), _opt(next_hop), _opt(instance))


def w_remove_ip_port(ctx: MsgContext, ip: str, port: int, domain: str, aor: str | None = None) -> int:
    return remove_ip_port(registrar_of(ctx), ctx, ip, port, domain, _opt(aor))


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> Registrar:
    reg = Registrar(config_from(params), mctx.process, tuple(params.get(TABLES_KEY) or ()))
    if LOCATION in mctx.process.services:  # usrloc is initialised first (registrar requires it)
        reg.open_tables()
    return reg


_DOMAIN = ArgSpec(ArgKind.STR, "domain", static=True, fixup=_domain)
_AOR = ArgSpec(ArgKind.STR, "aor", optional=True)
_REQ = RouteType.REQUEST
_ANYWHERE = RouteType.REQUEST | RouteType.FAILURE | RouteType.BRANCH | RouteType.ONREPLY | RouteType.LOCAL

exports = ModuleExports(
    "registrar",
    functions=(
        FunctionExport(
            "save", w_save,
            (_DOMAIN, ArgSpec(ArgKind.STR, "flags", optional=True, fixup=_save_flags), _AOR,
             ArgSpec(ArgKind.STR, "ownership_tag", optional=True)),
            route_types=_REQ | RouteType.ONREPLY,
            doc="store the Contacts of a REGISTER and answer it (in onreply_route: what upstream accepted)",
        ),
        FunctionExport(
            "lookup", w_lookup,
            (_DOMAIN, ArgSpec(ArgKind.STR, "flags", optional=True, fixup=_lookup_flags), _AOR),
            route_types=_REQ | RouteType.FAILURE,
            doc="rewrite the R-URI to the registered contacts (1 found, -1 none, -2 method, -3 error)",
        ),
        FunctionExport("registered", w_registered,
                       (_DOMAIN, _AOR, ArgSpec(ArgKind.STR, "callid", optional=True)),
                       route_types=_ANYWHERE, doc="2.x: is the AOR (default: R-URI) registered"),
        FunctionExport("is_registered", w_is_registered, (_DOMAIN, _AOR), route_types=_ANYWHERE,
                       doc="is the AOR (default: To for REGISTER, else From) registered"),
        FunctionExport("is_contact_registered", w_is_contact_registered,
                       (_DOMAIN, _AOR, ArgSpec(ArgKind.STR, "contact", optional=True),
                        ArgSpec(ArgKind.STR, "callid", optional=True)),
                       route_types=_ANYWHERE, doc="is this contact / Call-ID registered for the AOR"),
        FunctionExport("remove", w_remove,
                       (_DOMAIN, ArgSpec(ArgKind.STR, "aor"), ArgSpec(ArgKind.STR, "contact", optional=True),
                        ArgSpec(ArgKind.STR, "next_hop", optional=True),
                        ArgSpec(ArgKind.STR, "sip_instance", optional=True)),
                       route_types=_REQ | RouteType.ONREPLY | RouteType.TIMER | RouteType.EVENT,
                       doc="remove bindings of an AOR (all, or by contact / next hop / instance)"),
        FunctionExport("is_ip_registered", w_registered, missing="is_ip_registered() of registrar"),
        FunctionExport("remove_ip_port", w_remove_ip_port,
                       (ArgSpec(ArgKind.STR, "ip"), ArgSpec(ArgKind.INT, "port"), _DOMAIN, _AOR),
                       route_types=RouteType.ALL, doc="remove the bindings behind ip:port"),
        FunctionExport("add_sock_hdr", w_registered, missing="add_sock_hdr() of registrar"),
    ),
    params=(
        ParamExport("default_expires", ParamType.INT, 3600),
        ParamExport("min_expires", ParamType.INT, 60),
        ParamExport("max_expires", ParamType.INT, 0),
        ParamExport("default_q", ParamType.INT, None, doc="q x 1000 for contacts without q"),
        ParamExport("case_sensitive", ParamType.INT, 1),
        ParamExport("realm_prefix", ParamType.STR, None),
        ParamExport("received_avp", ParamType.STR, None, doc="AVP holding the source URI (nathelper)"),
        ParamExport("received_param", ParamType.STR, "received"),
        ParamExport("allow_dup_cseq", ParamType.INT, 1),
        ParamExport("expires_max_deviation", ParamType.INT, 0),
        ParamExport("max_contacts", ParamType.INT, 0),
        ParamExport("max_username_len", ParamType.INT, 64),
        ParamExport("max_domain_len", ParamType.INT, 64),
        ParamExport("max_aor_len", ParamType.INT, 256),
        ParamExport("max_contact_len", ParamType.INT, 255),
        ParamExport("retry_after", ParamType.INT, 0),
        ParamExport("sock_hdr_name", ParamType.STR, None),
        ParamExport("mcontact_avp", ParamType.STR, None,
                    doc="AVP with the Contact URI relayed upstream, for save() in onreply_route"),
        ParamExport("attr_avp", ParamType.STR, None,
                    doc="AVP saved with each binding; lookup() gives it back as $msg.branch.attr(name)"),
        ParamExport("disable_gruu", ParamType.INT, 1, check=lambda v: _only(v, 1, "disable_gruu")),
        ParamExport("tcp_persistent_flag", ParamType.MFLAG, None,
                    doc="message flag: keep the REGISTER's TCP/TLS/WS connection open while bound"),
        ParamExport("reject_brief_expires", ParamType.INT, 0,
                    doc="pysips: answer 423 with Min-Expires instead of raising a short expiry"),
        ParamExport("pn_enable", ParamType.INT, 0,
                    check=lambda v: _only(v, 0, "pn_enable", _PUSH)),
        *(ParamExport(name, ParamType.INT_OR_STR, None, check=_not_implemented(name, what))
          for name, what in _NOT_IMPLEMENTED),
    ),
    requires=(LOCATION, REPLIES),
    uses=(TRANSACTIONS,),
    init=_init,
    # OpenSIPS's registrar group, in its order: three settings, then the REGISTER outcomes
    stats=(
        StatExport("max_expires", lambda reg: reg.config.max_expires, doc="the max_expires setting"),
        StatExport("max_contacts", lambda reg: reg.config.max_contacts, doc="the max_contacts setting"),
        StatExport("default_expire", lambda reg: reg.config.default_expires,
                   doc="the default_expires setting"),
        StatExport("accepted_regs", lambda reg: reg.accepted, lambda reg: setattr(reg, "accepted", 0),
                   doc="REGISTERs saved"),
        StatExport("rejected_regs", lambda reg: reg.rejected, lambda reg: setattr(reg, "rejected", 0),
                   doc="REGISTERs refused"),
    ),
    doc="SIP registrar",
)


def _only(value: Any, allowed: int, name: str, what: str = "GRUU") -> Any:
    if value != allowed:
        raise FixupError(f"{name}={value} is not supported by pysips ({what} is not implemented)")
    return value
