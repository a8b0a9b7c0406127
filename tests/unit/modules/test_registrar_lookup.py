"""registrar lookup() and friends: R-URI/$du/bflags/socket from the best binding, the rest as branches."""

from __future__ import annotations

from test_registrar_fakes import PROXY, PROXY_WS, Fx, fn, invite, register


def test_not_registered_is_minus_1() -> None:
    fx = Fx()
    ret, ctx = fx.lookup(invite())
    assert ret == -1 and ctx.new_ruri is None and ctx.branches == []


def test_one_contact_rewrites_ruri() -> None:
    fx = Fx()
    fx.save(register(expires=600))
    ret, ctx = fx.lookup(invite())
    assert ret == 1
    assert ctx.new_ruri == "sip:alice@198.51.100.7:5060"
    assert ctx.dst_uri is None and ctx.branches == []
    assert ctx.force_socket == PROXY


def test_several_contacts_fork_by_q() -> None:
    fx = Fx()
    fx.save(register(contacts=["<sip:alice@198.51.100.1>;q=0.2", "<sip:alice@198.51.100.2>;q=0.8",
                               "<sip:alice@198.51.100.3>;q=0.5"], expires=600))
    ret, ctx = fx.lookup(invite())
    assert ret == 1
    assert ctx.new_ruri == "sip:alice@198.51.100.2"
    assert [b["uri"] for b in ctx.branches] == ["sip:alice@198.51.100.3", "sip:alice@198.51.100.1"]
    assert [b["q"] for b in ctx.branches] == [0.5, 0.2]


def test_no_branches_and_to_branches_only() -> None:
    fx = Fx()
    fx.save(register(contacts=["<sip:alice@198.51.100.1>;q=0.2", "<sip:alice@198.51.100.2>;q=0.8"],
                     expires=600))
    ret, ctx = fx.lookup(invite(), "no-branches")
    assert ret == 1 and ctx.new_ruri == "sip:alice@198.51.100.2" and ctx.branches == []
    ret, ctx = fx.lookup(invite(), "b")
    assert ret == 1 and ctx.branches == []
    ret, ctx = fx.lookup(invite(), "to-branches-only")
    assert ret == 1 and ctx.new_ruri is None
    assert [b["uri"] for b in ctx.branches] == ["sip:alice@198.51.100.2", "sip:alice@198.51.100.1"]


def test_method_filtering() -> None:
    fx = Fx()
    fx.save(register(expires=600, extra="Allow: INVITE, ACK, CANCEL, BYE"))
    assert fx.lookup(invite(method="MESSAGE"), "m")[0] == -2
    assert fx.lookup(invite(method="MESSAGE"), "method-filtering")[0] == -2
    assert fx.lookup(invite(method="MESSAGE"))[0] == 1  # no filtering asked
    assert fx.lookup(invite(method="INVITE"), "m")[0] == 1


def test_method_filtering_keeps_the_capable_contact() -> None:
    fx = Fx()
    fx.save(register(contact="<sip:alice@198.51.100.1>;q=0.9", expires=600, extra="Allow: INVITE"))
    fx.save(register(contact="<sip:alice@198.51.100.2>;q=0.1", call_id="r2", expires=600))
    ret, ctx = fx.lookup(invite(method="MESSAGE"), "m")
    assert ret == 1 and ctx.new_ruri == "sip:alice@198.51.100.2" and ctx.branches == []


def test_bflags_restored_and_received_becomes_du() -> None:
    fx = Fx(reg={"received_avp": "$avp(rcv)"})
    ctx = fx.ctx(register(contact="<sip:alice@df7jal23ls0d.invalid;transport=ws>", expires=600),
                 src=("198.51.100.7", 40000), proto="ws", conn_id=7)
    ctx.avps["rcv"] = ["sip:198.51.100.7:40000;transport=ws"]
    ctx.bflags = (1 << fx.ws_bit) | (1 << fx.nat_bit)
    assert fn("registrar", "save")(ctx, "location", None, None) == 1
    ret, lctx = fx.lookup(invite())
    assert ret == 1
    assert lctx.new_ruri == "sip:alice@df7jal23ls0d.invalid;transport=ws"
    assert lctx.dst_uri == "sip:198.51.100.7:40000;transport=ws"
    assert lctx.bflags == (1 << fx.ws_bit) | (1 << fx.nat_bit)
    assert lctx.force_socket == PROXY_WS


def test_path_becomes_route_and_du() -> None:
    fx = Fx()
    fx.save(register(expires=600, extra="Path: <sip:edge1.example.com;lr>, <sip:edge2.example.com;lr>"),
            "path-off")
    ret, ctx = fx.lookup(invite())
    assert ret == 1
    assert ctx.dst_uri == "sip:edge1.example.com;lr"
    out = ctx.msg.serialize().decode()
    assert out.index("Route: <sip:edge1.example.com;lr>") < out.index("Route: <sip:edge2.example.com;lr>")


def test_branch_carries_path_received_bflags() -> None:
    fx = Fx(reg={"received_avp": "$avp(rcv)"})
    fx.save(register(contact="<sip:alice@198.51.100.1>;q=0.9", expires=600))
    ctx = fx.ctx(register(contact="<sip:alice@10.1.1.1:5062>;q=0.1", call_id="r2", expires=600))
    ctx.avps["rcv"] = ["sip:198.51.100.9:6000"]
    ctx.bflags = 1 << fx.nat_bit
    fn("registrar", "save")(ctx, "location", None, None)
    ret, lctx = fx.lookup(invite())
    assert ret == 1 and lctx.bflags == 0
    (branch,) = lctx.branches
    assert branch["uri"] == "sip:alice@10.1.1.1:5062"
    assert branch["dst_uri"] == "sip:198.51.100.9:6000"
    assert branch["bflags"] == 1 << fx.nat_bit
    assert branch["force_socket"] == PROXY


def test_expired_contacts_are_skipped_before_the_timer() -> None:
    fx = Fx(reg={"min_expires": 10})
    fx.save(register(expires=30))
    fx.core.wall += 31  # the clock moves, the timer has not run
    assert fx.lookup(invite())[0] == -1


def test_ua_filtering() -> None:
    fx = Fx()
    fx.save(register(contact="<sip:alice@198.51.100.1>", expires=600, extra="User-Agent: DeskPhone 5"))
    fx.save(register(contact="<sip:alice@198.51.100.2>", call_id="x", expires=600,
                     extra="User-Agent: SoftClient"))
    ret, ctx = fx.lookup(invite(), "ua-filtering=/deskphone/i")
    assert ret == 1 and ctx.new_ruri == "sip:alice@198.51.100.1" and ctx.branches == []


def test_branch_flag_expands_aor_branches() -> None:
    fx = Fx()
    fx.save(register(user="bob", contact="<sip:bob@198.51.100.50>", expires=600))
    fx.save(register(expires=600))
    ctx = fx.ctx(invite())
    ctx.branches.append({"uri": "sip:bob@example.com", "dst_uri": None, "bflags": 0, "path": None,
                         "force_socket": None})
    from test_registrar_fakes import module

    fix = module("registrar").functions_by_name["lookup"].args[1].fixup
    assert fn("registrar", "lookup")(ctx, "location", fix("branch", None), None) == 1  # type: ignore[misc]
    assert ctx.new_ruri == "sip:alice@198.51.100.7:5060"
    assert [b["uri"] for b in ctx.branches] == ["sip:bob@198.51.100.50"]


def test_aor_argument_and_registered_functions() -> None:
    fx = Fx()
    fx.save(register(expires=600))
    ret, ctx = fx.lookup(invite(ruri="sip:nobody@example.com"), "", "sip:alice@example.com")
    assert ret == 1 and ctx.new_ruri == "sip:alice@198.51.100.7:5060"
    inv = fx.ctx(invite())
    assert fn("registrar", "registered")(inv, "location", None, None) == 1
    assert fn("registrar", "registered")(inv, "location", "sip:carol@example.com", None) == -1
    assert fn("registrar", "registered")(inv, "location", None, "reg-1") == 1
    assert fn("registrar", "registered")(inv, "location", None, "other") == -1
    # is_registered defaults to From for non-REGISTER: bob is not registered
    assert fn("registrar", "is_registered")(inv, "location", None) == -1
    assert fn("registrar", "is_registered")(fx.ctx(register(cseq=9)), "location", None) == 1
    assert fn("registrar", "is_contact_registered")(
        inv, "location", "sip:alice@example.com", "sip:alice@198.51.100.7:5060", None) == 1
    assert fn("registrar", "is_contact_registered")(
        inv, "location", "sip:alice@example.com", "sip:alice@198.51.100.99", None) == -1


def test_remove_by_contact_and_next_hop() -> None:
    fx = Fx()
    fx.save(register(contacts=["<sip:alice@198.51.100.1>", "<sip:alice@198.51.100.2>",
                               "<sip:alice@198.51.100.3>"], expires=600))
    rm = fn("registrar", "remove")
    ctx = fx.ctx(invite())
    assert rm(ctx, "location", "sip:alice@example.com", "sip:alice@198.51.100.1", None, None) == 1
    assert rm(ctx, "location", "sip:alice@example.com", None, "198.51.100.2", None) == 1
    assert rm(ctx, "location", "sip:alice@example.com", None, "198.51.100.2", None) == -1
    rec = fx.ul.domain("location").get("alice@example.com")
    assert [c.uri for c in rec.contacts] == ["sip:alice@198.51.100.3"]
    assert rm(ctx, "location", "sip:alice@example.com", None, None, None) == 1
    assert fx.ul.domain("location").get("alice@example.com") is None


def test_remove_ip_port() -> None:
    fx = Fx(reg={"received_avp": "$avp(rcv)"})
    ctx = fx.ctx(register(contact="<sip:alice@10.0.0.5>", expires=600))
    ctx.avps["rcv"] = ["sip:198.51.100.7:40000"]
    fn("registrar", "save")(ctx, "location", None, None)
    fx.save(register(contact="<sip:alice@198.51.100.7:5060>", call_id="x", expires=600))
    rm = fn("registrar", "remove_ip_port")
    assert rm(fx.ctx(invite()), "198.51.100.7", 40000, "location", None) == 1
    assert [c.uri for c in fx.ul.domain("location").get("alice@example.com").contacts] == [
        "sip:alice@198.51.100.7:5060"]
    assert rm(fx.ctx(invite()), "198.51.100.7", 40000, "location", "sip:alice@example.com") == -1


def test_tcp_persistent_flag_asks_to_keep_the_connection() -> None:
    fx = Fx(reg={"tcp_persistent_flag": 3})
    ctx = fx.ctx(register(contact="<sip:alice@198.51.100.7:5070;transport=tcp>", expires=600),
                 proto="tcp", conn_id=21)
    ctx.flags = 1 << 3
    assert fn("registrar", "save")(ctx, "location", None, None) == 1
    assert ctx.extra["core.conn_lifetime"] == (21, 610)
    plain = fx.ctx(register(contact="<sip:bob@198.51.100.7:5070;transport=tcp>", user="bob", expires=600),
                   proto="tcp", conn_id=22)
    fn("registrar", "save")(plain, "location", None, None)
    assert "core.conn_lifetime" not in plain.extra


def test_invalid_contact_host_without_received_is_reached_at_its_source() -> None:
    # plain save() of a browser (no fix_nated_*): the `.invalid` host can never be resolved, so
    # the binding routes to the address and connection the REGISTER came from (pysips addition)
    fx = Fx()
    ret, _ = fx.save(register(contact="<sip:bob@xyz.invalid;transport=ws>", expires=600),
                     src=("198.51.100.7", 40000), proto="ws", conn_id=7)
    assert ret == 1
    binding = fx.ul.domain("location").get("alice@example.com").contacts[0]
    assert binding.received == "sip:198.51.100.7:40000;transport=ws" and binding.conn_id == 7
    ret, lctx = fx.lookup(invite())
    assert ret == 1
    assert lctx.new_ruri == "sip:bob@xyz.invalid;transport=ws"
    assert lctx.dst_uri == "sip:198.51.100.7:40000;transport=ws"


def test_resolvable_contact_or_path_gets_no_implicit_received() -> None:
    fx = Fx()
    fx.save(register(contact="<sip:bob@198.51.100.9:5080;transport=tcp>", expires=600),
            src=("198.51.100.7", 40000), proto="tcp", conn_id=3)
    assert fx.ul.domain("location").get("alice@example.com").contacts[0].received is None
    fx.save(register(user="carol", contact="<sip:c@abc.invalid;transport=ws>", expires=600,
                     extra="Path: <sip:edge.example.com;lr>\r\nSupported: path"),
            "path-lazy", src=("198.51.100.8", 5060))
    assert fx.ul.domain("location").get("carol@example.com").contacts[0].received is None
