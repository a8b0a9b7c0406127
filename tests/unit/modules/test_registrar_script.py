"""The seed's registration logic as a compiled script on the real engine (in-memory sockets)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))

from core_support import PROXY, script_net

from pysips.core.api import Socket
from pysips.sip.receive import ReceiveInfo

WS = Socket("ws", "127.0.0.1", 8080)

SCRIPT = r'''
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "usrloc.so"
modparam("usrloc", "nat_bflag", "NAT")
modparam("usrloc", "db_mode", 0)
loadmodule "registrar.so"
loadmodule "nathelper.so"
modparam("registrar|nathelper", "received_avp", "$avp(rcv)")

route {
    if (proto == WS || proto == WSS)
        setflag(SRC_WS);
    fix_nated_contact();
    if ($rm == "REGISTER") {
        if (isflagset(SRC_WS))
            setbflag(DST_WS);
        fix_nated_register();
        if (!save("location"))
            sl_reply_error();
        exit;
    }
    if (!lookup("location", "m")) {
        sl_send_reply(404, "Not Found");
        exit;
    }
    if (isbflagset(DST_WS))
        sl_send_reply(299, "ws $ru $du");
    else
        sl_send_reply(298, "other $ru");
    exit;
}
'''

REGISTER = (
    "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKreg1\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@127.0.0.1>;tag=r1\r\n"
    "To: <sip:alice@127.0.0.1>\r\n"
    "Call-ID: ws-reg-1\r\n"
    "CSeq: 1 REGISTER\r\n"
    "Contact: <sip:8eu4ph0u@df7jal23ls0d.invalid;transport=ws>;+sip.instance=\"<urn:uuid:a>\";reg-id=1;"
    "expires=600\r\n"
    "Supported: path, gruu, outbound\r\n"
    "Content-Length: 0\r\n\r\n"
)


def test_ws_register_then_invite_finds_the_ws_binding() -> None:
    net, _ = script_net(SCRIPT, sockets=(PROXY, WS))
    before = len(net.sent)
    net.engine.receive(REGISTER.encode(), ReceiveInfo("ws", WS.ip, WS.port, "127.0.0.1", 51000, 4))
    (ok,) = net.sent[before:]
    reply = ok.msg
    assert reply.status == 200
    assert ok.dst.conn_id == 4 and ok.dst.proto == "ws"
    contacts = reply.contacts()
    assert isinstance(contacts, list)
    (contact,) = contacts
    # fix_nated_contact() changed what save() stored: the source, not the .invalid host
    assert contact.uri == "sip:8eu4ph0u@127.0.0.1:51000;transport=ws"
    assert contact.params["received"] == '"sip:127.0.0.1:51000;transport=ws"'
    assert contact.params["reg-id"] == "1"

    invite = (
        "INVITE sip:alice@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKinv1;rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:bob@127.0.0.1>;tag=b\r\nTo: <sip:alice@127.0.0.1>\r\n"
        "Call-ID: inv-1\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@127.0.0.1:40000>\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    (answer,) = net.deliver(invite)
    assert answer.msg.status == 299
    assert answer.msg.reason == ("ws sip:8eu4ph0u@127.0.0.1:51000;transport=ws "
                                 "sip:127.0.0.1:51000;transport=ws")
    message = invite.replace("INVITE", "MESSAGE").replace("z9hG4bKinv1", "z9hG4bKmsg1")
    (answer,) = net.deliver(message)
    assert answer.msg.status == 299  # no Allow in the REGISTER: every method allowed
    (answer,) = net.deliver(invite.replace("sip:alice@", "sip:carol@").replace("z9hG4bKinv1", "z9hG4bKx"))
    assert answer.msg.status == 404


def test_bad_register_gets_one_error_reply_shape() -> None:
    net, _ = script_net(SCRIPT, sockets=(PROXY, WS))
    bad = REGISTER.replace("Contact: <sip:8eu4ph0u@df7jal23ls0d.invalid;transport=ws>", "Contact: *")
    before = len(net.sent)
    net.engine.receive(bad.encode(), ReceiveInfo("ws", WS.ip, WS.port, "127.0.0.1", 51000, 4))
    replies = [s.msg for s in net.sent[before:]]
    # save()'s own 400, then the script's sl_reply_error(): the registrar's error is not the
    # core's, so it is OpenSIPS's 500 -- carrying the registrar's reply header (a reply lump)
    assert [r.status for r in replies] == [400, 500]
    assert all(r.header("P-Registrar-Error") for r in replies)


def test_tables_named_by_the_script_exist_before_the_first_register() -> None:
    # OpenSIPS registers save()/lookup() tables with usrloc at fixup time: ul_dump lists them
    import json

    from pysips.mi import mi_of

    text = SCRIPT.replace('if (!lookup("location", "m"))',
                          'if (!lookup("location", "m") && !registered("aliases"))')
    net, _ = script_net(text, sockets=(PROXY, WS))
    process = net.engine.process
    assert set(process.modules["usrloc"].domains) == {"location", "aliases"}
    mi = mi_of(process)
    answer = json.loads(mi.handle_text(json.dumps({"jsonrpc": "2.0", "method": "ul_dump", "id": 1})))
    names = [d["name"] for d in answer["result"]["Domains"]]
    assert sorted(names) == ["aliases", "location"]


def test_unimplemented_opensips_params_are_load_errors() -> None:
    import pytest

    from pysips.script.compile import load_script
    from pysips.script.errors import ScriptLoadError
    from pysips.script.parse import parse_text

    head = ('loadmodule "signaling.so"\nloadmodule "tm.so"\nloadmodule "usrloc.so"\n'
            'loadmodule "registrar.so"\n')
    cases = [
        ('modparam("registrar", "pn_enable", 1)', "pn_enable=1 is not supported"),
        ('modparam("registrar", "pn_providers", "apple")', "pn_providers is not supported"),
        ('modparam("usrloc", "contact_refresh_timer", 60)', "contact_refresh_timer is not supported"),
    ]
    for line, message in cases:
        with pytest.raises(ScriptLoadError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_script(parse_text(head + line + '\nroute { save("location"); }\n', "r.cfg"))
    # pn_enable 0 means what OpenSIPS means by it: no push notifications
    text = head + 'modparam("registrar", "pn_enable", 0)\nroute { save("location"); }\n'
    loaded = load_script(parse_text(text, "r.cfg"))
    assert "registrar" in loaded.modules


ATTR_SCRIPT = r'''
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "usrloc.so"
modparam("usrloc", "db_mode", 0)
loadmodule "registrar.so"
modparam("registrar", "attr_avp", "$avp(attr)")

route {
    if ($rm == "REGISTER") {
        $avp(attr) = $hdr(X-Attr);
        save("location");
        exit;
    }
    if (!lookup("location")) {
        sl_send_reply(404, "Not Found");
        exit;
    }
    $var(first) = $(msg.branch.uri[0]) + " " + $(msg.branch.attr(attr)[0]);
    sl_send_reply(299, "$var(first) $(msg.branch.uri[1]) $(msg.branch.attr(attr)[1])");
    exit;
}
'''


def test_attr_avp_is_saved_with_each_binding_and_given_back_per_branch_by_lookup() -> None:
    net, _ = script_net(ATTR_SCRIPT, sockets=(PROXY,))
    for n, (host, q, attr) in enumerate((("10.0.0.1", "1.0", "desk"), ("10.0.0.2", "0.5", "mobile"))):
        reg = (
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:5060;branch=z9hG4bKa{n}\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=r1\r\nTo: <sip:alice@127.0.0.1>\r\n"
            f"Call-ID: attr-{n}\r\nCSeq: 1 REGISTER\r\n"
            f"Contact: <sip:alice@{host}:5060>;q={q};expires=600\r\n"
            f"X-Attr: {attr}\r\nContent-Length: 0\r\n\r\n"
        )
        (ok,) = net.deliver(reg)
        assert ok.msg.status == 200
    invite = (
        "INVITE sip:alice@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKinv1;rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:bob@127.0.0.1>;tag=b\r\nTo: <sip:alice@127.0.0.1>\r\n"
        "Call-ID: inv-attr\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    (answer,) = net.deliver(invite)
    assert answer.msg.status == 299
    assert answer.msg.reason == "sip:alice@10.0.0.1:5060 desk sip:alice@10.0.0.2:5060 mobile"


UPSTREAM_SCRIPT = r'''
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "usrloc.so"
modparam("usrloc", "db_mode", 0)
loadmodule "registrar.so"
modparam("registrar", "mcontact_avp", "$avp(orig_ct)")
loadmodule "sipmsgops.so"
# the transaction's AVPs (mcontact_avp) are seen in onreply routes only in this mode, as in OpenSIPS
modparam("tm", "onreply_avp_mode", 1)

route {
    if ($rm == "REGISTER") {
        # what we relay upstream: a Contact of our own, remembered for the reply
        $avp(orig_ct) = "sip:alice-edge@127.0.0.1:5060";
        remove_hf("Contact");
        append_hf("Contact: <sip:alice-edge@127.0.0.1:5060>\r\n");
        t_on_reply("do_save");
        $du = "sip:127.0.0.2:5070";
        t_relay();
        exit;
    }
    if (!lookup("location")) {
        sl_send_reply(404, "Not Found");
        exit;
    }
    sl_send_reply(299, "$ru");
    exit;
}

onreply_route[do_save] {
    if ($rs == 200)
        save("location");
}
'''


def test_save_in_onreply_route_stores_what_the_upstream_registrar_accepted() -> None:
    net, _ = script_net(UPSTREAM_SCRIPT, sockets=(PROXY,))
    reg = (
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKup1\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=r1\r\nTo: <sip:alice@127.0.0.1>\r\n"
        "Call-ID: up-1\r\nCSeq: 1 REGISTER\r\n"
        "Contact: <sip:alice@10.0.0.9:5060>;expires=3600\r\nContent-Length: 0\r\n\r\n"
    )
    (relayed,) = net.deliver(reg, src=("10.0.0.9", 5060))
    upstream = relayed.msg
    assert relayed.dst.ip == "127.0.0.2" and upstream.method == "REGISTER"
    assert "Contact: <sip:alice-edge@127.0.0.1:5060>" in relayed.data.decode()
    # the upstream registrar grants 120 s (and lists another binding of the AOR)
    vias = "".join(f"Via: {v}\r\n" for v in upstream.headers("via"))
    ok = (
        "SIP/2.0 200 OK\r\n" + vias +
        "From: <sip:alice@127.0.0.1>;tag=r1\r\nTo: <sip:alice@127.0.0.1>;tag=up\r\n"
        "Call-ID: up-1\r\nCSeq: 1 REGISTER\r\n"
        "Contact: <sip:other@192.0.2.1>;expires=50, <sip:alice-edge@127.0.0.1:5060>;expires=120\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    (to_client,) = net.deliver(ok, src=("127.0.0.2", 5070))
    assert to_client.dst.ip == "10.0.0.9" and to_client.msg.status == 200
    # the client sees its own Contact URI again, with the upstream expiry
    assert "<sip:alice@10.0.0.9:5060>;expires=120" in to_client.data.decode()
    rec = net.engine.process.modules["usrloc"].domain("location").get("alice")  # use_domain 0
    assert rec is not None
    (binding,) = rec.contacts
    assert binding.uri == "sip:alice@10.0.0.9:5060"
    assert 110 < binding.expires - net.engine.wall_time() <= 120
    invite = (
        "INVITE sip:alice@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKinv9;rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:bob@127.0.0.1>;tag=b\r\nTo: <sip:alice@127.0.0.1>\r\n"
        "Call-ID: inv-up\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    (answer,) = net.deliver(invite)
    assert answer.msg.status == 299 and answer.msg.reason == "sip:alice@10.0.0.9:5060"
