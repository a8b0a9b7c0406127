"""sipmsgops: SIP message operations (OpenSIPS module `sipmsgops`).

is_method("INVITE|BYE") (replies: the CSeq method), has_totag(), has_body([mime]),
is_present_hf(name), append_hf(text[, after]), insert_hf(text[, before]), append_urihf(pre, post),
remove_hf(name), remove_hf_re(re), remove_hf_glob(glob), append_to_reply(text),
ruri_has_param(name[, value]), ruri_add_param(param), ruri_del_param(name), ruri_tel2sip(),
is_uri_user_e164(uri), list_hdr_has_option/add_option/remove_option(hdr, opt),
stream_exists()/stream_delete(), the codec_* functions (see codecs.py).
Header edits are lumps: invisible to $hdr() in the same route.
The other body and codec functions are declared but not implemented: using them is a load error.
"""

from __future__ import annotations

from pysips.script.context import MsgContext, RouteType
from pysips.script.exports import ArgKind, ArgSpec, FunctionExport, ModuleExports

from .codecs import (
    codec_delete,
    codec_delete_except_re,
    codec_delete_re,
    codec_exists,
    codec_exists_re,
    codec_move_down,
    codec_move_down_re,
    codec_move_up,
    codec_move_up_re,
)
from .headers import (
    append_hf,
    append_to_reply,
    append_urihf,
    fix_glob,
    fix_header_name,
    fix_remove_mode,
    insert_hf,
    is_present_hf,
    remove_hf,
    remove_hf_flags,
    remove_hf_glob,
    remove_hf_re,
)
from .list_hdr import list_hdr_add_option, list_hdr_has_option, list_hdr_remove_option
from .message import fix_methods, fix_mime, has_body, has_totag, is_method
from .ruri import is_uri_user_e164, ruri_add_param, ruri_del_param, ruri_has_param, ruri_tel2sip
from .streams import is_audio_on_hold, stream_delete, stream_exists

_ALL = RouteType.REQUEST | RouteType.ONREPLY | RouteType.FAILURE | RouteType.BRANCH | RouteType.LOCAL
_RURI = RouteType.REQUEST | RouteType.FAILURE | RouteType.BRANCH | RouteType.LOCAL
_REPLYING = RouteType.REQUEST | RouteType.FAILURE | RouteType.BRANCH | RouteType.ERROR

_S = ArgKind.STR
_HNAME = ArgSpec(_S, "header", fixup=fix_header_name)


def _not_implemented(ctx: MsgContext, *args: object) -> int:
    return -1


_MISSING = (
    ("append_body_to_reply", 1), ("append_time", 0), ("is_privacy", 1), ("remove_body_part", 2),
    ("add_body_part", 3), ("get_updated_body_part", 2),
    ("sipmsg_validate", 2), ("change_reply_status", 2),
    ("get_glob_headers_values", 3), ("sip_to_json", 1),
)


def _missing(name: str, arity: int) -> FunctionExport:
    args = tuple(ArgSpec(ArgKind.ANY, f"arg{i + 1}", optional=True) for i in range(arity))
    return FunctionExport(name, _not_implemented, args, _ALL, missing="sipmsgops body/SDP functions")


exports = ModuleExports(
    "sipmsgops",
    functions=(
        FunctionExport(
            "is_method", is_method, (ArgSpec(_S, "methods", fixup=fix_methods),), _ALL,
            doc="the request method (or a reply's CSeq method) is one of 'A|B|C'",
        ),
        FunctionExport("has_totag", has_totag, (), _ALL, doc="the To header has a tag"),
        FunctionExport(
            "has_body", has_body, (ArgSpec(_S, "mime", optional=True, fixup=fix_mime),), _ALL,
            doc="the message has a body (of the given type, also as a multipart part)",
        ),
        FunctionExport(
            "has_body_part", has_body, (ArgSpec(_S, "mime", optional=True, fixup=fix_mime),), _ALL,
            doc="same as has_body",
        ),
        FunctionExport("is_present_hf", is_present_hf, (_HNAME,), _ALL, doc="a header of this name exists"),
        FunctionExport(
            "append_hf", append_hf,
            (ArgSpec(_S, "text"), ArgSpec(_S, "after", optional=True, fixup=fix_header_name)), _ALL,
            doc="add header line(s) after the last header (or after the named one)",
        ),
        FunctionExport(
            "insert_hf", insert_hf,
            (ArgSpec(_S, "text"), ArgSpec(_S, "before", optional=True, fixup=fix_header_name)), _ALL,
            doc="add header line(s) before the first header (or before the named one)",
        ),
        FunctionExport(
            "append_urihf", append_urihf, (ArgSpec(_S, "prefix"), ArgSpec(_S, "suffix")),
            RouteType.REQUEST | RouteType.FAILURE | RouteType.BRANCH,
            doc="append prefix + R-URI + suffix as header line(s)",
        ),
        FunctionExport(
            "list_hdr_has_option", list_hdr_has_option, (_HNAME, ArgSpec(_S, "option")), _ALL,
            doc="an instance of the header lists this option (Supported, Require ...)",
        ),
        FunctionExport(
            "list_hdr_add_option", list_hdr_add_option, (_HNAME, ArgSpec(_S, "option")), _ALL,
            doc="add an option at the end of the header's list (first instance)",
        ),
        FunctionExport(
            "list_hdr_remove_option", list_hdr_remove_option, (_HNAME, ArgSpec(_S, "option")), _ALL,
            doc="remove the option from each instance (the header when it was the only one)",
        ),
        *(FunctionExport(name, handler, (ArgSpec(_S, "name"), ArgSpec(_S, "clock", optional=True)), _ALL,
                         doc=f"{name.replace('_', ' ')} (by name[, clock]) in the SDP")
          for name, handler in (("codec_exists", codec_exists), ("codec_delete", codec_delete),
                                ("codec_move_up", codec_move_up), ("codec_move_down", codec_move_down))),
        *(FunctionExport(name, handler, (ArgSpec(ArgKind.REGEX, "regexp"),), _ALL,
                         doc=f"{name.replace('_', ' ')} in the SDP")
          for name, handler in (("codec_exists_re", codec_exists_re), ("codec_delete_re", codec_delete_re),
                                ("codec_delete_except_re", codec_delete_except_re),
                                ("codec_move_up_re", codec_move_up_re),
                                ("codec_move_down_re", codec_move_down_re))),
        FunctionExport("is_audio_on_hold", is_audio_on_hold, (), _ALL,
                       doc="an audio stream is on hold: 1 null address (RFC 2543), 2 sendonly/inactive"),
        FunctionExport(
            "stream_exists", stream_exists,
            (ArgSpec(ArgKind.REGEX, "media"), ArgSpec(ArgKind.REGEX, "transport", optional=True)), _ALL,
            doc="the SDP has a stream of that media (and transport)",
        ),
        FunctionExport(
            "stream_delete", stream_delete,
            (ArgSpec(ArgKind.REGEX, "media"), ArgSpec(ArgKind.REGEX, "transport", optional=True)), _ALL,
            doc="remove the (last) stream of that media (and transport) from the SDP",
        ),
        FunctionExport("remove_hf", remove_hf, (_HNAME,), _ALL, doc="remove every header of this name"),
        FunctionExport(
            "remove_hf/2", remove_hf_flags,
            (ArgSpec(_S, "header"), ArgSpec(_S, "flags", static=True, fixup=fix_remove_mode)), _ALL,
            doc='2.x: remove_hf(name, "r"|"g") removes by regex or glob (-c warns)',
        ),
        FunctionExport(
            "remove_hf_re", remove_hf_re, (ArgSpec(ArgKind.REGEX, "re"),), _ALL,
            doc="remove headers whose name matches the regex",
        ),
        FunctionExport(
            "remove_hf_glob", remove_hf_glob, (ArgSpec(_S, "glob", fixup=fix_glob),), _ALL,
            doc="remove headers whose name matches the shell pattern",
        ),
        FunctionExport(
            "append_to_reply", append_to_reply, (ArgSpec(_S, "text"),), _REPLYING,
            doc="header line(s) for the reply this server will send",
        ),
        FunctionExport(
            "ruri_has_param", ruri_has_param, (ArgSpec(_S, "name"), ArgSpec(_S, "value", optional=True)),
            _RURI, doc="the R-URI has the parameter (with this value, or without value)",
        ),
        FunctionExport(
            "ruri_add_param", ruri_add_param, (ArgSpec(_S, "param"),), _RURI,
            doc="add 'name[=value]' to the R-URI parameters",
        ),
        FunctionExport(
            "ruri_del_param", ruri_del_param, (ArgSpec(_S, "name"),), _RURI,
            doc="remove a parameter from the R-URI",
        ),
        FunctionExport("ruri_tel2sip", ruri_tel2sip, (), _RURI, doc="tel: R-URI to sip:number@from-host"),
        FunctionExport(
            "is_uri_user_e164", is_uri_user_e164, (ArgSpec(_S, "uri"),),
            RouteType.REQUEST | RouteType.FAILURE | RouteType.LOCAL,
            doc="the URI's user is +digits (E.164)",
        ),
        *(_missing(name, arity) for name, arity in _MISSING),
    ),
    doc="SIP message operations.",
)
