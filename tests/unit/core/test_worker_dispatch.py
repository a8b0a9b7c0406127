"""How the main process picks a message's worker: the Call-ID scan, the reply's branch mark."""

from __future__ import annotations

from pysips.core.callid_scan import call_id_of
from pysips.core.workers import MAIN_PROCESS, branch_mark, reply_owner, worker_for
from pysips.sip.branch import make_branch, new_branch, parse_branch, set_branch_mark
from pysips.sip.receive import ReceiveInfo

INVITE = (b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKabc\r\n"
          b"From: <sip:a@b>;tag=1\r\nTo: <sip:bob@example.com>\r\n%s\r\nCSeq: 1 INVITE\r\n"
          b"Content-Length: 20\r\n\r\nCall-ID: not-this-one")


def test_call_id_long_compact_and_odd_spellings() -> None:
    assert call_id_of(INVITE % b"Call-ID: abc@host") == b"abc@host"
    assert call_id_of(INVITE % b"i: compact-1") == b"compact-1"
    assert call_id_of(INVITE % b"call-id  :   spaced ") == b"spaced"
    assert call_id_of(INVITE % b"CALL-ID:UPPER") == b"UPPER"


def test_call_id_not_taken_from_the_body_nor_from_other_headers() -> None:
    assert call_id_of(INVITE % b"X-Call-ID: decoy") is None
    assert call_id_of(INVITE % b"Subject: i: decoy") is None
    assert call_id_of(b"garbage") is None


def test_same_call_id_same_worker_whatever_the_source() -> None:
    one = ReceiveInfo("udp", "127.0.0.1", 5060, "10.0.0.1", 5060)
    other = ReceiveInfo("ws", "127.0.0.1", 8080, "10.0.0.9", 40000, 7)
    for n in range(50):
        msg = INVITE % b"Call-ID: call-%d" % n
        assert worker_for(msg, one, 4) == worker_for(msg.replace(b"INVITE sip", b"BYE sip"), other, 4)
    spread = {worker_for(INVITE % b"Call-ID: %d-1234@10.0.0.1" % n, one, 4) for n in range(40)}
    assert spread == {0, 1, 2, 3}


def test_reply_goes_to_the_process_that_marked_the_branch() -> None:
    reply = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKw3xabc.0\r\n"
             b"Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKw1xzz\r\nCall-ID: x\r\n\r\n")
    assert reply_owner(reply) == 3
    assert reply_owner(reply.replace(b"w3x", b"wmx")) == MAIN_PROCESS
    assert reply_owner(reply.replace(b"w3x", b"")) is None
    assert reply_owner(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKwhatever\r\n\r\n") is None


def test_branches_carry_the_mark_and_still_parse() -> None:
    try:
        set_branch_mark(branch_mark(2))
        assert make_branch("t1a", 3) == "z9hG4bKw2xt1a.3"
        assert parse_branch("z9hG4bKw2xt1a.3") == ("t1a", 3)
        assert new_branch().startswith("z9hG4bKw2x")
    finally:
        set_branch_mark("")
    assert make_branch("t1a", 3) == "z9hG4bKt1a.3"
