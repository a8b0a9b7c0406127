"""`myself` follows OpenSIPS 3.x: a URI without a port is ours whatever ports we listen on.

OpenSIPS 3.x scripts say `is_myself("$rd")` where 2.x said `uri == myself`: the host decides
(check_self() ignores a port of 0, and $rd has none). 2.x compared the port too and read an absent
one as 5060, so a server on other ports relayed its own domain away. is_myself(host, port) still
compares a port it is given.
"""

from __future__ import annotations

import pytest
from test_compile_support import calls, check, load, run

from pysips.core.api import Socket
from pysips.core.sockets import SocketTable
from pysips.script import ast
from pysips.script.myself import MyselfTable, from_script, uri_hostport
from pysips.script.parse import parse_text


def _params(text: str) -> list[ast.GlobalParam]:
    return [i for i in parse_text(text, "t.cfg").items if isinstance(i, ast.GlobalParam)]


LISTEN_5070 = 'listen=udp:127.0.0.1:5070\nlisten=ws:127.0.0.1:8088\nloadmodule "testmod.so"\n'


def _request(ruri: str, from_uri: str = "sip:alice@10.0.0.1", to_uri: str = "sip:bob@10.0.0.2") -> bytes:
    return (
        f"REGISTER {ruri} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-m-1\r\n"
        f"From: <{from_uri}>;tag=a1\r\n"
        f"To: <{to_uri}>\r\n"
        "Call-ID: m-1@10.0.0.1\r\n"
        "CSeq: 1 REGISTER\r\n"
        "Content-Length: 0\r\n"
        "\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sip:alice@example.com", ("example.com", None)),
        ("sips:alice@example.com", ("example.com", None)),
        ("sip:example.com:5070;transport=ws", ("example.com", 5070)),
        ("<sip:bob@[::1]:5080>", ("[::1]", 5080)),
        ("sip:[::1];lr", ("[::1]", None)),
    ],
)
def test_uri_hostport_leaves_an_absent_port_absent(uri: str, expected: tuple[str, int | None]) -> None:
    assert uri_hostport(uri) == expected


def test_absent_port_matches_any_port_we_listen_on() -> None:
    table = from_script(_params(LISTEN_5070))
    assert table.is_myself("127.0.0.1", None)
    assert table.is_myself("127.0.0.1", 5070)
    assert table.is_myself("127.0.0.1", 8088)
    assert not table.is_myself("127.0.0.1", 5060)  # a port, when given, must be ours
    assert not table.is_myself("127.0.0.2", None)


def test_ipv6_in_any_spelling_and_case_insensitive_names() -> None:
    table = MyselfTable([("[::1]", 5060), ("Proxy.Example.COM", None)])
    assert table.is_myself("0:0:0:0:0:0:0:1", 5060)
    assert table.is_myself("::1", None)
    assert table.is_myself("proxy.example.com", 7000)


def test_advertised_name_and_port_pair_either_way() -> None:
    table = SocketTable([Socket("udp", "10.0.0.5", 5070, "pbx.example.com", 5090)])
    for host in ("10.0.0.5", "pbx.example.com"):
        for port in (None, 5070, 5090):
            assert table.myself.is_myself(host, port), (host, port)
        assert not table.myself.is_myself(host, 5060)


def test_core_table_and_script_table_agree() -> None:
    """One rule: the engine's table (real sockets) answers as the script's own (pysips -c)."""
    engine = SocketTable([Socket("udp", "127.0.0.1", 5070), Socket("ws", "127.0.0.1", 8088)])
    script = from_script(_params(LISTEN_5070))
    for host in ("127.0.0.1", "127.0.0.2"):
        for port in (None, 5060, 5070, 8088):
            assert engine.myself.is_myself(host, port) == script.is_myself(host, port), (host, port)


@pytest.mark.parametrize(
    ("ruri", "expected"),
    [
        ("sip:127.0.0.1", "me"),  # a browser's REGISTER: no port
        ("sip:alice@127.0.0.1;transport=ws", "me"),
        ("sip:127.0.0.1:5070", "me"),
        ("sip:127.0.0.1:8088", "me"),
        ("sip:127.0.0.1:5060", "me"),  # as is_myself("$rd"): the port is not compared
        ("sip:127.0.0.2", "other"),
        ("sip:127.0.0.2:5070", "other"),
    ],
)
def test_uri_myself_on_non_default_ports(ruri: str, expected: str) -> None:
    loaded = load('route { if (uri == myself) t_rec("me"); else t_rec("other"); }\n', LISTEN_5070)
    _, ctx = run(loaded, _request(ruri))
    assert calls(ctx) == [("t_rec", expected, None)]


def test_from_and_to_uri_myself_look_at_the_host() -> None:
    loaded = load(
        'route { if (from_uri == myself) t_rec("from"); if (to_uri == myself) t_rec("to");'
        ' if (!to_uri == myself) t_rec("to-not"); }\n',
        LISTEN_5070,
    )
    _, ctx = run(loaded, _request("sip:127.0.0.1", "sip:alice@127.0.0.1", "sip:bob@127.0.0.1:5060"))
    assert calls(ctx) == [("t_rec", "from", None), ("t_rec", "to", None)]
    _, ctx = run(loaded, _request("sip:127.0.0.1", "sip:alice@10.9.9.9:5070", "sip:bob@example.net"))
    assert calls(ctx) == [("t_rec", "to-not", None)]


def test_is_myself_function_follows_the_same_rule() -> None:
    loaded = load(
        'route { if (is_myself("$rd")) t_rec("rd"); if (!is_myself("$rd", 5060)) t_rec("not-5060"); }\n',
        LISTEN_5070,
    )
    _, ctx = run(loaded, _request("sip:127.0.0.1"))
    assert calls(ctx) == [("t_rec", "rd", None), ("t_rec", "not-5060", None)]


def test_pysips_c_warns_once_per_2x_keyword() -> None:
    """3.x dropped `uri == myself`; pysips keeps it with the 3.x rule and says so, once each."""
    report = check(
        'route { if (uri == myself) exit; if (!uri == myself) exit; if (from_uri != myself) exit;'
        " if (src_ip == myself) exit; }\n",
        LISTEN_5070,
    )
    assert report.ok
    notes = [p.message for p in report.problems if p.warning]
    assert len(notes) == 2
    assert notes[0].startswith("'uri == myself' is the OpenSIPS 2.x form") and 'is_myself("$rd")' in notes[0]
    assert 'is_myself("$fd")' in notes[1]


def test_a_wildcard_listener_is_myself_on_every_local_address() -> None:
    """OpenSIPS expands `socket=udp:*:5070` into every interface address; each is `myself`."""
    from pysips.core.listeners import listeners_from, local_addresses, wildcard_aliases

    listeners = listeners_from([ast.SocketSpec("udp", "*", 5070)])
    table = SocketTable([lst.socket for lst in listeners], wildcard_aliases(listeners))
    assert "127.0.0.1" in local_addresses()
    for address in local_addresses():
        assert table.myself.is_myself(address, None) and table.myself.is_myself(address, 5070)
        assert not table.myself.is_myself(address, 5060)
