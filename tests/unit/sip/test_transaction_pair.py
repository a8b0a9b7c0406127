"""A UAC and a UAS wired back to back in memory, over a lossy network, on a simulated clock.

Each side has a transaction table and a timer queue, as the asyncio shell will; the "network"
delivers datagrams after a fixed delay and drops the first N packets that match a prefix. The
tests assert that retransmissions recover every loss and that both tables end empty.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from pysips.sip.build import make_request, make_response
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.transaction import (
    Actions,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    PassRequest,
    PassResponse,
    SendMessage,
    Terminated,
    TerminationReason,
    TimerQueue,
    Transaction,
    TransactionTable,
    TxState,
    request_key,
)

DELAY = 0.01  # one-way network latency
T1 = 0.5
T2 = 4.0


class Clock:
    """Scheduled callbacks and the simulated time."""

    def __init__(self) -> None:
        self.now = 0.0
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def at(self, when: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._events, (when, next(self._seq), callback))

    def next_event(self) -> float | None:
        return self._events[0][0] if self._events else None

    def run_due(self) -> None:
        while self._events and self._events[0][0] <= self.now:
            heapq.heappop(self._events)[2]()


@dataclass
class Drop:
    prefix: bytes
    count: int


@dataclass
class Network:
    clock: Clock
    drops: list[Drop] = field(default_factory=list)
    log: list[tuple[float, str, bytes]] = field(default_factory=list)  # (time, dest, first line)
    dropped: list[bytes] = field(default_factory=list)

    def send(self, data: bytes, dest: Endpoint) -> None:
        first_line = data.split(b"\r\n", 1)[0]
        self.log.append((self.clock.now, dest.name, first_line))
        for rule in self.drops:
            if rule.count > 0 and data.startswith(rule.prefix):
                rule.count -= 1
                self.dropped.append(first_line)
                return
        self.clock.at(self.clock.now + DELAY, lambda: dest.receive(data))

    def sent(self, dest: str, prefix: bytes) -> int:
        return sum(1 for _, d, line in self.log if d == dest and line.startswith(prefix))


class Endpoint:
    """Transaction table + timer queue + the action loop an asyncio shell would run."""

    def __init__(self, name: str, clock: Clock, net: Network, reliable: bool = False) -> None:
        self.name = name
        self.clock = clock
        self.net = net
        self.reliable = reliable
        self.peer: Endpoint
        self.table = TransactionTable()
        self.queue = TimerQueue()
        self.responses: list[tuple[int, bool]] = []  # (status, retransmission) passed to the TU
        self.terminations: list[tuple[str, TerminationReason]] = []
        self.tu_requests: list[str] = []  # requests handed to the TU

    def perform(self, tx: Transaction, actions: Actions) -> None:
        self.queue.schedule(tx)
        for action in actions:
            if isinstance(action, SendMessage):
                self.net.send(action.data, self.peer)
            elif isinstance(action, PassResponse):
                self.on_response(action.response, action.retransmission)
            elif isinstance(action, PassRequest):
                self.on_request(action.request)
            elif isinstance(action, Terminated):
                self.terminations.append((type(tx).__name__, action.reason))
                self.table.remove(tx)

    def fire_timers(self) -> None:
        for tx, actions in self.queue.expire(self.clock.now):
            self.perform(tx, actions)

    def receive(self, data: bytes) -> None:
        msg = parse_message(data)
        assert isinstance(msg, SipMessage), msg
        now = self.clock.now
        if not msg.is_request:
            tx = self.table.match_response(msg)
            if tx is not None:
                self.perform(tx, tx.receive_response(msg, now))
            else:
                self.on_response(msg, True)  # stray (e.g. 2xx after the transaction ended)
            return
        key = request_key(msg)
        assert key is not None
        server = self.table.match_request(msg, key)
        if server is not None:
            self.perform(server, server.receive_request(msg, now))
            return
        if msg.method == "ACK":
            self.on_request(msg)  # ACK for a 2xx: its own branch, straight to the TU
            return
        new: InviteServerTransaction | NonInviteServerTransaction
        if msg.method == "INVITE":
            new = InviteServerTransaction(msg, reliable=self.reliable)
            self.table.add_server(key, new)
            self.perform(new, new.start(now, trying_after=0.0))
        else:
            new = NonInviteServerTransaction(msg, reliable=self.reliable)
            self.table.add_server(key, new)
        self.on_new_request(msg, new)

    # TU hooks, overridden by the two roles
    def on_response(self, msg: SipMessage, retransmission: bool) -> None:
        self.responses.append((msg.status, retransmission))

    def on_request(self, msg: SipMessage) -> None:
        self.tu_requests.append(msg.method)

    def on_new_request(
        self, msg: SipMessage, tx: InviteServerTransaction | NonInviteServerTransaction
    ) -> None:
        raise NotImplementedError


class Uac(Endpoint):
    _branches = itertools.count(1)

    def send_request(
        self, method: str, cseq: int, to_tag: str | None = None
    ) -> InviteClientTransaction | NonInviteClientTransaction:
        branch = f"z9hG4bKuac{next(self._branches)}"
        data = self._request(method, cseq, branch, to_tag)
        tx: InviteClientTransaction | NonInviteClientTransaction
        if method == "INVITE":
            tx = InviteClientTransaction(data, reliable=self.reliable)
        else:
            tx = NonInviteClientTransaction(data, reliable=self.reliable)
        self.table.add_client(branch, method, tx)
        self.perform(tx, tx.start(self.clock.now))
        return tx

    def _request(self, method: str, cseq: int, branch: str, to_tag: str | None) -> bytes:
        to = "<sip:bob@uas.example>" + (f";tag={to_tag}" if to_tag else "")
        return make_request(
            method,
            "sip:bob@uas.example",
            from_="<sip:alice@uac.example>;tag=a1",
            to=to,
            call_id="pair-call",
            cseq=cseq,
            via=f"SIP/2.0/UDP uac.example:5060;branch={branch}",
        )

    def on_response(self, msg: SipMessage, retransmission: bool) -> None:
        super().on_response(msg, retransmission)
        if msg.cseq.method == "INVITE" and 200 <= msg.status < 300:
            # The UAC core acknowledges every 2xx it sees, retransmissions included (13.2.2.4).
            ack = self._request("ACK", msg.cseq.number, f"z9hG4bKack{next(self._branches)}", msg.to.tag)
            self.net.send(ack, self.peer)


class Uas(Endpoint):
    """Answers INVITE with the scripted final after a 180; BYE with 200. Retransmits its 2xx."""

    def __init__(self, *args: object, invite_final: int = 200, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.invite_final = invite_final
        self.acked = False

    def on_new_request(
        self, msg: SipMessage, tx: InviteServerTransaction | NonInviteServerTransaction
    ) -> None:
        if msg.method == "INVITE":
            self.clock.at(self.clock.now + 0.05, lambda: self.answer(tx, msg, 180))
            self.clock.at(self.clock.now + 0.1, lambda: self.answer(tx, msg, self.invite_final))
        else:
            self.answer(tx, msg, 200)

    def answer(
        self, tx: InviteServerTransaction | NonInviteServerTransaction, msg: SipMessage, status: int
    ) -> None:
        data = make_response(msg, status, "Answer", to_tag="b1")
        self.perform(tx, tx.send_response(data, self.clock.now))
        if isinstance(tx, InviteServerTransaction) and 200 <= status < 300 and not self.reliable:
            self.retransmit_2xx(tx, data, T1)

    def retransmit_2xx(self, tx: InviteServerTransaction, data: bytes, interval: float) -> None:
        """The UAS core's own 2xx retransmission until the ACK (13.3.1.4)."""

        def fire() -> None:
            if self.acked or tx.terminated:
                return
            self.perform(tx, tx.send_response(data, self.clock.now))
            self.retransmit_2xx(tx, data, min(interval * 2, T2))

        self.clock.at(self.clock.now + interval, fire)

    def on_request(self, msg: SipMessage) -> None:
        super().on_request(msg)
        if msg.method == "ACK":
            self.acked = True


def pair(
    drops: list[Drop], invite_final: int = 200, reliable: bool = False
) -> tuple[Clock, Network, Uac, Uas]:
    clock = Clock()
    net = Network(clock, drops)
    uac = Uac("uac", clock, net, reliable=reliable)
    uas = Uas("uas", clock, net, reliable=reliable, invite_final=invite_final)
    uac.peer, uas.peer = uas, uac
    return clock, net, uac, uas


def run(clock: Clock, uac: Uac, uas: Uas, until: float) -> None:
    while True:
        candidates = [
            t
            for t in (clock.next_event(), uac.queue.next_deadline(), uas.queue.next_deadline())
            if t is not None
        ]
        if not candidates or min(candidates) > until:
            clock.now = until
            return
        clock.now = max(clock.now, min(candidates))
        clock.run_due()
        uac.fire_timers()
        uas.fire_timers()


def test_invite_180_200_ack_recovers_from_lost_invite_200_and_ack() -> None:
    drops = [Drop(b"INVITE", 1), Drop(b"SIP/2.0 200", 1), Drop(b"ACK", 1)]
    clock, net, uac, uas = pair(drops)
    ict = uac.send_request("INVITE", 1)
    run(clock, uac, uas, 100.0)
    assert net.dropped == [
        b"INVITE sip:bob@uas.example SIP/2.0",
        b"SIP/2.0 200 Answer",
        b"ACK sip:bob@uas.example SIP/2.0",
    ]
    assert net.sent("uas", b"INVITE") == 2  # first lost, timer A resent it at T1
    assert (180, False) in uac.responses
    assert (200, False) in uac.responses and (200, True) in uac.responses  # retransmitted 2xx went up
    assert uas.acked and uas.tu_requests.count("ACK") == 1
    assert ict.state is TxState.TERMINATED and ict.reason is TerminationReason.NORMAL
    assert len(uac.table) == 0 and len(uas.table) == 0
    assert ("InviteServerTransaction", TerminationReason.NORMAL) in uas.terminations


def test_invite_486_ack_recovers_from_lost_final_and_lost_ack() -> None:
    drops = [Drop(b"SIP/2.0 486", 1), Drop(b"ACK", 1)]
    clock, net, uac, uas = pair(drops, invite_final=486)
    ict = uac.send_request("INVITE", 1)
    run(clock, uac, uas, 0.2)
    ist = [tx for tx in uas.table.transactions() if isinstance(tx, InviteServerTransaction)]
    assert ist and ist[0].state is TxState.COMPLETED
    run(clock, uac, uas, 100.0)
    # 486 sent by the TU (lost), then by timer G twice; the first ACK was lost and resent.
    assert net.sent("uac", b"SIP/2.0 486") == 3
    assert net.sent("uas", b"ACK") == 2
    assert [status for status, _ in uac.responses] == [100, 180, 486]  # the final went up once
    assert ict.reason is TerminationReason.NORMAL
    assert ist[0].reason is TerminationReason.NORMAL  # confirmed by the ACK, ended by timer I
    assert uas.tu_requests == []  # the non-2xx ACK is absorbed by the transaction
    assert len(uac.table) == 0 and len(uas.table) == 0


def test_bye_200_recovers_from_two_lost_requests_and_a_lost_response() -> None:
    drops = [Drop(b"BYE", 2), Drop(b"SIP/2.0 200", 1)]
    clock, net, uac, uas = pair(drops)
    nict = uac.send_request("BYE", 2, to_tag="b1")
    run(clock, uac, uas, 100.0)
    sent_at = [t for t, dest, line in net.log if dest == "uas" and line.startswith(b"BYE")]
    assert sent_at == [0.0, 0.5, 1.5, 3.5]  # timer E: T1, 2T1, 4T1
    assert net.sent("uac", b"SIP/2.0 200") == 2  # the server transaction answered the retransmission
    assert uac.responses == [(200, False)]
    assert nict.reason is TerminationReason.NORMAL
    assert len(uac.table) == 0 and len(uas.table) == 0


def test_total_loss_times_out_after_six_retransmissions() -> None:
    clock, net, uac, uas = pair([Drop(b"INVITE", 100)])
    ict = uac.send_request("INVITE", 1)
    run(clock, uac, uas, 100.0)
    assert net.sent("uas", b"INVITE") == 7
    assert ict.reason is TerminationReason.TIMEOUT
    assert uac.terminations == [("InviteClientTransaction", TerminationReason.TIMEOUT)]


def test_reliable_transport_sends_each_message_once() -> None:
    clock, net, uac, uas = pair([], reliable=True)
    uac.send_request("INVITE", 1)
    run(clock, uac, uas, 1.0)
    assert [line.split(b" ")[0] + b" " + line.split(b" ")[1] for _, _, line in net.log] == [
        b"INVITE sip:bob@uas.example",
        b"SIP/2.0 100",
        b"SIP/2.0 180",
        b"SIP/2.0 200",
        b"ACK sip:bob@uas.example",
    ]
    bye = uac.send_request("BYE", 2, to_tag="b1")
    run(clock, uac, uas, 2.0)
    assert bye.reason is TerminationReason.NORMAL  # timer K is zero
    assert uas.table.server_count == 1  # only the INVITE server transaction, in Accepted until L
    run(clock, uac, uas, 100.0)
    assert len(uac.table) == 0 and len(uas.table) == 0
