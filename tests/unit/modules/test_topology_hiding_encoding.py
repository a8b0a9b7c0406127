"""topology_hiding's encodings: the dialog-less Contact parameter and the masked Call-ID, and the
header helpers (restored Vias, hidden Contacts)."""

from __future__ import annotations

import base64
import struct

import pytest

from modules.topology_hiding.encoding import (
    DecodeError,
    HiddenInfo,
    decode_callid,
    decode_info,
    encode_callid,
    encode_info,
    word32_decode,
    word32_encode,
    word64_decode,
    word64_encode,
    xor,
)
from modules.topology_hiding.headers import (
    DID_IN_USER,
    KEEP_USER,
    dialog_contact,
    hidden_contact,
    restored_vias,
    route_entries,
)
from pysips.core.api import Socket
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

INFO = HiddenInfo("<sip:10.0.0.9;lr>,<sip:10.0.0.8;lr;ftag=a>", "sip:alice@10.0.0.1:5062;ob",
                  KEEP_USER, "udp:127.0.0.1:5060")


def test_word64_uses_the_uri_safe_alphabet_and_dash_padding() -> None:
    data = bytes([0xFB, 0xFF, 0xBF, 0x01])
    text = word64_encode(data)
    assert text == base64.b64encode(data).decode().replace("/", ".").replace("=", "-")
    assert "/" not in text and "=" not in text
    assert word64_decode(text) == data


def test_word32_round_trip_with_dash_padding() -> None:
    data = b"topology"
    text = word32_encode(data)
    assert text.endswith("-") and "=" not in text
    assert word32_decode(text) == data


def test_the_layout_is_openSIPS_s_length_prefixed_fields_xored_with_the_password() -> None:
    value = encode_info(INFO, "ToPoCtPaSS", "base64")
    plain = xor(word64_decode(value), b"ToPoCtPaSS")
    fields = []
    pos = 0
    while pos < len(plain):
        (n,) = struct.unpack_from("<h", plain, pos)
        fields.append(plain[pos + 2 : pos + 2 + n].decode())
        pos += 2 + n
    assert fields == [INFO.routes, INFO.contact, str(KEEP_USER), INFO.socket]


@pytest.mark.parametrize("scheme", ["base64", "base32"])
def test_contact_info_round_trip(scheme: str) -> None:
    assert decode_info(encode_info(INFO, "pw", scheme), "pw", scheme) == INFO


def test_a_wrong_password_does_not_give_the_routes_back() -> None:
    value = encode_info(INFO, "right", "base64")
    try:
        got = decode_info(value, "wrong", "base64")
    except DecodeError:
        return
    assert got != INFO


def test_garbage_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode_info("AAAA", "pw", "base64")


def test_callid_mask_round_trip_and_prefix() -> None:
    masked = encode_callid("1-26595@10.0.0.1", "OpenSIPS", "DLGCH_")
    assert masked.startswith("DLGCH_") and "10.0.0.1" not in masked
    assert decode_callid(masked, "OpenSIPS", "DLGCH_") == "1-26595@10.0.0.1"
    assert decode_callid("plain-callid", "OpenSIPS", "DLGCH_") is None


def _msg(text: str) -> SipMessage:
    msg = parse_message(text.replace("\n", "\r\n").encode())
    assert isinstance(msg, SipMessage)
    return msg


INVITE = """INVITE sip:bob@10.0.0.2 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK1;rport
Via: SIP/2.0/UDP 10.0.0.7;branch=z9hG4bK0
Record-Route: <sip:10.0.0.9;lr>, <sip:10.0.0.8;lr>
From: <sip:alice@a>;tag=1
To: <sip:bob@b>
Call-ID: c1
CSeq: 1 INVITE
Contact: <sip:alice@10.0.0.1:5062;ob;x=1>;expires=60
Content-Length: 0

"""


def test_restored_vias_fill_received_and_rport_after_host_port() -> None:
    msg = _msg(INVITE)
    rcv = ReceiveInfo("udp", "127.0.0.1", 5060, "192.0.2.1", 40000)
    out = restored_vias(msg, rcv, False)
    assert out == (b"Via: SIP/2.0/UDP 10.0.0.1:5062;received=192.0.2.1;rport=40000;branch=z9hG4bK1\r\n"
                   b"Via: SIP/2.0/UDP 10.0.0.7;branch=z9hG4bK0\r\n")


def test_restored_vias_without_rport_are_copied_as_received() -> None:
    msg = _msg(INVITE.replace(";rport", ""))
    rcv = ReceiveInfo("udp", "127.0.0.1", 5060, "192.0.2.1", 40000)
    assert restored_vias(msg, rcv, False).startswith(b"Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK1\r\n")


def test_route_entries_in_order_and_reversed() -> None:
    msg = _msg(INVITE)
    assert route_entries(msg) == ["<sip:10.0.0.9;lr>", "<sip:10.0.0.8;lr>"]
    assert route_entries(msg, reverse=True) == ["<sip:10.0.0.8;lr>", "<sip:10.0.0.9;lr>"]


def test_hidden_contact_carries_routes_contact_and_socket() -> None:
    msg = _msg(INVITE)
    out = Socket("udp", "127.0.0.1", 5060)
    value = hidden_contact(msg, flags=KEEP_USER, routes=None, user=None, out=out, bind="udp:127.0.0.1:5060",
                           param="thinfo", password="pw", scheme="base64", uri_params=("x",),
                           hdr_params=("expires",))
    assert value is not None
    assert value.startswith("<sip:alice@127.0.0.1;thinfo=") and value.endswith(";x=1>;expires=60")
    encoded = value.split("thinfo=", 1)[1].split(";", 1)[0]
    info = decode_info(encoded, "pw", "base64")
    assert info == HiddenInfo("<sip:10.0.0.9;lr>,<sip:10.0.0.8;lr>", "sip:alice@10.0.0.1:5062;ob;x=1",
                              KEEP_USER, "udp:127.0.0.1:5060")


def test_dialog_contact_with_the_did_as_param_or_in_the_user() -> None:
    msg = _msg(INVITE)
    out = Socket("tcp", "127.0.0.1", 5070)
    plain = dialog_contact(msg, did="3d4.1", flags=0, user=None, out=out, rr_param="did", uri_params=(),
                           hdr_params=())
    assert plain == "<sip:127.0.0.1:5070;transport=tcp;did=3d4.1>"
    in_user = dialog_contact(msg, did="3d4.1", flags=DID_IN_USER | KEEP_USER, user=None, out=out,
                             rr_param="did", uri_params=(), hdr_params=())
    assert in_user == "<sip:alice.did.3d4.1@127.0.0.1:5070;transport=tcp>"


# ------------------------------------------------------------------ the C flag on raw bytes

def _raw(first: str, from_tag: str, to_tag: str | None, callid: str, cseq: str = "1 INVITE") -> bytes:
    to = "<sip:bob@b>" + (f";tag={to_tag}" if to_tag else "")
    return (f"{first}\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:alice@a>;tag={from_tag}\r\n"
            f"To: {to}\r\nCall-ID: {callid}\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n").encode()


def test_masker_hides_the_callid_towards_the_callee_only() -> None:
    from modules.topology_hiding.callid import CallidMasker

    masker = CallidMasker("OpenSIPS", "DLGCH_")
    masked = encode_callid("c-1@10.0.0.1", "OpenSIPS", "DLGCH_")
    plain_invite = _raw("INVITE sip:bob@b SIP/2.0", "ft", None, "c-1@10.0.0.1")
    assert masker.outgoing(plain_invite) == plain_invite  # not a hidden call (yet)
    masker.register("c-1@10.0.0.1", "ft")
    # towards the callee: the INVITE, a request of the caller, a reply to the callee's request
    assert f"Call-ID: {masked}\r\n".encode() in masker.outgoing(plain_invite)
    bye_from_caller = _raw("BYE sip:bob@b SIP/2.0", "ft", "tt", "c-1@10.0.0.1", "2 BYE")
    assert masked.encode() in masker.outgoing(bye_from_caller)
    ok_to_callee = _raw("SIP/2.0 200 OK", "tt", "ft", "c-1@10.0.0.1", "1 BYE")
    assert masked.encode() in masker.outgoing(ok_to_callee)
    # towards the caller: untouched
    bye_from_callee = _raw("BYE sip:alice@a SIP/2.0", "tt", "ft", "c-1@10.0.0.1", "1 BYE")
    assert masker.outgoing(bye_from_callee) == bye_from_callee
    ok_to_caller = _raw("SIP/2.0 200 OK", "ft", "tt", "c-1@10.0.0.1")
    assert masker.outgoing(ok_to_caller) == ok_to_caller
    # REGISTER never
    register = _raw("REGISTER sip:b SIP/2.0", "ft", None, "c-1@10.0.0.1", "1 REGISTER")
    assert masker.outgoing(register) == register


def test_masker_gives_the_callers_callid_back_on_what_arrives() -> None:
    from modules.topology_hiding.callid import CallidMasker

    masker = CallidMasker("OpenSIPS", "DLGCH_")
    masked = encode_callid("c-1@10.0.0.1", "OpenSIPS", "DLGCH_")
    arrived = _raw("BYE sip:x SIP/2.0", "tt", "ft", masked, "1 BYE")
    back = masker.incoming(arrived)
    assert b"Call-ID: c-1@10.0.0.1\r\n" in back and masked.encode() not in back
    untouched = _raw("BYE sip:x SIP/2.0", "tt", "ft", "other", "1 BYE")
    assert masker.incoming(untouched) == untouched
