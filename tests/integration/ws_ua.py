"""A SIP user agent over one WebSocket connection, shaped like JsSIP (RFC 7118 as browsers do it).

Like a browser it has no address of its own: its Via and Contact carry a random `.invalid` host,
so a server can reach it only over the connection it opened. It registers, calls (INVITE, ACK, BYE
along the route set of the 2xx), answers incoming INVITEs and BYEs, and records every message it
received, so a test can judge what arrived and on which connection.

The message model is tests/integration/e2e/sipmsg.py: independent of `pysips.sip` on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tests.integration.e2e.sipmsg import SipMsg, new_token, parse, reply_to, tag_of, uri_of

SDP = (
    b"v=0\r\no=ws 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\na=rtcp-mux\r\n"
)


@dataclass
class Dialog:
    """One call's dialog state, from the side of this UA."""

    call_id: str
    local_tag: str
    local_uri: str
    remote_uri: str
    remote_tag: str = ""
    remote_target: str = ""
    route_set: list[str] = field(default_factory=list)
    cseq: int = 1
    invite: SipMsg | None = None  # the INVITE we sent or received
    final: SipMsg | None = None  # the final reply to our INVITE


class WsUa:
    """One SIP UA on one WebSocket connection; `received` holds every message in arrival order."""

    def __init__(self, ws: ClientConnection, user: str, domain: str, proto: str) -> None:
        self.ws = ws
        self.user = user
        self.domain = domain  # the registrar's host[:port], used in From/To/R-URI
        self.proto = proto  # "WS" or "WSS", as JsSIP writes it in Via
        self.host = f"{new_token()}.invalid"
        self.instance = f"<urn:uuid:{new_token()}-{new_token()}>"
        self.received: list[SipMsg] = []
        self._inbox: asyncio.Queue[SipMsg] = asyncio.Queue()
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.closed = asyncio.Event()
        # incoming INVITEs are answered automatically with this status (None: not answered)
        self.answer_status: int | None = 200
        self.answered: dict[str, str] = {}  # Call-ID -> our To tag, for INVITEs we answered

    @classmethod
    async def connect(cls, url: str, user: str, domain: str, tls: ssl.SSLContext | None = None) -> WsUa:
        kwargs: dict[str, object] = {"subprotocols": ["sip"], "open_timeout": 5}
        if tls is not None:
            kwargs["ssl"] = tls
        ws = await ws_connect(url, **kwargs)  # type: ignore[arg-type]
        if ws.subprotocol != "sip":
            await ws.close()
            raise AssertionError(f"server chose subprotocol {ws.subprotocol!r}, not 'sip'")
        return cls(ws, user, domain, "WSS" if url.startswith("wss:") else "WS")

    # ------------------------------------------------------------------ I/O

    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@{self.host};transport=ws>"

    def local_address(self) -> tuple[str, int]:
        """The client end of the TCP connection (what the server sees as our source)."""
        name = self.ws.transport.get_extra_info("sockname")
        return str(name[0]), int(name[1])

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                data = frame.encode() if isinstance(frame, str) else frame
                msg = parse(data)
                if msg is None:
                    continue
                self.received.append(msg)
                if msg.is_request:
                    await self._on_request(msg)
                else:
                    self._inbox.put_nowait(msg)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def send(self, msg: SipMsg) -> None:
        await self.ws.send(msg.serialize().decode())

    async def next_reply(self, cseq_method: str, timeout: float = 5.0, final: bool = True) -> SipMsg:
        """The next reply to `cseq_method` (the next final one when `final`)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    msg = await self._inbox.get()
                    if msg.cseq_method == cseq_method and (msg.status >= 200 or not final):
                        return msg
        except TimeoutError:
            raise AssertionError(f"no reply to {cseq_method} within {timeout}s; {self.summary()}") from None

    async def wait_request(self, method: str, call_id: str | None = None, timeout: float = 5.0) -> SipMsg:
        """The first request `method` received (already or within `timeout`)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for msg in self.received:
                if msg.is_request and msg.method == method and call_id in (None, msg.get("call-id")):
                    return msg
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {method} (Call-ID {call_id}) within {timeout}s; {self.summary()}")
            await asyncio.sleep(0.02)

    def summary(self) -> str:
        lines = [f"{m.first_line} ({m.get('call-id')})" for m in self.received]
        state = "closed" if self.closed.is_set() else "open"
        return f"connection {state}, received: {lines}"

    async def close(self, abort: bool = False) -> None:
        """Close with a close frame, or drop the TCP connection as a closing browser tab does."""
        if abort:
            self.ws.transport.abort()
        else:
            await self.ws.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.closed.wait(), 5)
        self._reader.cancel()

    # ------------------------------------------------------------------ requests

    def _via(self) -> str:
        return f"SIP/2.0/{self.proto} {self.host};branch=z9hG4bK{new_token()}"

    async def register(self, expires: int = 600) -> SipMsg:
        tag = new_token()
        aor = f"sip:{self.user}@{self.domain}"
        msg = SipMsg(f"REGISTER sip:{self.domain} SIP/2.0", [
            ("via", self._via()),
            ("max-forwards", "69"),
            ("to", f"<{aor}>"),
            ("from", f"<{aor}>;tag={tag}"),
            ("call-id", new_token()),
            ("cseq", "1 REGISTER"),
            ("contact", f"{self.contact};+sip.ice;reg-id=1;+sip.instance=\"{self.instance}\";"
                        f"expires={expires}"),
            ("expires", str(expires)),
            ("allow", "INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY"),
            ("supported", "path,gruu,outbound"),
            ("user-agent", "ws_ua (JsSIP-like)"),
        ])
        await self.send(msg)
        return await self.next_reply("REGISTER")

    async def invite(self, target: str, timeout: float = 10.0) -> Dialog:
        """INVITE `target`; on a 2xx, ACK it and return the confirmed dialog. A failure reply is
        ACKed hop by hop by the server: the dialog is returned with `final` set and no remote tag."""
        dlg = Dialog(call_id=new_token(), local_tag=new_token(), local_uri=f"sip:{self.user}@{self.domain}",
                     remote_uri=target, remote_target=target)
        msg = SipMsg(f"INVITE {target} SIP/2.0", [
            ("via", self._via()),
            ("max-forwards", "69"),
            ("to", f"<{target}>"),
            ("from", f"<{dlg.local_uri}>;tag={dlg.local_tag}"),
            ("call-id", dlg.call_id),
            ("cseq", f"{dlg.cseq} INVITE"),
            ("contact", f"<sip:{self.user}@{self.host};transport=ws;ob>"),  # JsSIP's outbound flag
            ("content-type", "application/sdp"),
        ], SDP)
        dlg.invite = msg
        await self.send(msg)
        final = await self.next_reply("INVITE", timeout)
        dlg.final = final
        if 200 <= final.status < 300:
            dlg.remote_tag = tag_of(final.get("to"))
            dlg.remote_target = uri_of(final.get("contact"))
            dlg.route_set = list(reversed(final.get_all("record-route")))
            await self.send(self.in_dialog(dlg, "ACK", cseq=dlg.cseq))
        return dlg

    def in_dialog(self, dlg: Dialog, method: str, cseq: int | None = None) -> SipMsg:
        if cseq is None:
            dlg.cseq += 1
            cseq = dlg.cseq
        headers = [("via", self._via()), ("max-forwards", "69")]
        headers += [("route", r) for r in dlg.route_set]
        headers += [
            ("to", f"<{dlg.remote_uri}>;tag={dlg.remote_tag}"),
            ("from", f"<{dlg.local_uri}>;tag={dlg.local_tag}"),
            ("call-id", dlg.call_id),
            ("cseq", f"{cseq} {method}"),
        ]
        return SipMsg(f"{method} {dlg.remote_target} SIP/2.0", headers)

    async def bye(self, dlg: Dialog) -> SipMsg:
        await self.send(self.in_dialog(dlg, "BYE"))
        return await self.next_reply("BYE")

    # ------------------------------------------------------------------ answering

    async def _on_request(self, msg: SipMsg) -> None:
        method = msg.method
        if method == "ACK":
            return
        if method == "INVITE":
            if self.answer_status is None:
                return
            tag = new_token()
            self.answered[msg.get("call-id")] = tag
            extra = [("record-route", rr) for rr in msg.get_all("record-route")]
            await self.send(reply_to(msg, 180, "Ringing", tag, [*extra, ("contact", self.contact)]))
            ok = self.answer_status
            body = SDP if 200 <= ok < 300 else b""
            extra += [("contact", self.contact)]
            if body:
                extra.append(("content-type", "application/sdp"))
            await self.send(reply_to(msg, ok, "OK" if ok < 300 else "Failed", tag, extra, body))
            return
        # BYE, OPTIONS and the rest: 200
        await self.send(reply_to(msg, 200, "OK", ""))

    def dialog_from_invite(self, invite: SipMsg) -> Dialog:
        """Our side of a dialog we answered: the route set is the INVITE's Record-Route, in order."""
        call_id = invite.get("call-id")
        return Dialog(call_id=call_id, local_tag=self.answered[call_id],
                      local_uri=uri_of(invite.get("to")), remote_uri=uri_of(invite.get("from")),
                      remote_tag=tag_of(invite.get("from")), remote_target=uri_of(invite.get("contact")),
                      route_set=invite.get_all("record-route"), cseq=1, invite=invite)
