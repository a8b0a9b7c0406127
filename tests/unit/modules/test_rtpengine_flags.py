"""rtpengine flag strings -> NG dictionaries (OpenSIPS's translation), the tag rules of offer,
answer and delete, per-branch via-branch, and the rtpengine_sock parameter."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from pysips.core.services import TRANSACTIONS
from pysips.script.context import MsgContext, ProcessState, RouteType
from pysips.script.errors import FixupError
from pysips.script.loader import ModuleFinder
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo


def _sub(name: str) -> Any:
    assert ModuleFinder().find("rtpengine") is not None
    return importlib.import_module(f"pysips_modules.rtpengine.{name}")


FL = _sub("flags")
CMD = _sub("command")
SETS = _sub("sets")
FUNCS = _sub("functions")
RUNTIME = _sub("runtime")

SDP = "v=0\r\n"
INVITE_FACTS = CMD.MsgFacts(True, "call-1", "ft", None, "10.0.0.1")
REPLY_FACTS = CMD.MsgFacts(False, "call-1", "ft", "tt", "10.0.0.2")
COMMON = {"call-id": "call-1", "received-from": ["IP4", "10.0.0.1"], "from-tag": "ft"}


def offer(flags: str, facts: Any = INVITE_FACTS, via: str | None = None) -> dict[str, Any]:
    parsed = FL.parse_flags(flags)
    op = CMD.effective_op("offer", parsed)
    result: dict[str, Any] = CMD.build_command(op, parsed, facts, SDP, via)
    return result


# Each flag string of the seed (and the measured Chromium ones) -> the exact dictionary.
SEED = [
    (
        "ICE=force-relay DTLS=passive",
        {"ICE": "force-relay", "DTLS": "passive"},
    ),
    (
        "RTP/AVP replace-session-connection replace-origin ICE=remove",
        {"ICE": "remove", "replace": ["session-connection", "origin"], "transport-protocol": "RTP/AVP"},
    ),
    (
        "UDP/TLS/RTP/SAVPF ICE=force",
        {"ICE": "force", "transport-protocol": "UDP/TLS/RTP/SAVPF"},
    ),
    (
        "UDP/TLS/RTP/SAVPF ICE=force rtcp-mux-offer SDES-off generate-mid",
        {
            "ICE": "force",
            "flags": ["generate-mid"],
            "transport-protocol": "UDP/TLS/RTP/SAVPF",
            "rtcp-mux": ["offer"],
            "SDES": ["off"],
        },
    ),
    (
        "RTP/AVP replace-session-connection replace-origin ICE=remove rtcp-mux-demux",
        {
            "ICE": "remove",
            "replace": ["session-connection", "origin"],
            "transport-protocol": "RTP/AVP",
            "rtcp-mux": ["demux"],
        },
    ),
]


@pytest.mark.parametrize(("flags", "expected"), SEED)
def test_seed_flags_in_an_invite_offer(flags: str, expected: dict[str, Any]) -> None:
    assert offer(flags) == {"sdp": SDP, **expected, **COMMON, "command": "offer"}


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("RTP", {"transport-protocol": "RTP/AVP"}),
        ("SRTP", {"transport-protocol": "RTP/SAVP"}),
        ("SRTP AVPF", {"transport-protocol": "RTP/SAVPF"}),
        ("AVPF", {"transport-protocol": "RTP/AVPF"}),
        ("RTP/SAVP", {"transport-protocol": "RTP/SAVP"}),
        ("RTP/AVPF", {"transport-protocol": "RTP/AVPF"}),
        ("RTP/SAVPF", {"transport-protocol": "RTP/SAVPF"}),
        ("UDP/TLS/RTP/SAVP", {"transport-protocol": "UDP/TLS/RTP/SAVP"}),
        ("RTP/SAVPF RTP", {"transport-protocol": "RTP/AVPF"}),  # RTP clears the SRTP bit
        (
            "replace-username replace-SDP-version replace-zero-address replace-session-name",
            {"replace": ["username", "SDP version", "zero address", "session name"]},
        ),
        (
            "rtcp-mux-reject rtcp-mux-accept rtcp-mux-require",
            {"rtcp-mux": ["reject", "accept", "require"]},
        ),
        ("in-iface=priv out-iface=pub", {"direction": ["priv", "pub"]}),
        ("internal external", {"direction": ["internal", "external"]}),
        ("direction=priv direction=pub", {"direction": ["priv", "pub"]}),
        ("address-family=IP6", {"address family": "IP6"}),
        ("repacketize=30", {"repacketize": 30}),
        ("delete-delay=5", {"delete-delay": 5}),
        ("trust-address symmetric asymmetric", {"flags": ["trust-address", "symmetric", "asymmetric"]}),
        ("some-future-flag=x42 another-word", {"some-future-flag": "x42", "flags": ["another-word"]}),
        ("media-address=192.0.2.1", {"media-address": "192.0.2.1"}),
        ("record-call=yes", {"record-call": "yes"}),
        ("sdp-media-remove=[video message image]", {"sdp-media-remove": ["video", "message", "image"]}),
        (
            "codec=[transcode=[PCMA PCMU] accept=[AMR-WB AMR] strip=[EVS]]",
            {"codec": {"transcode": ["PCMA", "PCMU"], "accept": ["AMR-WB", "AMR"], "strip": ["EVS"]}},
        ),
        (
            "sdp-attr=[audio=[add=[fmtp:96..useinbandfec--1]]]",
            {"sdp-attr": {"audio": {"add": ["fmtp:96 useinbandfec=1"]}}},
        ),
        ("  ICE=force   DTLS=off  ", {"ICE": "force", "DTLS": "off"}),
    ],
)
def test_flag_translation(flags: str, expected: dict[str, Any]) -> None:
    assert offer(flags) == {"sdp": SDP, **expected, **COMMON, "command": "offer"}


def test_overrides_of_call_id_and_tags() -> None:
    cmd = offer("call-id=other from-tag=f2 to-tag=t2")
    assert (cmd["call-id"], cmd["from-tag"], cmd["to-tag"]) == ("other", "f2", "t2")
    assert offer("received-from=192.0.2.9")["received-from"] == ["IP4", "192.0.2.9"]
    assert offer("via-branch-param=abc", via="abc")["via-branch"] == "abc"


def test_force_answer_turns_an_offer_into_an_answer() -> None:
    assert offer("force-answer", REPLY_FACTS)["command"] == "answer"
    parsed = FL.parse_flags("force-answer")
    with pytest.raises(CMD.CommandError):
        CMD.effective_op("delete", parsed)


@pytest.mark.parametrize(
    "flags",
    [
        "via-branch",
        "via-branch=7",
        "call-id",
        "from-tag",
        "in-iface=a",
        "out-iface=b",
        "address-family=IP5",
        "repacketize=0",
        "repacketize=x",
        "delete-delay=soon",
        "media-address",
        "codec=[transcode=[PCMA]",
        "x=[" + "[" * 10 + "]" * 10 + "]",
    ],
)
def test_refused_flags(flags: str) -> None:
    with pytest.raises(FixupError):
        FL.parse_flags(flags)


def test_parse_cache_returns_the_same_object() -> None:
    assert FL.parse_cached("ICE=force") is FL.parse_cached("ICE=force")


# ------------------------------------------------------------------------------------ tag rules


def _tags(op: str, facts: Any, flags: str = "") -> tuple[Any, Any]:
    parsed = FL.parse_flags(flags)
    cmd = CMD.build_command(op, parsed, facts, SDP if op in ("offer", "answer") else None)
    return cmd.get("from-tag"), cmd.get("to-tag")


def test_tags_follow_the_sdp_sender() -> None:
    ack = CMD.MsgFacts(True, "c", "ft", "tt")
    # offer in the INVITE, answer in the 200 OK: From tag is the offerer
    assert _tags("offer", INVITE_FACTS) == ("ft", None)
    assert _tags("answer", REPLY_FACTS) == ("ft", "tt")
    # late SDP: offer in the 200 OK, answer in the ACK: the tags swap
    assert _tags("offer", REPLY_FACTS) == ("tt", "ft")
    assert _tags("answer", ack) == ("tt", "ft")
    # delete: From tag only, unless to-tag is asked for
    assert _tags("delete", ack) == ("ft", None)
    assert _tags("delete", ack, "to-tag") == ("ft", "tt")
    assert _tags("delete", REPLY_FACTS) == ("ft", None)
    # re-INVITE from the callee: its own From tag first
    assert _tags("offer", CMD.MsgFacts(True, "c", "tt", "ft")) == ("tt", "ft")


def test_late_offer_without_to_tag_is_an_error() -> None:
    with pytest.raises(CMD.CommandError):
        _tags("offer", CMD.MsgFacts(False, "c", "ft", None))
    with pytest.raises(CMD.CommandError):
        _tags("offer", CMD.MsgFacts(True, "", "ft", None))
    with pytest.raises(CMD.CommandError):
        _tags("offer", CMD.MsgFacts(True, "c", None, None))


def test_delete_has_no_sdp_replace_or_direction() -> None:
    parsed = FL.parse_flags("replace-origin in-iface=a out-iface=b rtcp-mux-offer ICE=force")
    cmd = CMD.build_command("delete", parsed, INVITE_FACTS)
    assert cmd == {"ICE": "force", **COMMON, "command": "delete"}


# ------------------------------------------------------------------- via-branch per tm branch

INVITE = (
    b"INVITE sip:bob@example.org SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKproxy\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKuac\r\n"
    b"From: <sip:alice@example.org>;tag=ft\r\n"
    b"To: <sip:bob@example.org>\r\n"
    b"Call-ID: call-1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Content-Length: 0\r\n\r\n"
)


class FakeBranch:
    def __init__(self, via_branch: str) -> None:
        self.via_branch = via_branch


class FakeTm:
    @staticmethod
    def current_branch(ctx: MsgContext) -> FakeBranch | None:
        branch = ctx.extra.get("tm.branch")
        return branch if isinstance(branch, FakeBranch) else None


def _ctx(route_type: int, branch: str | None) -> MsgContext:
    process = ProcessState()
    process.services.provide(TRANSACTIONS, FakeTm(), "tm")
    msg = parse_message(INVITE)
    assert isinstance(msg, SipMessage)
    ctx = MsgContext(process, msg, ReceiveInfo("udp", "10.0.0.9", 5060, "10.0.0.1", 5060), route_type)
    if branch is not None:
        ctx.extra["tm.branch"] = FakeBranch(branch)
    return ctx


def _via(ctx: MsgContext, flags: str = "") -> str | None:
    engine = RUNTIME.RtpEngine({}, None, 60)
    result: str | None = FUNCS._via_branch(ctx, engine, FL.parse_flags(flags))
    return result


def test_each_branch_gets_its_own_via_branch() -> None:
    assert _via(_ctx(RouteType.BRANCH, "z9hG4bKb0")) == "z9hG4bKb0"
    assert _via(_ctx(RouteType.BRANCH, "z9hG4bKb1")) == "z9hG4bKb1"
    assert _via(_ctx(RouteType.ONREPLY, "z9hG4bKb1")) == "z9hG4bKb1"
    # outside a branch, and in failure_route, the session is the whole call's
    assert _via(_ctx(RouteType.REQUEST, None)) is None
    assert _via(_ctx(RouteType.FAILURE, "z9hG4bKb1")) is None


def test_explicit_via_branch_reads_the_message() -> None:
    ctx = _ctx(RouteType.REQUEST, None)
    assert _via(ctx, "via-branch=1") == "z9hG4bKproxy"
    assert _via(ctx, "via-branch=2") == "z9hG4bKuac"
    assert _via(ctx, "via-branch=auto") == "z9hG4bKproxy"
    with pytest.raises(CMD.CommandError):
        _via(ctx, "via-branch=extra")  # no extra_id_pv configured


# ------------------------------------------------------------------------------- daemon sets


def test_sock_parameter_forms() -> None:
    set_id, nodes = SETS.parse_sock_param("udp:127.0.0.1:2222 udp:localhost:2223=3")
    assert set_id == 0 and [(n.host, n.port, n.weight) for n in nodes] == [
        ("127.0.0.1", 2222, 1),
        ("localhost", 2223, 3),
    ]
    set_id, nodes = SETS.parse_sock_param("2 == udp:[::1]:2224 udp6:host6:2225")
    assert set_id == 2 and [(n.host, n.port, n.ipv6) for n in nodes] == [
        ("::1", 2224, True),
        ("host6", 2225, True),
    ]
    assert SETS.parse_sock_param("udp:10.0.0.1")[1][0].port == 22222


@pytest.mark.parametrize(
    "value", ["", "x == udp:a:1", "unix:/run/ng.sock", "/run/ng.sock", "tcp:a:1", "udp:a:0"]
)
def test_bad_sock_parameters(value: str) -> None:
    with pytest.raises(FixupError):
        SETS.parse_sock_param(value)


def test_sets_merge_and_deduplicate() -> None:
    sets = SETS.build_sets(["udp:a:1 udp:b:2", "udp:a:1", "1 == udp:c:3", "NONE"])
    assert sorted(sets) == [0, 1]
    assert [n.url for n in sets[0].nodes] == ["udp:a:1", "udp:b:2"]
    assert len({n.index for s in sets.values() for n in s.nodes}) == 3


def test_selection_is_stable_per_call_and_weighted() -> None:
    nodeset = SETS.build_sets(["udp:a:1=1 udp:b:2=3"])[0]
    picks = {SETS.select_node(nodeset, f"call-{i}", set(), 0.0).url for i in range(200)}
    assert picks == {"udp:a:1", "udp:b:2"}
    counts = {"udp:a:1": 0, "udp:b:2": 0}
    for i in range(400):
        counts[SETS.select_node(nodeset, f"call-{i}@host", set(), 0.0).url] += 1
    assert counts["udp:b:2"] > 2 * counts["udp:a:1"]
    first = SETS.select_node(nodeset, "same", set(), 0.0)
    assert all(SETS.select_node(nodeset, "same", set(), 0.0) is first for _ in range(5))


def test_selection_skips_disabled_and_probes_after_the_quarantine() -> None:
    nodeset = SETS.build_sets(["udp:a:1 udp:b:2"])[0]
    a, b = nodeset.nodes
    a.disabled, a.recheck_at = True, 100.0
    probed: list[str] = []

    def probe(node: Any) -> bool:
        probed.append(node.url)
        return True

    assert {SETS.select_node(nodeset, f"c{i}", set(), 50.0, probe).url for i in range(50)} == {"udp:b:2"}
    assert probed == []
    assert SETS.select_node(nodeset, "c", {b.index}, 50.0, probe) is None
    SETS.select_node(nodeset, "c", set(), 100.0, probe)
    assert probed == ["udp:a:1"] and not a.disabled


def test_a_failed_probe_extends_the_quarantine() -> None:
    nodeset = SETS.build_sets(["udp:a:1"])[0]
    (a,) = nodeset.nodes
    a.disabled, a.recheck_at = True, 10.0
    assert SETS.select_node(nodeset, "c", set(), 10.0, lambda n: False, quarantine=30.0) is None
    assert a.disabled and a.recheck_at == 40.0
