"""Probing destinations as OpenSIPS 3.6's dispatcher, load_balancer and drouting do: a request
(OPTIONS unless configured) sent through tm, whose final reply decides whether the destination
answers. 200 always counts as an answer, and so do the codes of the module's *_reply_codes list.

What an answer does to a destination differs: load_balancer and drouting share `probe_verdict`
(re-enable unless the state forbids it, disable on a 4xx-6xx); dispatcher has its own rule (a 408
or an unlisted code counts as refused, the probing mode and permanent probing decide) and keeps
it in its runtime.
"""

from __future__ import annotations

from collections.abc import Callable

from pysips.core.services import TransactionService, UacReply, UacRequest


def probe_accepted(code: int, extra_codes: frozenset[int]) -> bool:
    return code == 200 or code in extra_codes


def probe_verdict(code: int, extra_codes: frozenset[int], enabled: bool, may_reenable: bool) -> bool | None:
    """The state a final reply to a probe gives a load_balancer or drouting destination: True
    enable it, False disable it, None leave it as it is."""
    if probe_accepted(code, extra_codes):
        return True if may_reenable and not enabled else None
    if code >= 400 and enabled:
        return False
    return None


def send_probe(tm: TransactionService, request: UacRequest, on_final: Callable[[int], None]) -> bool:
    """Sends one probe; `on_final` gets the final reply's code (408 when none came). False when
    tm could not send it (then on_final is never called)."""

    def answered(reply: UacReply) -> None:
        if reply.code >= 200:
            on_final(reply.code)

    return tm.send_request(request, answered) >= 0
