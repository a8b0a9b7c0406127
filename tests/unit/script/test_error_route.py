"""error_route (OpenSIPS action.c/receive.c): compiled scripts on the real engine, in-memory sockets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))

from core_support import Net, make_net, request

from pysips.script import ast
from pysips.script.compile import LoadOptions, load_script
from pysips.script.context import ProcessState
from pysips.script.parse import parse_text

# A module of our own: a function that reports a parse error the way a real module does, allowed
# in every route type (onreply_route included).
_ERRMOD = '''
from pysips.script.errinfo import set_parse_error
from pysips.script.exports import FunctionExport, ModuleExports


def _fail(ctx):
    set_parse_error(ctx, "error parsing test header")
    return -1


exports = ModuleExports("errmod", functions=(FunctionExport("fail_parse", _fail),))
'''

HEAD = '''
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "signaling.so"
loadmodule "usrloc.so"
modparam("usrloc", "db_mode", 0)
loadmodule "registrar.so"
loadmodule "rr.so"
loadmodule "sipmsgops.so"
loadmodule "errmod.so"
'''

REPLYING_ERROR_ROUTE = '''
error_route {
    $var(class) = $err.class;
    $var(level) = $err.level;
    $var(info) = $err.info;
    sl_send_reply($err.rcode, $err.rreason);
    exit;
}
'''


@pytest.fixture()
def mpath(tmp_path: Path) -> str:
    folder = tmp_path / "errmod"
    folder.mkdir()
    (folder / "__init__.py").write_text(_ERRMOD)
    return str(tmp_path)


def _net(text: str, mpath: str) -> tuple[Net, ProcessState]:
    """The engine wired as the server wires it: main route, onreply_route and error_route."""
    process = ProcessState()
    net = make_net(None, process=process)
    loaded = load_script(parse_text(HEAD + text, "t.cfg"), LoadOptions(myself=net.engine.myself, mpath=mpath))
    routes: dict[str, Any] = {}
    for attr, kind in (("main_route", ast.RouteKind.REQUEST), ("onreply_route", ast.RouteKind.ONREPLY),
                       ("error_route", ast.RouteKind.ERROR)):
        found = loaded.route(kind, None)
        routes[attr] = found.run if found is not None else None
    net.engine.main_route = routes["main_route"]
    net.engine.onreply_route = routes["onreply_route"]
    net.engine.error_route = routes["error_route"]
    loaded.init_modules(process)
    loaded.child_init(process)
    return net, process


def _bad_from(method: str) -> str:
    good = "From: <sip:alice@example.com>;tag=a1"
    return request(method).replace(good, "From: <sip:alice@example.com;tag=a1")


def _register(contact: str) -> str:
    return request("REGISTER", "sip:127.0.0.1", extra=f"Contact: {contact}\r\n")


BAD_CONTACT = "<sip:alice@127.0.0.1:40000"  # '<' without '>'


def test_save_with_a_bad_contact_runs_error_route_which_exits(mpath: str) -> None:
    net, process = _net(REPLYING_ERROR_ROUTE + '''
route {
    if (is_method("REGISTER")) {
        if (!save("location"))
            $var(after_save) = "yes";
        sl_send_reply(299, "main route went on");
    }
}
''', mpath)
    sent = net.deliver(_register(BAD_CONTACT))
    # save() answers as OpenSIPS's registrar does, then the error_route's reply goes out
    assert [s.first_line for s in sent] == ["SIP/2.0 400 Bad Request", "SIP/2.0 400 bad headers"]
    assert sent[0].msg.header("P-Registrar-Error") == "Contact parse error"
    assert process.vars["class"] == 1 and process.vars["level"] == 3
    assert process.vars["info"] == "error parsing CONTACT headers"
    assert "after_save" not in process.vars  # exit in error_route ended the whole script


def test_error_route_without_exit_lets_the_route_go_on_and_resets_the_info(mpath: str) -> None:
    net, process = _net('''
error_route {
    $var(seen) = $err.rcode;
}
route {
    if (!save("location", "r") && $err.class == 0)
        $var(after) = "reset";
    sl_send_reply(299, "went on");
}
''', mpath)
    sent = net.deliver(_register(BAD_CONTACT))
    assert [s.first_line for s in sent] == ["SIP/2.0 299 went on"]  # "r": save() sends no reply
    assert process.vars["seen"] == 400
    assert process.vars["after"] == "reset"  # the info is reset once error_route has run


def test_a_good_register_does_not_run_error_route(mpath: str) -> None:
    net, process = _net(REPLYING_ERROR_ROUTE + 'route { save("location"); }', mpath)
    sent = net.deliver(_register("<sip:alice@127.0.0.1:40000>"))
    assert [s.first_line for s in sent] == ["SIP/2.0 200 OK"]
    assert "class" not in process.vars


def test_unparsable_from_runs_error_route_instead_of_the_automatic_400(mpath: str) -> None:
    net, process = _net(REPLYING_ERROR_ROUTE + 'route { $var(main) = 1; sl_send_reply(200, "OK"); }', mpath)
    bad = _bad_from("OPTIONS")
    sent = net.deliver(bad)
    assert [s.first_line for s in sent] == ["SIP/2.0 400 bad headers"]
    assert process.vars["info"] == "error parsing From header"
    assert process.vars["class"] == 1
    assert "main" not in process.vars
    assert sent[0].dst.port == 40000


def test_error_route_that_does_not_reply_drops_the_bad_request(mpath: str) -> None:
    net, process = _net('error_route { $var(ran) = $err.info; }\nroute { sl_send_reply(200, "OK"); }', mpath)
    bad = request("OPTIONS").replace("To: <sip:bob@example.com>", "To: <sip:bob@example.com")
    assert net.deliver(bad) == []
    assert process.vars["ran"] == "error parsing To header"
    assert net.engine.stats["bad_msg_hdr"] == 1


def test_without_error_route_a_bad_request_gets_the_automatic_400(mpath: str) -> None:
    net, _ = _net('route { sl_send_reply(200, "OK"); }', mpath)
    bad = _bad_from("OPTIONS")
    (sent,) = net.deliver(bad)
    assert sent.first_line == "SIP/2.0 400 Bad Request"


def test_a_broken_ack_is_never_answered_nor_routed(mpath: str) -> None:
    net, process = _net(REPLYING_ERROR_ROUTE + 'route { exit; }', mpath)
    bad = _bad_from("ACK")
    assert net.deliver(bad) == []
    assert "class" not in process.vars


def test_no_error_route_from_onreply_route(mpath: str) -> None:
    net, process = _net('''
error_route { $var(ran) = 1; }
route { exit; }
onreply_route {
    fail_parse();
    $var(reply_info) = $err.info;
    drop;
}
''', mpath)
    reply = (
        "SIP/2.0 200 OK\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKy\r\n"
        "From: <sip:alice@example.com>;tag=a1\r\n"
        "To: <sip:bob@example.com>;tag=b1\r\n"
        "Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    assert net.deliver(reply) == []
    assert "ran" not in process.vars
    assert process.vars["reply_info"] == "error parsing test header"  # still readable, as OpenSIPS


def test_an_error_inside_error_route_does_not_run_it_again(mpath: str) -> None:
    net, process = _net('''
error_route {
    $var(runs) = $var(runs) + 1;
    fail_parse();
}
route {
    $var(runs) = 0;
    fail_parse();
    fail_parse();
    sl_send_reply(299, "end");
}
''', mpath)
    sent = net.deliver(request("OPTIONS"))
    assert [s.first_line for s in sent] == ["SIP/2.0 299 end"]
    assert process.vars["runs"] == 2  # once per failing call in the main route, never nested


def test_error_in_a_sub_route_and_return_in_error_route(mpath: str) -> None:
    net, process = _net('''
error_route { $var(err) = $err.info; return; }
route[check] { fail_parse(); $var(sub) = "went on"; }
route { route(check); sl_send_reply(299, "end"); }
''', mpath)
    sent = net.deliver(request("OPTIONS"))
    assert [s.first_line for s in sent] == ["SIP/2.0 299 end"]
    assert process.vars["err"] == "error parsing test header"
    assert process.vars["sub"] == "went on"


def test_loose_route_with_a_bad_route_header_runs_error_route(mpath: str) -> None:
    net, process = _net(REPLYING_ERROR_ROUTE + '''
route {
    if (loose_route())
        sl_send_reply(298, "routed");
    sl_send_reply(299, "not routed");
}
''', mpath)
    sent = net.deliver(request("BYE", to_tag="b1", extra="Route: <sip:127.0.0.1;lr\r\n"))
    assert [s.first_line for s in sent] == ["SIP/2.0 400 bad headers"]
    assert process.vars["info"] == "error parsing RR headers"


def test_failed_assert_runs_error_route_and_ends_the_script(mpath: str) -> None:
    net, process = _net('''
enable_asserts = yes
error_route {
    $var(class) = $err.class;
    sl_send_reply($err.rcode, $err.rreason);
}
route {
    assert($rm == "INVITE", "invites only");
    sl_send_reply(299, "after the assert");
}
''', mpath)
    sent = net.deliver(request("OPTIONS"))
    assert [s.first_line for s in sent] == ["SIP/2.0 500 server error"]
    assert process.vars["class"] == 4
    sent = net.deliver(request("INVITE", branch="z9hG4bKinv"))
    assert [s.first_line for s in sent] == ["SIP/2.0 299 after the assert"]


def test_failed_assert_without_error_route_only_ends_the_script(mpath: str) -> None:
    net, _ = _net('''
enable_asserts = yes
route {
    assert($rm == "INVITE");
    sl_send_reply(299, "after the assert");
}
''', mpath)
    assert net.deliver(request("OPTIONS")) == []
