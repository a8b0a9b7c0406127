"""registrar save(): real REGISTERs through save() over usrloc in memory, replies captured."""

from __future__ import annotations

from test_registrar_fakes import Fx, contacts_of, register

from pysips.core.replies import LAST_ERROR
from pysips.script.errors import FixupError
from pysips.script.exports import FixupContext
from pysips.script.flags import FlagRegistry


def test_register_stores_binding_and_lists_it_in_200() -> None:
    fx = Fx()
    ret, _ = fx.save(register(expires=600))
    assert ret == 1
    (reply,) = fx.core.replies()
    assert reply.status == 200
    cts = contacts_of(reply)
    assert cts == {"sip:alice@198.51.100.7:5060": {"expires": "600"}}
    rec = fx.ul.domain("location").get("alice@example.com")
    assert [c.uri for c in rec.contacts] == ["sip:alice@198.51.100.7:5060"]
    assert rec.contacts[0].callid == "reg-1" and rec.contacts[0].cseq == 1


def test_reregister_refreshes_and_second_contact_adds() -> None:
    fx = Fx()
    fx.save(register(expires=600))
    fx.core.advance(100)
    fx.save(register(expires=300, cseq=2))
    (reply,) = fx.core.replies()[-1:]
    assert contacts_of(reply)["sip:alice@198.51.100.7:5060"]["expires"] == "300"
    fx.save(register(contact="<sip:alice@198.51.100.8:5070>", call_id="reg-2", expires=900))
    reply = fx.core.replies()[-1]
    assert set(contacts_of(reply)) == {"sip:alice@198.51.100.7:5060", "sip:alice@198.51.100.8:5070"}


def test_expires_zero_removes_binding() -> None:
    fx = Fx()
    fx.save(register(expires=600))
    fx.save(register(expires=0, cseq=2))
    reply = fx.core.replies()[-1]
    assert reply.status == 200 and reply.header("contact") is None
    assert fx.ul.domain("location").get("alice@example.com") is None


def test_contact_param_expires_wins_over_header() -> None:
    fx = Fx()
    fx.save(register(contact="<sip:alice@198.51.100.7>;expires=120", expires=3000))
    assert contacts_of(fx.core.replies()[0])["sip:alice@198.51.100.7"]["expires"] == "120"


def test_star_removes_everything_and_needs_expires_zero() -> None:
    fx = Fx()
    fx.save(register(expires=600))
    fx.save(register(contact="<sip:alice@198.51.100.9>", call_id="reg-2", expires=600))
    ret, ctx = fx.save(register(contact="*", cseq=5, expires=5))
    assert ret == -2
    bad = fx.core.replies()[-1]
    assert bad.status == 400
    assert bad.header("P-Registrar-Error") == "* used in contact and expires is not zero"
    assert LAST_ERROR not in ctx.extra  # the registrar's error stays its own (sl_reply_error: 500)
    ret, _ = fx.save(register(contact="*", cseq=6, expires=0))
    assert ret == 1
    assert fx.core.replies()[-1].status == 200
    assert fx.ul.domain("location").get("alice@example.com") is None


def test_valueless_expires_param_defers_to_header_bad_one_to_default() -> None:
    fx = Fx(reg={"default_expires": 1800})
    fx.save(register(contact="<sip:alice@198.51.100.7>;expires", expires=300))
    assert contacts_of(fx.core.replies()[-1])["sip:alice@198.51.100.7"]["expires"] == "300"
    fx.save(register(contact="<sip:alice@198.51.100.7>;expires=abc", expires=500, cseq=3))
    assert contacts_of(fx.core.replies()[-1])["sip:alice@198.51.100.7"]["expires"] == "1800"


def test_star_without_expires_header_is_400_and_keeps_bindings() -> None:
    # a missing (or unparsable) Expires is the default expiry, not zero: OpenSIPS answers 400
    fx = Fx()
    fx.save(register(expires=600))
    for extra in ("", "Expires: soon\r\n"):
        ret, _ = fx.save(register(contact="*", cseq=7, extra=extra))
        assert ret == -2
        bad = fx.core.replies()[-1]
        assert bad.status == 400
        assert bad.header("P-Registrar-Error") == "* used in contact and expires is not zero"
    assert fx.ul.domain("location").get("alice@example.com") is not None


def test_star_with_other_contacts_is_400() -> None:
    fx = Fx()
    ret, _ = fx.save(register(contacts=["*", "<sip:alice@198.51.100.7>"], expires=0))
    assert ret == -2
    assert fx.core.replies()[-1].header("P-Registrar-Error") == "* used in contact and more than 1 contact"


def test_contact_longer_than_max_contact_len_is_400_and_star_rules_come_first() -> None:
    fx = Fx(reg={"max_contact_len": 30})
    long_contact = "<sip:alice@198.51.100.7:5060;transport=udp>"
    ret, _ = fx.save(register(contacts=["<sip:alice@198.51.100.8>", long_contact], expires=600))
    assert ret == -2
    bad = fx.core.replies()[-1]
    assert bad.status == 400 and bad.header("P-Registrar-Error") == "Contact/received too long"
    assert fx.ul.domain("location").get("alice@example.com") is None
    ret, _ = fx.save(register(contacts=["*", long_contact], expires=0, cseq=2))
    assert fx.core.replies()[-1].header("P-Registrar-Error") == "* used in contact and more than 1 contact"
    ret, _ = fx.save(register(contact="<sip:alice@198.51.100.8>", expires=600, cseq=3))
    assert ret == 1 and fx.core.replies()[-1].status == 200


def test_min_and_max_expires_clamp_like_opensips() -> None:
    fx = Fx(reg={"min_expires": 60, "max_expires": 1800})
    fx.save(register(expires=10))
    assert contacts_of(fx.core.replies()[-1])["sip:alice@198.51.100.7:5060"]["expires"] == "60"
    fx.save(register(expires=99999, cseq=2))
    assert contacts_of(fx.core.replies()[-1])["sip:alice@198.51.100.7:5060"]["expires"] == "1800"


def test_no_expires_anywhere_uses_default_expires() -> None:
    fx = Fx(reg={"default_expires": 1234})
    fx.save(register())
    assert contacts_of(fx.core.replies()[-1])["sip:alice@198.51.100.7:5060"]["expires"] == "1234"


def test_423_interval_too_brief_when_asked() -> None:
    fx = Fx(reg={"min_expires": 300, "reject_brief_expires": 1})
    ret, _ = fx.save(register(expires=30))
    assert ret == -2
    reply = fx.core.replies()[-1]
    assert (reply.status, reply.reason) == (423, "Interval Too Brief")
    assert reply.header("Min-Expires") == "300"
    assert fx.ul.domain("location").get("alice@example.com") is None
    # save() flags override the module parameter
    ret, _ = fx.save(register(expires=30), "min-expires=20")
    assert ret == 1


def test_out_of_order_cseq_rejected() -> None:
    fx = Fx(ul={"cseq_delay": 0})
    fx.save(register(cseq=10, expires=600))
    ret, _ = fx.save(register(cseq=5, expires=600))
    assert ret == -2
    reply = fx.core.replies()[-1]
    assert reply.status == 400 and reply.header("P-Registrar-Error") == "Invalid CSeq number"
    assert fx.ul.domain("location").get("alice@example.com").contacts[0].cseq == 10


def test_replayed_cseq_strict_mode() -> None:
    # allow_dup_cseq=0: the same Call-ID and CSeq is a retransmission within cseq_delay (answered,
    # nothing changes) and out of order after it
    fx = Fx(reg={"allow_dup_cseq": 0}, ul={"cseq_delay": 20})
    fx.save(register(cseq=3, expires=600))
    ret, _ = fx.save(register(cseq=3, expires=100))
    assert ret == 1
    assert contacts_of(fx.core.replies()[-1])["sip:alice@198.51.100.7:5060"]["expires"] == "600"
    fx.core.advance(30)
    ret, _ = fx.save(register(cseq=3, expires=100))
    assert ret == -2 and fx.core.replies()[-1].status == 400


def test_same_cseq_accepted_by_default() -> None:
    fx = Fx()
    fx.save(register(cseq=3, expires=600))
    ret, _ = fx.save(register(cseq=3, expires=100))
    assert ret == 1
    assert contacts_of(fx.core.replies()[-1])["sip:alice@198.51.100.7:5060"]["expires"] == "100"


def test_new_call_id_with_lower_cseq_is_fine() -> None:
    fx = Fx()
    fx.save(register(cseq=50, expires=600))
    ret, _ = fx.save(register(cseq=1, call_id="other", expires=600))
    assert ret == 1


def test_max_contacts_503_and_force_registration() -> None:
    fx = Fx(reg={"max_contacts": 2})
    for i in range(2):
        fx.save(register(contact=f"<sip:alice@198.51.100.{10 + i}>", call_id=f"c{i}", expires=600))
    ret, _ = fx.save(register(contact="<sip:alice@198.51.100.20>", call_id="c9", expires=600))
    assert ret == -2
    reply = fx.core.replies()[-1]
    assert reply.status == 503 and reply.header("P-Registrar-Error") == "Too many registered contacts"
    # refreshing an existing one is still fine
    fx.core.advance(5)
    assert fx.save(register(contact="<sip:alice@198.51.100.10>", call_id="c0", cseq=2, expires=600))[0] == 1
    ret, _ = fx.save(register(contact="<sip:alice@198.51.100.20>", call_id="c9", expires=600),
                     "force-registration")
    assert ret == 1
    uris = {c.uri for c in fx.ul.domain("location").get("alice@example.com").contacts}
    assert uris == {"sip:alice@198.51.100.10", "sip:alice@198.51.100.20"}  # the oldest went


def test_force_registration_replacing_the_only_binding_keeps_the_aor() -> None:
    """max_contacts 1: the new binding replaces the only one; dropping that one empties the record
    on the way, and the record must still be in the table afterwards (SIPssert registration/08)."""
    fx = Fx(reg={"max_contacts": 1})
    fx.save(register(contact="<sip:alice@198.51.100.10>", call_id="c0", expires=600))
    fx.core.advance(5)
    ret, _ = fx.save(register(contact="<sip:alice@198.51.100.20>", call_id="c1", expires=600),
                     "force-registration")
    assert ret == 1
    rec = fx.ul.domain("location").get("alice@example.com")
    assert rec is not None and [c.uri for c in rec.contacts] == ["sip:alice@198.51.100.20"]


def test_max_contacts_2x_letter_flags() -> None:
    fx = Fx()
    fx.save(register(contact="<sip:alice@198.51.100.10>", call_id="c0", expires=600), "c1")
    ret, _ = fx.save(register(contact="<sip:alice@198.51.100.11>", call_id="c1", expires=600), "c1")
    assert ret == -2 and fx.core.replies()[-1].status == 503


def test_no_reply_flag_sends_nothing() -> None:
    fx = Fx()
    assert fx.save(register(expires=600), "no-reply")[0] == 1
    assert fx.save(register(cseq=2, expires=600), "r")[0] == 1
    assert fx.core.replies() == []


def test_instance_and_reg_id_echoed_and_matched() -> None:
    fx = Fx()
    inst = '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'
    fx.save(register(contact=f"<sip:alice@198.51.100.7:40001;transport=ws>;+sip.instance={inst};reg-id=1",
                     expires=600))
    params = contacts_of(fx.core.replies()[-1])["sip:alice@198.51.100.7:40001;transport=ws"]
    assert params["+sip.instance"] == inst and params["reg-id"] == "1"
    # same instance and reg-id from a new source port: replaces the flow (RFC 5626 section 6)
    fx.save(register(contact=f"<sip:alice@198.51.100.7:40002;transport=ws>;+sip.instance={inst};reg-id=1",
                     cseq=2, expires=600))
    assert list(contacts_of(fx.core.replies()[-1])) == ["sip:alice@198.51.100.7:40002;transport=ws"]


def test_received_avp_path_bflags_socket_methods_stored() -> None:
    fx = Fx(reg={"received_avp": "$avp(rcv)"})
    ctx_data = register(expires=600, extra="Allow: INVITE, ACK, BYE\r\nUser-Agent: phone/1.0\r\n"
                        "Path: <sip:edge.example.com;lr;received=sip:10.0.0.1:5066>\r\nSupported: path")
    ctx = fx.ctx(ctx_data)
    ctx.avps["rcv"] = ["sip:198.51.100.7:40000"]
    ctx.bflags = 1 << fx.ws_bit
    from test_registrar_fakes import fn, module

    fixup = module("registrar").functions_by_name["save"].args[1].fixup
    assert fixup is not None
    flags = fixup("path-lazy", FixupContext(FlagRegistry(), {}))
    assert fn("registrar", "save")(ctx, "location", flags, None) == 1
    reply = fx.core.replies()[-1]
    assert reply.header("Path") == "<sip:edge.example.com;lr;received=sip:10.0.0.1:5066>"
    assert contacts_of(reply)["sip:alice@198.51.100.7:5060"]["received"] == '"sip:198.51.100.7:40000"'
    c = fx.ul.domain("location").get("alice@example.com").contacts[0]
    assert c.received == "sip:198.51.100.7:40000"
    assert c.path == "<sip:edge.example.com;lr;received=sip:10.0.0.1:5066>"
    assert c.cflags == 1 << fx.ws_bit
    assert c.socket == "udp:192.0.2.1:5060"
    assert c.user_agent == "phone/1.0"
    assert c.allows("INVITE") and not c.allows("MESSAGE")


def test_path_strict_without_support_is_420() -> None:
    fx = Fx()
    ret, _ = fx.save(register(expires=600, extra="Path: <sip:edge.example.com;lr>"), "p2")
    assert ret == -2
    reply = fx.core.replies()[-1]
    assert reply.status == 420 and reply.header("Unsupported") == "path"


def test_bad_contact_and_bad_aor_are_400() -> None:
    fx = Fx()
    assert fx.save(register(contact="<sip:alice@198.51.100.7", expires=60))[0] == -2
    assert fx.core.replies()[-1].header("P-Registrar-Error") == "Contact parse error"
    assert fx.save(register(user="", expires=60).replace("<sip:@", "<sip:"))[0] == -2
    assert fx.core.replies()[-1].header("P-Registrar-Error") == "Error while parsing AOR"


def test_bad_q_is_400_and_q_orders_bindings() -> None:
    fx = Fx()
    assert fx.save(register(contact="<sip:alice@198.51.100.7>;q=7", expires=60))[0] == -2
    assert fx.core.replies()[-1].header("P-Registrar-Error") == "Invalid q param in contact"
    fx.save(register(contacts=["<sip:alice@198.51.100.1>;q=0.1", "<sip:alice@198.51.100.2>;q=0.9"],
                     expires=60, cseq=2))
    reply = fx.core.replies()[-1]
    assert list(contacts_of(reply)) == ["sip:alice@198.51.100.2", "sip:alice@198.51.100.1"]
    assert contacts_of(reply)["sip:alice@198.51.100.2"]["q"] == "0.9"


def test_register_without_contact_lists_bindings() -> None:
    fx = Fx()
    fx.save(register(expires=600))
    fx.core.advance(10)
    fx.save(register(contacts=[], cseq=2))
    assert contacts_of(fx.core.replies()[-1]) == {"sip:alice@198.51.100.7:5060": {"expires": "590"}}


def test_custom_aor_argument_and_use_domain_off() -> None:
    fx = Fx(ul={"use_domain": 0})
    ret, _ = fx.save(register(expires=600), "", "sip:Carol@other.example.org")
    assert ret == 1
    assert fx.ul.domain("location").get("Carol") is not None


def test_case_insensitive_aor() -> None:
    fx = Fx(reg={"case_sensitive": 0})
    fx.save(register(user="Alice", expires=600))
    assert fx.ul.domain("location").get("alice@example.com") is not None


def test_unknown_flag_is_a_load_error() -> None:
    import pytest
    from test_registrar_fakes import module

    from pysips.script.ast import NOWHERE
    from pysips.script.exports import FixupContext
    from pysips.script.flags import FlagRegistry

    fix = module("registrar").functions_by_name["save"].args[1].fixup
    assert fix is not None
    fctx = FixupContext(FlagRegistry(), {}, NOWHERE)
    with pytest.raises(FixupError, match="bogus"):
        fix("memory-only, bogus", fctx)
    with pytest.raises(FixupError, match="unknown flag 'z'"):
        fix("mz", fctx)


def test_200_lists_the_bindings_byte_for_byte() -> None:
    # OpenSIPS's build_contact(): <uri>, q when set, expires, received (received_param), instance,
    # reg-id; bindings by q, highest first, unspecified q last; a removed one is not listed
    fx = Fx(reg={"received_param": "rcv"})
    fx.save(register(contacts=[
        '<sip:alice@198.51.100.1>;q=0.25;received="sip:203.0.113.9:5062"',
        '<sip:alice@198.51.100.2>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1',
        "<sip:alice@198.51.100.3>;q=1;expires=0",
        "<sip:alice@198.51.100.4>;q=0",
    ], expires=600))
    assert fx.core.replies()[-1].header("contact") == (
        '<sip:alice@198.51.100.1>;q=0.25;expires=600;rcv="sip:203.0.113.9:5062", '
        "<sip:alice@198.51.100.4>;q=0;expires=600, "
        '<sip:alice@198.51.100.2>;expires=600;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'
        ";reg-id=1"
    )


def test_only_request_contacts_lists_just_those() -> None:
    fx = Fx()
    fx.save(register(contact="<sip:alice@198.51.100.1>", expires=600))
    fx.core.advance(100)
    second = register(contact="<sip:alice@198.51.100.2>", call_id="reg-2", expires=300)
    fx.save(second, "only-request-contacts")
    assert fx.core.replies()[-1].header("contact") == "<sip:alice@198.51.100.2>;expires=300"
    fx.save(register(contact="<sip:alice@198.51.100.3>", call_id="reg-3", expires=300))
    listed = contacts_of(fx.core.replies()[-1])
    assert set(listed) == {"sip:alice@198.51.100.1", "sip:alice@198.51.100.2", "sip:alice@198.51.100.3"}
    assert listed["sip:alice@198.51.100.1"]["expires"] == "500"
