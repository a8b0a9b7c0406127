"""topology_hiding("C"): the callee side sees a masked Call-ID, everybody inside sees the caller's.

As OpenSIPS does it, on the raw bytes: every message that arrives with a Call-ID carrying
th_callid_prefix gets the caller's Call-ID back before it is parsed (so the script, the dialog
and tm only know that one), and every message leaving towards the callee of a masked call gets
the masked one. Which way a message goes is read from its From tag, as OpenSIPS does: a request
from the caller (or one without a To tag, the INVITE, its CANCEL) and a reply to a request of the
callee go to the callee. The calls are known by their Call-ID (registered by topology_hiding("C")
and again by each sequential request of such a dialog, so a restart from the database finds them).
REGISTER, PUBLISH and SUBSCRIBE are never touched.
"""

from __future__ import annotations

import re

from .encoding import decode_callid, encode_callid

_CALLID = re.compile(rb"\r\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r\n", re.I)
_CSEQ_METHOD = re.compile(rb"\r\n(?:cseq)[ \t]*:[ \t]*\d+[ \t]+([A-Za-z]+)", re.I)
_FROM_TAG = re.compile(rb"\r\n(?:from|f)[ \t]*:[^\r\n]*?;[ \t]*tag[ \t]*=[ \t]*([^;>\s,]+)", re.I)
_TO_TAG = re.compile(rb"\r\n(?:to|t)[ \t]*:[^\r\n]*?;[ \t]*tag[ \t]*=[ \t]*([^;>\s,]+)", re.I)
_SKIPPED = (b"REGISTER", b"PUBLISH", b"SUBSCRIBE")


def _head(data: bytes) -> bytes:
    end = data.find(b"\r\n\r\n")
    return data[: end + 2] if end >= 0 else data


class CallidMasker:
    def __init__(self, password: str, prefix: str) -> None:
        self.password = password
        self.prefix = prefix
        self._prefix_bytes = prefix.encode()
        self.calls: dict[str, str] = {}  # caller's Call-ID -> caller's From tag

    def register(self, callid: str, caller_tag: str) -> None:
        self.calls[callid] = caller_tag

    def forget(self, callid: str) -> None:
        self.calls.pop(callid, None)

    def _replace(self, data: bytes, m: re.Match[bytes], value: str) -> bytes:
        return data[: m.start(1)] + value.encode("utf-8", "surrogateescape") + data[m.end(1) :]

    def _skipped(self, head: bytes) -> bool:
        method = _CSEQ_METHOD.search(head)
        return method is not None and method.group(1).upper() in _SKIPPED

    def incoming(self, data: bytes) -> bytes:
        """Raw-in hook: a masked Call-ID back to the caller's."""
        if self._prefix_bytes not in data:
            return data
        head = _head(data)
        m = _CALLID.search(head)
        if m is None or not m.group(1).startswith(self._prefix_bytes) or self._skipped(head):
            return data
        plain = decode_callid(m.group(1).decode("utf-8", "surrogateescape"), self.password, self.prefix)
        return data if plain is None else self._replace(data, m, plain)

    def outgoing(self, data: bytes) -> bytes:
        """Raw-out hook: the masked Call-ID on what goes to the callee of a masked call."""
        if not self.calls:
            return data
        head = _head(data)
        m = _CALLID.search(head)
        if m is None:
            return data
        callid = m.group(1).decode("utf-8", "surrogateescape")
        caller_tag = self.calls.get(callid)
        if caller_tag is None or self._skipped(head):
            return data
        from_tag = _FROM_TAG.search(head)
        from_caller = (from_tag is not None
                       and from_tag.group(1).decode("utf-8", "surrogateescape") == caller_tag)
        if head.startswith(b"SIP/2.0 "):
            to_callee = not from_caller  # a reply to the callee's request
        else:
            to_callee = from_caller or _TO_TAG.search(head) is None
        if not to_callee:
            return data
        return self._replace(data, m, encode_callid(callid, self.password, self.prefix))
