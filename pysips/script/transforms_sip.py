"""SIP-aware transformations: `uri.*`, `param.*`, `nameaddr.*`, `via.*`.

The input must be a non-empty string; anything that does not parse gives NULL (with a log line).
Empty parts are NULL, as in OpenSIPS (`{uri.user}` of `sip:example.com` is NULL, not "").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pysips.script import ast
from pysips.script.pv_base import PVAccessor, PVError
from pysips.script.pv_sipparse import (
    NameAddr,
    UriParts,
    ViaParts,
    parse_nameaddr,
    parse_via,
    split_commas,
    split_params,
    split_uri,
)
from pysips.script.transforms import (
    TransformFailed,
    TrArg,
    TrFunc,
    int_arg,
    read_int,
    read_str,
    str_arg,
    want_args,
)

if TYPE_CHECKING:
    from pysips.script.context import MsgContext, Value


def _text_input(v: str | int, what: str) -> str:
    if not isinstance(v, str) or not v:
        raise TransformFailed(f"{what} needs a non-empty string, got {v!r}")
    return v


# ---------------------------------------------------------------------------------------------
# uri.*
# ---------------------------------------------------------------------------------------------


def _uri(v: str | int) -> UriParts:
    parts = split_uri(_text_input(v, "uri"))
    if parts is None:
        raise TransformFailed(f"invalid URI {v!r}")
    return parts


def _uri_field(pick: Callable[[UriParts], str]) -> TrFunc:
    def run(ctx: MsgContext, v: str | int) -> Value:
        return pick(_uri(v)) or None

    return run


def _uri_port(ctx: MsgContext, v: str | int) -> Value:
    port = _uri(v).port
    return int(port) if port else None


def _uri_scheme(ctx: MsgContext, v: str | int) -> Value:
    return _uri(v).scheme


def _uri_named_param(pname: str) -> TrFunc:
    def run(ctx: MsgContext, v: str | int) -> Value:
        return _uri(v).param(pname) or None

    return run


_URI_FIELDS: dict[str, TrFunc] = {
    "user": _uri_field(lambda p: p.user),
    "host": _uri_field(lambda p: p.host),
    "domain": _uri_field(lambda p: p.host),
    "passwd": _uri_field(lambda p: p.passwd),
    "port": _uri_port,
    "params": _uri_field(lambda p: p.params),
    "headers": _uri_field(lambda p: p.headers),
    "schema": _uri_scheme,
    "scheme": _uri_scheme,
    "transport": _uri_named_param("transport"),
    "ttl": _uri_named_param("ttl"),
    "uparam": _uri_named_param("user"),
    "maddr": _uri_named_param("maddr"),
    "method": _uri_named_param("method"),
    "lr": _uri_named_param("lr"),
    "r2": _uri_named_param("r2"),
}


def make_uri(method: str, args: tuple[TrArg, ...], pos: ast.Pos) -> TrFunc:
    field = _URI_FIELDS.get(method)
    if field is not None:
        want_args(f"uri.{method}", args, 0, 0, pos)
        return field
    if method != "param":
        raise PVError(f"unknown transformation {{uri.{method}}}", pos)
    want_args("uri.param", args, 1, 1, pos)
    name = str_arg("uri.param", args[0], pos)

    def run(ctx: MsgContext, v: str | int) -> Value:
        parts = _uri(v)
        if not parts.params:
            return None
        return parts.param(read_str(ctx, name))

    return run


# ---------------------------------------------------------------------------------------------
# param.*: a `name=value;name2` list
# ---------------------------------------------------------------------------------------------


def _params(v: str | int) -> list[tuple[str, str | None]]:
    text = _text_input(v, "param")
    if text[:1] in (" ", "\t"):
        # OpenSIPS's parse_params wants a name first: a list starting with whitespace fails
        raise TransformFailed(f"invalid parameter list {v!r}: whitespace before the first name")
    parsed = split_params(text)
    if not parsed:
        raise TransformFailed(f"invalid parameter list {v!r}")
    return parsed


def _param_at(params: list[tuple[str, str | None]], index: int) -> tuple[str, str | None] | None:
    return params[index] if -len(params) <= index < len(params) else None


def make_param(method: str, args: tuple[TrArg, ...], pos: ast.Pos) -> TrFunc:
    label = f"param.{method}"
    if method == "count":
        want_args(label, args, 0, 0, pos)
        return lambda ctx, v: len(_params(v))
    if method in ("value", "exist", "exists"):
        want_args(label, args, 1, 1, pos)
        name = str_arg(label, args[0], pos)
        exist = method != "value"

        def by_name(ctx: MsgContext, v: str | int) -> Value:
            params = _params(v)
            wanted = read_str(ctx, name).lower()
            for pname, pvalue in params:
                if pname.lower() == wanted:
                    return 1 if exist else (pvalue or "")
            return 0 if exist else None

        return by_name
    if method in ("valueat", "name"):
        want_args(label, args, 1, 1, pos)
        index = int_arg(label, args[0], pos)
        want_name = method == "name"

        def by_index(ctx: MsgContext, v: str | int) -> Value:
            found = _param_at(_params(v), read_int(ctx, index))
            if found is None:
                return None
            return found[0] if want_name else (found[1] or "")

        return by_index
    raise PVError(f"unknown transformation {{param.{method}}}", pos)


# ---------------------------------------------------------------------------------------------
# nameaddr.*: one or several comma-separated name-addrs (an optional first argument picks one)
# ---------------------------------------------------------------------------------------------


def _nameaddrs(v: str | int) -> list[NameAddr]:
    text = _text_input(v, "nameaddr")
    out: list[NameAddr] = []
    for field in split_commas(text):
        na = parse_nameaddr(field)
        if na is None:
            raise TransformFailed(f"not a name-addr: {field!r}")
        out.append(na)
    if not out:
        raise TransformFailed(f"not a name-addr: {text!r}")
    return out


def _na_uri(na: NameAddr, pname: str | None) -> Value:
    return na.uri or None


def _na_name(na: NameAddr, pname: str | None) -> Value:
    return na.display or None


def _na_len(na: NameAddr, pname: str | None) -> Value:
    """The length of the name-addr itself: parameters after it are not counted. Without
    parameters OpenSIPS 3.6 also counts the CRLF it appends to the value before parsing it."""
    body = na.body
    if not na.params:
        return len(body) + 2
    end = body.rfind(">") + 1 if "<" in body else body.find(";")
    return len(body[:end].rstrip(" \t")) if end > 0 else len(body)


def _na_params(na: NameAddr, pname: str | None) -> Value:
    return na.params or None


def _na_param(na: NameAddr, pname: str | None) -> Value:
    for name, value in na.param_list():
        if name == pname:
            return value or None
    return None


_NA_FIELDS: dict[str, Callable[[NameAddr, str | None], Value]] = {
    "uri": _na_uri,
    "name": _na_name,
    "len": _na_len,
    "params": _na_params,
    "param": _na_param,
}


def make_nameaddr(method: str, args: tuple[TrArg, ...], pos: ast.Pos) -> TrFunc:
    label = f"nameaddr.{method}"
    field = _NA_FIELDS.get(method)
    if field is None:
        raise PVError(f"unknown transformation {{{label}}}", pos)
    index: int | PVAccessor | None = None
    pname: str | None = None
    if method == "param":
        want_args(label, args, 1, 2, pos)
        if len(args) == 2:
            index = int_arg(label, args[0], pos)
        last = args[-1]
        if not isinstance(last, str) or not last:
            raise PVError(f"{label}: the parameter name must be a string", pos)
        pname = last
    else:
        want_args(label, args, 0, 1, pos)
        if args:
            index = int_arg(label, args[0], pos)

    def run(ctx: MsgContext, v: str | int) -> Value:
        items = _nameaddrs(v)
        if index is None:
            return field(items[0], pname)
        i = read_int(ctx, index)
        if not -len(items) <= i < len(items):
            return None
        return field(items[i], pname)

    return run


# ---------------------------------------------------------------------------------------------
# via.*
# ---------------------------------------------------------------------------------------------


def _via(v: str | int) -> ViaParts:
    text = _text_input(v, "via")
    parsed = parse_via(text)
    if parsed is None:
        raise TransformFailed(f"invalid Via {text!r}")
    return parsed


def _via_field(pick: Callable[[ViaParts], str]) -> TrFunc:
    def run(ctx: MsgContext, v: str | int) -> Value:
        return pick(_via(v)) or None

    return run


def _via_named(pname: str) -> TrFunc:
    def run(ctx: MsgContext, v: str | int) -> Value:
        return _via(v).param(pname) or None

    return run


def _via_port(ctx: MsgContext, v: str | int) -> Value:
    port = _via(v).port
    return int(port) if port else None


_VIA_FIELDS: dict[str, TrFunc] = {
    "name": _via_field(lambda p: p.name),
    "version": _via_field(lambda p: p.version),
    "transport": _via_field(lambda p: p.transport),
    "host": _via_field(lambda p: p.host),
    "domain": _via_field(lambda p: p.host),
    "port": _via_port,
    "params": _via_field(lambda p: p.params),
    "comment": _via_field(lambda p: p.comment),
    "branch": _via_named("branch"),
    "received": _via_named("received"),
    "rport": _via_named("rport"),
}


def make_via(method: str, args: tuple[TrArg, ...], pos: ast.Pos) -> TrFunc:
    field = _VIA_FIELDS.get(method)
    if field is not None:
        want_args(f"via.{method}", args, 0, 0, pos)
        return field
    if method != "param":
        raise PVError(f"unknown transformation {{via.{method}}}", pos)
    want_args("via.param", args, 1, 1, pos)
    name = str_arg("via.param", args[0], pos)

    def run(ctx: MsgContext, v: str | int) -> Value:
        return _via(v).param(read_str(ctx, name))

    return run
