"""Writes, script storage ($var, $avp, $param), indexes, contexts, templates and load errors."""

from __future__ import annotations

import pytest

from pysips.script import ast
from pysips.script.context import MsgContext, ProcessState, Value
from pysips.script.pv import (
    PVError,
    PVRegistry,
    avp_key,
    compile_pvar,
    compile_target,
    compile_template,
)
from pysips.script.pv_base import FuncPV, PVAccessor
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

POS = ast.Pos("t.cfg", 7, 3)

REQUEST = (
    "INVITE sip:bob:secret@example.com:5070;transport=tcp SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
    "From: <sip:alice@a.example>;tag=ft\r\n"
    "To: <sip:bob@b.example>\r\n"
    "Call-ID: cid-1\r\n"
    "CSeq: 1 INVITE\r\n"
    "X-Req: request-value\r\n"
    "Content-Length: 0\r\n\r\n"
)
REPLY = (
    "SIP/2.0 180 Ringing\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
    "From: <sip:alice@a.example>;tag=ft\r\n"
    "To: <sip:bob@b.example>;tag=tt\r\n"
    "Call-ID: cid-1\r\n"
    "CSeq: 1 INVITE\r\n"
    "X-Rpl: reply-value\r\n"
    "Content-Length: 0\r\n\r\n"
)


def parsed(text: str) -> SipMessage:
    msg = parse_message(text.encode())
    assert isinstance(msg, SipMessage)
    return msg


def P(
    name: str,
    subname: str | ast.PVar | None = None,
    index: ast.Expr | str | None = None,
    context: str | None = None,
    transforms: tuple[ast.Transform, ...] = (),
) -> ast.PVar:
    return ast.PVar(name, subname, index, context, transforms, POS)


REG = PVRegistry()


def new_ctx(text: str = REQUEST) -> MsgContext:
    return MsgContext(ProcessState(), parsed(text), ReceiveInfo("udp", "192.0.2.1", 5060, "10.0.0.1", 5060))


def acc(node: ast.PVar) -> PVAccessor:
    return compile_pvar(node, REG)


# ------------------------------------------------------------------------------ R-URI writes


@pytest.mark.parametrize(
    ("target", "value", "expected_ru"),
    [
        (P("ru"), "sip:carol@c.example", "sip:carol@c.example"),
        (P("rU"), "carol", "sip:carol:secret@example.com:5070;transport=tcp"),
        (P("rU"), None, "sip:example.com:5070;transport=tcp"),
        (P("rU"), "", "sip:example.com:5070;transport=tcp"),
        (P("rd"), "10.1.1.1", "sip:bob:secret@10.1.1.1:5070;transport=tcp"),
        (P("rp"), 5080, "sip:bob:secret@example.com:5080;transport=tcp"),
        (P("rp"), "5090", "sip:bob:secret@example.com:5090;transport=tcp"),
        (P("rp"), None, "sip:bob:secret@example.com;transport=tcp"),
    ],
)
def test_ruri_writes(target: ast.PVar, value: Value, expected_ru: str) -> None:
    ctx = new_ctx()
    compile_target(target, REG).set(ctx, value)
    assert ctx.new_ruri == expected_ru
    assert acc(P("ru")).get(ctx) == expected_ru
    assert ctx.msg.ruri == "sip:bob:secret@example.com:5070;transport=tcp"  # message untouched


@pytest.mark.parametrize(
    ("target", "value"),
    [(P("ru"), None), (P("ru"), 5), (P("ru"), ""), (P("rd"), None), (P("rU"), 7), (P("rp"), "x1")],
)
def test_bad_ruri_writes_are_ignored(target: ast.PVar, value: Value) -> None:
    ctx = new_ctx()
    compile_target(target, REG).set(ctx, value)
    assert ctx.new_ruri is None


def test_rewrites_compose() -> None:
    ctx = new_ctx()
    compile_target(P("rU"), REG).set(ctx, "dave")
    compile_target(P("rd"), REG).set(ctx, "d.example")
    assert acc(P("ru")).get(ctx) == "sip:dave:secret@d.example:5070;transport=tcp"


def test_ru_not_settable_on_reply() -> None:
    ctx = new_ctx(REPLY)
    compile_target(P("ru"), REG).set(ctx, "sip:x@y")
    assert ctx.new_ruri is None


def test_du_write_and_delete() -> None:
    ctx = new_ctx()
    du = compile_target(P("du"), REG)
    du.set(ctx, "sip:10.0.0.9:5080;transport=tcp")
    assert ctx.dst_uri == "sip:10.0.0.9:5080;transport=tcp"
    assert acc(P("dd")).get(ctx) == "10.0.0.9"
    assert acc(P("dp")).get(ctx) == 5080
    assert acc(P("dP")).get(ctx) == "tcp"
    du.set(ctx, 3)
    assert ctx.dst_uri == "sip:10.0.0.9:5080;transport=tcp"
    du.set(ctx, None)
    assert ctx.dst_uri is None and du.get(ctx) is None


# ------------------------------------------------------------------------------ $var


def test_var_keeps_type_and_survives_messages() -> None:
    process = ProcessState()
    var = compile_target(P("var", "x"), REG)
    ctx = MsgContext(process)
    assert var.get(ctx) is None
    var.set(ctx, 5)
    assert var.get(ctx) == 5 and isinstance(var.get(ctx), int)
    var.set(ctx, "5")
    assert var.get(ctx) == "5"
    assert var.get(MsgContext(process)) == "5"  # per process, not per message
    var.set(ctx, None)
    assert var.get(ctx) is None and "x" not in process.vars


def test_var_name_is_literal() -> None:
    """OpenSIPS 3.6 (tests/differential): $var($var(n)) is the variable named "$var(n)"."""
    ctx = MsgContext(ProcessState())
    compile_target(P("var", "n"), REG).set(ctx, "target")
    literal = compile_target(P("var", P("var", "n")), REG)
    literal.set(ctx, 42)
    assert "target" not in ctx.process.vars
    assert ctx.process.vars["$var(n)"] == 42
    assert literal.get(ctx) == 42


# ------------------------------------------------------------------------------ $avp


def test_avp_add_replace_delete() -> None:
    ctx = MsgContext(ProcessState())
    avp = compile_target(P("avp", "x"), REG)
    avp.set(ctx, "a")
    avp.set(ctx, 2)
    avp.set(ctx, "c")
    assert ctx.avps["x"] == ["c", 2, "a"]
    assert avp.get(ctx) == "c"
    assert acc(P("avp", "x", ast.IntLit(0))).get(ctx) == "c"
    assert acc(P("avp", "x", ast.IntLit(1))).get(ctx) == 2
    assert acc(P("avp", "x", ast.IntLit(-1))).get(ctx) == "a"
    assert acc(P("avp", "x", ast.IntLit(3))).get(ctx) is None
    assert acc(P("avp", "x", "*")).get(ctx) == "c, 2, a"
    assert acc(P("avp", "x", "*")).get_all(ctx) == ["c", 2, "a"]
    # `$avp(x) = NULL` drops the newest only
    avp.set(ctx, None)
    assert ctx.avps["x"] == [2, "a"]
    # `:=` replaces every value
    avp.set_replace(ctx, "z")
    assert ctx.avps["x"] == ["z"]
    avp.set(ctx, None)
    assert "x" not in ctx.avps and avp.get(ctx) is None
    assert avp.get_all(ctx) == []


def test_avp_indexed_writes() -> None:
    ctx = MsgContext(ProcessState())
    ctx.avps["x"] = ["c", "b", "a"]
    compile_target(P("avp", "x", ast.IntLit(1)), REG).set(ctx, "B")
    assert ctx.avps["x"] == ["c", "B", "a"]
    compile_target(P("avp", "x", ast.IntLit(-1)), REG).set(ctx, None)
    assert ctx.avps["x"] == ["c", "B"]
    compile_target(P("avp", "x", ast.IntLit(9)), REG).set(ctx, "nowhere")  # logged, no change
    assert ctx.avps["x"] == ["c", "B"]
    compile_target(P("avp", "x", ast.Ident("append")), REG).set(ctx, "oldest")
    assert ctx.avps["x"] == ["c", "B", "oldest"]
    compile_target(P("avp", "x", "*"), REG).set(ctx, "only")
    assert ctx.avps["x"] == ["only"]
    compile_target(P("avp", "x", "*"), REG).set(ctx, None)
    assert "x" not in ctx.avps


def test_avp_index_from_variable_and_names() -> None:
    ctx = MsgContext(ProcessState())
    ctx.avps["x"] = ["c", "b", "a"]
    ctx.process.vars["i"] = 2
    assert acc(P("avp", "x", P("var", "i"))).get(ctx) == "a"
    ctx.process.vars["i"] = "2"
    assert acc(P("avp", "x", P("var", "i"))).get(ctx) is None
    assert avp_key("$avp(rcv)") == "rcv" and avp_key("s:rcv") == "rcv"
    assert acc(P("avp", "s:x")).get(ctx) == "c"


# ------------------------------------------------------------------------------ $param


def test_param() -> None:
    ctx = MsgContext(ProcessState())
    ctx.params = ("first", 2)
    assert acc(P("param", "1")).get(ctx) == "first"
    assert acc(P("param", "2")).get(ctx) == 2
    assert acc(P("param", "3")).get(ctx) is None
    ctx.process.vars["n"] = 2
    assert acc(P("param", P("var", "n"))).get(ctx) == 2


def test_named_param_reads_event_parameters() -> None:
    ctx = MsgContext(ProcessState())
    assert ctx.event_params is None
    assert acc(P("param", "uri")).get(ctx) is None
    ctx.extra["event_params"] = {"uri": "module scratch space is not the event"}
    assert acc(P("param", "uri")).get(ctx) is None
    ctx.event_params = {"uri": "sip:a@b", "expires": 60}
    assert acc(P("param", "uri")).get(ctx) == "sip:a@b"
    assert acc(P("param", "expires")).get(ctx) == 60
    assert acc(P("param", "other")).get(ctx) is None


class FakeSocket:
    proto = "tcp"
    ip = "2001:db8::5"
    port = 5070
    name = "tcp:[2001:db8::5]:5070"


def test_socket_out_reads_forced_socket() -> None:
    ctx = MsgContext(ProcessState())
    assert acc(P("socket_out")).get(ctx) is None
    ctx.force_socket = FakeSocket()
    assert acc(P("socket_out")).get(ctx) == "tcp:[2001:db8::5]:5070"
    assert acc(P("socket_out", "port")).get(ctx) == 5070
    assert acc(P("socket_out", "af")).get(ctx) == "INET6"
    assert not acc(P("socket_out", "port")).writable


class FakeTable:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str, int]] = []

    def find(self, proto: str, ip: str, port: int) -> FakeSocket | None:
        self.asked.append((proto, ip, port))
        return FakeSocket() if (proto, ip, port) == ("tcp", "2001:db8::5", 5070) else None


class FakeEngine:
    def __init__(self) -> None:
        self.table = FakeTable()


def test_socket_out_assignment_picks_one_of_our_sockets() -> None:
    # OpenSIPS pv_set_force_sock: NULL resets, an unknown socket only warns (the old one stays).
    ctx = MsgContext(ProcessState())
    out = acc(P("socket_out"))
    assert out.writable
    out.set(ctx, "tcp:[2001:db8::5]:5070")  # no engine (script only checked): nothing to pick
    assert ctx.force_socket is None
    engine = FakeEngine()
    ctx.process.core = engine
    out.set(ctx, "tcp:[2001:db8::5]:5070")
    assert isinstance(ctx.force_socket, FakeSocket)
    out.set(ctx, "udp:10.0.0.9")
    assert isinstance(ctx.force_socket, FakeSocket)
    assert engine.table.asked[-1] == ("udp", "10.0.0.9", 5060)
    out.set(ctx, "tls:10.0.0.9")
    assert engine.table.asked[-1] == ("tls", "10.0.0.9", 5061)
    out.set(ctx, None)
    assert ctx.force_socket is None


def test_registry_replace_core_variable() -> None:
    reg = PVRegistry()

    def writable_socket_out(name: str, subname: str | None, pos: ast.Pos) -> PVAccessor:
        return FuncPV("$socket_out", lambda ctx: "x", lambda ctx, v: None)

    reg.replace("socket_out", writable_socket_out)
    assert compile_target(P("socket_out"), reg).writable
    with pytest.raises(ValueError):
        reg.replace("no_such", writable_socket_out)


# ------------------------------------------------------------------------------ contexts


def test_reply_context_reads_the_reply() -> None:
    ctx = new_ctx()
    ctx.reply = parsed(REPLY)
    assert acc(P("hdr", "X-Rpl", context="reply")).get(ctx) == "reply-value"
    assert acc(P("rs", context="reply")).get(ctx) == 180
    assert acc(P("ru", context="reply")).get(ctx) is None
    assert acc(P("hdr", "X-Rpl")).get(ctx) is None  # the current message is the request
    ctx.reply = None
    assert acc(P("rs", context="reply")).get(ctx) is None


def test_reply_context_in_onreply_uses_current_reply() -> None:
    ctx = new_ctx(REPLY)
    assert acc(P("rs", context="reply")).get(ctx) == 180


class FakeTransaction:
    def __init__(self, request: SipMessage) -> None:
        self.request = request


def test_request_context_reads_the_transaction_request() -> None:
    ctx = new_ctx(REPLY)
    assert acc(P("hdr", "X-Req", context="request")).get(ctx) is None
    ctx.transaction = FakeTransaction(parsed(REQUEST))
    assert acc(P("hdr", "X-Req", context="request")).get(ctx) == "request-value"
    assert acc(P("rm", context="request")).get(ctx) == "INVITE"
    assert acc(P("ru", context="request")).get(ctx) == "sip:bob:secret@example.com:5070;transport=tcp"


# ------------------------------------------------------------------------------ templates


def test_template_with_values_and_null() -> None:
    ctx = new_ctx()
    ctx.process.vars["n"] = 3
    tpl = ast.StrTemplate(("from ", P("fu"), " to ", P("tu"), " tag=", P("tt"), " n=", P("var", "n")), POS)
    fmt = compile_template(tpl, REG)
    assert fmt(ctx) == "from sip:alice@a.example to sip:bob@b.example tag=<null> n=3"


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((), ""),
        (("plain",), "plain"),
        ((P("ci"),), "cid-1"),
        ((P("du"),), "<null>"),
        (("id=", P("ci")), "id=cid-1"),
        (("a", "b", P("ci"), ""), "abcid-1"),
    ],
)
def test_template_shapes(parts: tuple[str | ast.PVar, ...], expected: str) -> None:
    assert compile_template(ast.StrTemplate(parts, POS), REG)(new_ctx()) == expected


# ------------------------------------------------------------------------------ load-time errors


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (P("nosuchvar"), "unknown pseudo-variable $nosuchvar"),
        (P("hdr"), "$hdr needs a header name"),
        (P("var"), "$var needs a name"),
        (P("ru", "x"), "takes no name"),
        (P("param", " "), "$param needs a position"),
        (P("param", "0"), "start at 1"),
        (P("socket_in", "bogus"), "unknown field"),
        (P("time"), "needs a strftime format"),
        (P("C", "zz"), "two color letters"),
        (P("hdr", "Via", context="branch"), "unknown context"),
        (P("hdr", "Via", ast.StrLit("x")), "bad index"),
        (P("ru", transforms=(ast.Transform("s.nope", (), POS),)), "unknown transformation {s.nope}"),
        (P("ru", transforms=(ast.Transform("zz.len", (), POS),)), "unknown transformation {zz.len}"),
    ],
)
def test_load_errors(node: ast.PVar, message: str) -> None:
    with pytest.raises(PVError) as info:
        compile_pvar(node, REG)
    assert message in info.value.message
    assert info.value.pos == POS
    assert str(info.value).startswith("t.cfg:7:3: ")


@pytest.mark.parametrize(
    "node",
    [
        P("ci"),
        P("fu"),
        P("si"),
        P("rs"),
        P("hdr", "Via"),
        P("ru", transforms=(ast.Transform("uri.user", (), POS),)),
        P("hdr", "X", context="reply"),
        P("hdr", "X", ast.IntLit(0)),
    ],
)
def test_read_only_targets_are_load_errors(node: ast.PVar) -> None:
    assert not compile_pvar(node, REG).writable
    with pytest.raises(PVError, match="read-only"):
        compile_target(node, REG)


def test_writable_targets() -> None:
    for node in (P("ru"), P("rU"), P("rd"), P("rp"), P("du"), P("var", "x"), P("avp", "x")):
        assert compile_target(node, REG).writable, node


# ------------------------------------------------------------------------------ registry


def test_module_registration() -> None:
    reg = PVRegistry()
    assert not reg.known("T_reply_code")

    def factory(name: str, subname: str | None, pos: ast.Pos) -> PVAccessor:
        return FuncPV("$T_reply_code", lambda ctx: 404)

    reg.register("T_reply_code", factory)
    assert reg.known("T_reply_code")
    assert compile_pvar(P("T_reply_code"), reg).get(MsgContext(ProcessState())) == 404
    with pytest.raises(ValueError):
        reg.register("T_reply_code", factory)
    with pytest.raises(PVError):
        compile_pvar(P("T_reply_code"), REG)  # registries are independent


def test_dynamic_header_name_and_index() -> None:
    ctx = new_ctx()
    ctx.process.vars.update({"h": "X-Req", "i": 0, "bad": "zero"})
    assert acc(P("hdr", P("var", "h"))).get(ctx) == "request-value"
    assert acc(P("hdr", "Via", P("var", "i"))).get(ctx) == "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1"
    assert acc(P("hdr", "Via", P("var", "bad"))).get(ctx) is None
    assert not acc(P("hdr", P("var", "h"))).writable
    ctx.process.vars["h"] = ""
    assert acc(P("hdr", P("var", "h"))).get(ctx) is None  # bad name at run time: NULL, logged


def test_module_transformation_class_and_crash_containment() -> None:
    from pysips.script.transforms import TrArg, TrFunc

    reg = PVRegistry()

    def make(method: str, args: tuple[TrArg, ...], pos: ast.Pos) -> TrFunc:
        if method == "boom":
            return lambda ctx, v: 1 // 0
        if method == "double":
            return lambda ctx, v: str(v) * 2
        raise PVError(f"unknown transformation {{demo.{method}}}", pos)

    reg.transforms.register("demo", make)
    ctx = MsgContext(ProcessState())
    ctx.process.vars["x"] = "ab"
    double = ast.Transform("demo.double", (), POS)
    boom = ast.Transform("demo.boom", (), POS)
    assert compile_pvar(P("var", "x", transforms=(double,)), reg).get(ctx) == "abab"
    assert compile_pvar(P("var", "x", transforms=(boom,)), reg).get(ctx) is None
    assert compile_pvar(P("var", "x", transforms=(double, boom)), reg).get(ctx) is None
    with pytest.raises(ValueError):
        reg.transforms.register("s", make)


def test_message_branches() -> None:
    ctx = MsgContext(ProcessState())
    uris = P("msg.branch.uri", index="*")
    assert acc(uris).get(ctx) is None
    ctx.branches = [{"uri": "sip:a@x", "dst_uri": None}, {"uri": "sip:b@y", "dst_uri": "sip:p"}]
    assert acc(uris).get(ctx) == "sip:a@x, sip:b@y"
    assert acc(P("msg.branch.uri", index=ast.IntLit(1))).get(ctx) == "sip:b@y"
    assert acc(P("msg.branch.duri", index=ast.IntLit(1))).get(ctx) == "sip:p"
