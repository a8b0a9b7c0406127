"""Matching messages to transactions (RFC 3261 17.1.3 and 17.2.3) and the table holding them.

Keys are plain tuples computed once per message by `response_key` / `request_key`:
- client: (top Via branch, CSeq method);
- server, RFC 3261 branch (magic cookie): (branch, sent-by host, sent-by port, method), with
  ACK filed under INVITE so it finds the INVITE transaction;
- server, RFC 2543 peer (no cookie): (Call-ID, CSeq number, method, From tag, Request-URI,
  top Via host, port, branch). The To tag is checked after the lookup: a retransmission carries
  the request's To tag, an ACK carries the tag of the response the transaction sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeAlias

from .transaction_base import Transaction
from .transaction_build import to_tag_of
from .transaction_client import ClientTransaction
from .transaction_server import InviteServerTransaction, ServerTransaction
from .transaction_types import MessageLike

MAGIC_COOKIE = "z9hG4bK"

ClientKey: TypeAlias = tuple[str, str]
ServerKey: TypeAlias = tuple[str | int | None, ...]

_RFC3261_KEY_LEN = 4


def response_key(response: MessageLike) -> ClientKey | None:
    """The client transaction key of a response, None without a branch in the top Via."""
    vias = response.vias
    if not vias:
        return None
    branch = vias[0].branch
    if not branch:
        return None
    return (branch, response.cseq.method)


def request_key(request: MessageLike, method: str | None = None) -> ServerKey | None:
    """The server transaction key of a request, None without a Via.

    `method` overrides the one used in the key (CANCEL looks for its INVITE).
    """
    vias = request.vias
    if not vias:
        return None
    via = vias[0]
    if method is None:
        method = request.method
        if method == "ACK":
            method = "INVITE"
    branch = via.branch
    if branch and branch.startswith(MAGIC_COOKIE):
        return (branch, via.host.lower(), via.port, method)
    return (request.call_id, request.cseq.number, method, request.from_.tag, request.ruri,
            via.host.lower(), via.port, branch)


def _rfc2543_to_tag_matches(tx: ServerTransaction, request: MessageLike) -> bool:
    tag = request.to.tag
    if request.method == "ACK":
        sent = tx.last_response
        return sent is not None and to_tag_of(sent) == tag
    return tx.request.to.tag == tag


class TransactionTable:
    """Client and server transactions of one process, by key."""

    __slots__ = ("_clients", "_servers")

    def __init__(self) -> None:
        self._clients: dict[ClientKey, ClientTransaction] = {}
        self._servers: dict[ServerKey, ServerTransaction] = {}

    def __len__(self) -> int:
        return len(self._clients) + len(self._servers)

    @property
    def client_count(self) -> int:
        return len(self._clients)

    @property
    def server_count(self) -> int:
        return len(self._servers)

    def transactions(self) -> Iterator[ClientTransaction | ServerTransaction]:
        """Every transaction held, clients first (for listings and shutdown)."""
        yield from self._clients.values()
        yield from self._servers.values()

    def add_client(self, branch: str, method: str, tx: ClientTransaction) -> ClientKey:
        """File `tx`, sent with `branch` in its top Via; CANCEL and INVITE share a branch."""
        key = (branch, method)
        tx.key = key
        self._clients[key] = tx
        return key

    def match_response(self, response: MessageLike, key: ClientKey | None = None) -> ClientTransaction | None:
        if key is None:
            key = response_key(response)
            if key is None:
                return None
        return self._clients.get(key)

    def add_server(self, key: ServerKey, tx: ServerTransaction) -> None:
        tx.key = key
        self._servers[key] = tx

    def match_request(self, request: MessageLike, key: ServerKey | None = None) -> ServerTransaction | None:
        """The server transaction a request (retransmission, ACK) belongs to."""
        if key is None:
            key = request_key(request)
            if key is None:
                return None
        tx = self._servers.get(key)
        if tx is None or len(key) == _RFC3261_KEY_LEN or _rfc2543_to_tag_matches(tx, request):
            return tx
        return None

    def find_cancel_target(self, cancel: MessageLike) -> InviteServerTransaction | None:
        """The INVITE server transaction a CANCEL refers to (same key, method INVITE)."""
        key = request_key(cancel, "INVITE")
        if key is None:
            return None
        tx = self._servers.get(key)
        if not isinstance(tx, InviteServerTransaction):
            return None
        if len(key) != _RFC3261_KEY_LEN and tx.request.to.tag != cancel.to.tag:
            return None
        return tx

    def remove(self, tx: Transaction) -> None:
        """Forget `tx` (after Terminated); a key since reused by another transaction is kept."""
        if isinstance(tx, ClientTransaction):
            client_key = tx.key
            if client_key is not None and self._clients.get(client_key) is tx:
                del self._clients[client_key]
        elif isinstance(tx, ServerTransaction):
            server_key = tx.key
            if server_key is not None and self._servers.get(server_key) is tx:
                del self._servers[server_key]
