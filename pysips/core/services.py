"""The services modules offer each other: typed interfaces and their registry keys.

A module declares `provides=(TRANSACTIONS,)` in its exports and registers its implementation from
init (`ictx.provide(TRANSACTIONS, tm)`); another declares `requires=(TRANSACTIONS,)` (or `uses=`
when optional) and asks `process.services.get(TRANSACTIONS)` at run time. The interfaces below are
all a module may rely on of another: nothing is imported from a module, nothing is probed with
`hasattr`. See docs/writing-a-module.md.

| key            | provided by | interface            |
|----------------|-------------|----------------------|
| TRANSACTIONS   | tm          | TransactionService   |
| RECORD_ROUTE   | rr          | RouteService         |
| REPLIES        | signaling   | ReplyService         |
| STATELESS_REPLIES | sl       | StatelessReplyService |
| LOCATION       | usrloc      | LocationService      |
| HTTP           | httpd       | HttpService          |
| DIGEST_AUTH    | auth        | DigestAuthService    |
| DIALOGS        | dialog      | DialogService        |
| UAC_CREDENTIALS | uac_auth   | UacCredentialService |
| TLS_DOMAINS    | tls_mgm     | TlsDomains (pysips.transport.tls_domains) |
| PROTO_SERVICES[proto] | proto_tcp/tls/ws/wss | the module's parameters (dict) |
| SHARED_STATE   | the core, with worker processes | SharedStateService (pysips.core.workers) |
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pysips.script.services import Service

if TYPE_CHECKING:
    from pysips.core.api import Socket
    from pysips.script.context import MsgContext
    from pysips.sip.message import SipMessage
    from pysips.sip.receive import ReceiveInfo
    from pysips.transport.tls_domains import TlsDomains


# ------------------------------------------------------------------------------------ tm


class TransactionInfo(Protocol):
    """What callbacks see of a transaction (tm's Cell): read it, do not keep it past `deleted`."""

    @property
    def id(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def is_invite(self) -> bool: ...
    @property
    def request(self) -> SipMessage: ...
    @property
    def rcv(self) -> ReceiveInfo: ...
    @property
    def avps(self) -> dict[str, list[str | int]]: ...
    @property
    def to_tag(self) -> str | None: ...
    @property
    def status(self) -> int:
        """The last status sent upstream (0 before any)."""
        ...
    @property
    def cancelled(self) -> bool: ...


class BranchInfo(Protocol):
    """One fork of a transaction (tm's Branch)."""

    @property
    def index(self) -> int: ...
    @property
    def via_branch(self) -> str:
        """The branch parameter of our Via on this fork's request."""
        ...
    @property
    def ruri(self) -> str: ...
    @property
    def dst_uri(self) -> str | None: ...
    @property
    def bflags(self) -> int: ...
    @property
    def to_tag(self) -> str | None: ...
    @property
    def last_code(self) -> int: ...


# fn(ctx of the request, transaction): t_newtran/t_relay/t_reply made a transaction (TMCB_REQUEST_IN)
CreatedCallback = Callable[["MsgContext", TransactionInfo], None]
# fn(branch ctx, transaction, branch, request, socket) before a fork's request is serialized: it may
# still be edited (TMCB_REQUEST_FWDED / TMCB_REQUEST_OUT).
RequestOutCallback = Callable[["MsgContext", TransactionInfo, BranchInfo, "SipMessage", "Socket"], None]
# fn(transaction, branch, reply) for every reply received on a fork, before onreply_route (TMCB_RESPONSE_IN)
ReplyInCallback = Callable[[TransactionInfo, BranchInfo, "SipMessage"], None]
# fn(transaction, code, reason, reply) for every reply sent upstream; reply is None for one tm made
# itself (TMCB_RESPONSE_OUT). The same signature for `failure`: a negative final was picked,
# before failure_route runs (TMCB_ON_FAILURE).
ReplyOutCallback = Callable[[TransactionInfo, int, str, "SipMessage | None"], None]
# fn(transaction, final code) once the final reply went upstream (TMCB_TRANS_COMPLETE-like)
CompletedCallback = Callable[[TransactionInfo, int], None]
# fn(transaction) when tm forgets it (TMCB_TRANS_DELETED)
DeletedCallback = Callable[[TransactionInfo], None]


@dataclass(frozen=True, slots=True)
class UacRequest:
    """A request pysips originates (OpenSIPS t_uac / tm's b2b API).

    Out of dialog by default: a fresh Call-ID and From tag, CSeq 1, To = the R-URI. For a request
    inside a dialog (dialog pinging, BYE) give `call_id`, `cseq`, `from_tag`, `to_tag` and the
    `route_set`. `outbound_proxy` (a SIP URI) is where it is sent instead of the R-URI/first Route;
    `socket` (OpenSIPS notation, "udp:127.0.0.1:5060") forces the sending socket.
    """

    method: str
    ruri: str
    from_uri: str | None = None  # default sip:pysips@<the sending socket>
    to_uri: str | None = None  # default the R-URI
    headers: tuple[str, ...] = ()  # whole header lines, "Event: keep-alive"
    body: bytes = b""
    content_type: str | None = None
    outbound_proxy: str | None = None
    socket: str | None = None
    call_id: str | None = None
    cseq: int | None = None
    from_tag: str | None = None
    to_tag: str | None = None
    route_set: tuple[str, ...] = ()  # Route header values, in order
    contact: str | None = None
    fr_timeout: float | None = None  # seconds to wait for the final reply; None: tm's fr_timeout


@dataclass(frozen=True, slots=True)
class UacReply:
    """A reply to a request sent with `send_request`: every provisional and the final.

    `reply` is None when tm made the final up: 408 when nothing came back in time (RFC 3261
    Timer B/F), 477 when it could not be sent. For an INVITE answered 2xx the callback's owner
    sends the ACK (it is end to end); tm ACKs negative finals itself.
    """

    code: int
    reason: str
    reply: SipMessage | None
    call_id: str
    local: bool = False


UacCallback = Callable[[UacReply], None]


class TransactionService(Protocol):
    """tm: stateful transactions, their callbacks, and requests of our own."""

    def has_transaction(self, ctx: MsgContext) -> bool: ...

    def reply(self, ctx: MsgContext, code: int, reason: str, body: bytes = b"",
              extra_headers: tuple[str, ...] = ()) -> int:
        """t_reply(): through the request's transaction (made when needed); >0 sent."""
        ...

    def reply_transaction(self, t: TransactionInfo, code: int, reason: str) -> int:
        """A reply of ours on a transaction seen in a callback (not the script's message): for an
        INVITE a final one also cancels its pending branches. >0 sent; <0 when it could not be
        (already answered, not a transaction of ours)."""
        ...

    def current_branch(self, ctx: MsgContext) -> BranchInfo | None:
        """The fork of a branch_route, onreply_route or failure_route."""
        ...

    def on_created(self, fn: CreatedCallback) -> None: ...
    def on_request_out(self, fn: RequestOutCallback) -> None: ...
    def on_reply_in(self, fn: ReplyInCallback) -> None: ...
    def on_reply_out(self, fn: ReplyOutCallback) -> None: ...
    def on_failure(self, fn: ReplyOutCallback) -> None: ...
    def on_completed(self, fn: CompletedCallback) -> None: ...
    def on_deleted(self, fn: DeletedCallback) -> None: ...

    def unanswered_count(self) -> int:
        """Transactions still waiting for their final reply (requests relayed or received, and
        requests of our own): what SIGTERM's drain waits for (pysips.core.drain)."""
        ...

    def send_request(self, request: UacRequest, callback: UacCallback | None = None) -> int:
        """Sends `request` in a client transaction of its own; the callback gets each reply.
        1 sent; <0 when it could not be (no destination, no socket, send failure: callback not
        called)."""
        ...


TRANSACTIONS: Service[TransactionService] = Service("transactions", "tm", "stateful transactions, UAC")


# ------------------------------------------------------------------------------------ rr


@dataclass(frozen=True, slots=True)
class LooseRouteMatch:
    """loose_route() consumed a Route of ours: `params` are that Route's URI parameters
    (";lr;did=ab12" -> {"lr": "", "did": "ab12"}), names lower-cased."""

    uri: str
    params: dict[str, str]


LooseRouteCallback = Callable[["MsgContext", LooseRouteMatch], None]


class RouteService(Protocol):
    """rr: Record-Route and loose routing."""

    def finalize_for_socket(self, msg: SipMessage, socket: Socket) -> int:
        """Socket-dependent Record-Route edits, before a request is serialized for `socket`;
        returns how many record_route() entries it rendered."""
        ...

    def record_route(self, ctx: MsgContext, params: str | None = None) -> int:
        """record_route(params): our Record-Route on the request (rendered per outgoing socket)."""
        ...

    def remove_record_route(self, ctx: MsgContext) -> int:
        """Takes back the Record-Route(s) record_route() added to the request (topology hiding);
        how many."""
        ...

    def add_rr_param(self, ctx: MsgContext, param: str) -> int:
        """Adds ";name=value" to the Record-Route(s) of the request, or to the next one made."""
        ...

    def route_params(self, ctx: MsgContext) -> str | None:
        """After loose_route(): the parameters of our Route it consumed ($rr_params), else None."""
        ...

    def is_upstream(self, ctx: MsgContext) -> bool:
        """After loose_route(): the request goes from callee to caller (the ftag of our Route is
        not its From tag), as is_direction("upstream")."""
        ...

    def on_loose_route(self, fn: LooseRouteCallback) -> None:
        """fn(ctx, match) each time loose_route() matches one of our Routes (rr's API
        register_rrcb: dialog matches sequential requests by a Route parameter)."""
        ...


RECORD_ROUTE: Service[RouteService] = Service("record_route", "rr", "Record-Route and loose routing")


# ------------------------------------------------------------------------------------ signaling


class ReplyService(Protocol):
    """signaling: one way to answer a request."""

    def send_reply(self, ctx: MsgContext, code: int, reason: str,
                   headers: tuple[str, ...] = (), body: bytes = b"") -> int:
        """Through the request's transaction when tm holds one, statelessly otherwise (an ACK is
        never answered: 1). >0 sent, <0 not."""
        ...


REPLIES: Service[ReplyService] = Service("replies", "signaling", "stateful-or-stateless replies")


class StatelessReplyService(Protocol):
    """sl: a reply with no transaction (counted in sl's statistics; its ACK is filtered)."""

    def send_stateless(self, ctx: MsgContext, code: int, reason: str,
                       headers: tuple[str, ...] = (), body: bytes = b"") -> int: ...


STATELESS_REPLIES: Service[StatelessReplyService] = Service("stateless_replies", "sl", "stateless replies")


# ------------------------------------------------------------------------------------ usrloc


class LocationContact(Protocol):
    """One binding (usrloc's ucontact): the fields registrar and nathelper read."""

    aor: str
    uri: str
    expires: float  # wall-clock seconds; 0: permanent
    q: float
    callid: str
    cseq: int
    flags: int
    cflags: int
    received: str | None
    path: str | None
    socket: str | None
    instance: str | None
    reg_id: int
    conn_id: int
    methods: int
    user_agent: str

    def is_valid(self, now: float) -> bool: ...

    def remaining(self, now: float) -> int:
        """Whole seconds left (0 for a permanent binding): a 200's `expires`."""
        ...


class LocationRecord(Protocol):
    """An AOR with its bindings (usrloc's urecord)."""

    aor: str
    contacts: list[Any]  # LocationContact, best first

    def valid(self, now: float) -> list[Any]: ...

    def match(self, uri: str, callid: str, instance: str | None, reg_id: int, mode: int) -> Any: ...


class LocationDomain(Protocol):
    """A location table (usrloc's udomain): records are changed only through it, so that its
    database mode (write-through, write-back, sql-only) sees every change."""

    def get(self, aor: str) -> LocationRecord | None: ...

    def get_or_create(self, aor: str) -> LocationRecord: ...

    def release(self, rec: LocationRecord) -> None:
        """Drops a record get_or_create() made when nothing was stored in it."""
        ...

    def insert(self, rec: LocationRecord, contact: Any) -> bool: ...

    def update(self, rec: LocationRecord, old: Any, new: Any) -> bool: ...

    def delete(self, rec: LocationRecord, contact: Any) -> bool: ...

    def all_contacts(self) -> Iterator[Any]: ...


class LocationService(Protocol):
    """usrloc: the location tables."""

    @property
    def nat_flag(self) -> int: ...

    config: Any  # its parameters (matching_mode, use_domain ...)

    def domain(self, name: str) -> LocationDomain:
        """The table of that name (created and loaded from the database on first use)."""
        ...

    def all_contacts(self) -> Iterator[tuple[LocationDomain, LocationContact]]: ...

    def check_cseq(self, found: Any, callid: str, cseq: int, allow_dup: bool, now: float) -> int: ...

    def new_contact(self, aor: str, uri: str, expires: float, **fields: Any) -> Any:
        """A binding not stored yet (insert/update it through a table)."""
        ...

    def methods_mask(self, text: str) -> int | None:
        """A Contact's methods= parameter as usrloc's method bit mask."""
        ...


LOCATION: Service[LocationService] = Service("location", "usrloc", "user location tables")


# ------------------------------------------------------------------------------------ httpd


# (request) -> (status code, content type, body); request has .method, .path, .headers, .body
HttpHandler = Callable[[Any], tuple[int, str, bytes]]


class HttpService(Protocol):
    """httpd: the embedded HTTP server other modules hang pages on."""

    def register(self, root: str, module: str, handler: HttpHandler) -> None: ...


HTTP: Service[HttpService] = Service("http", "httpd", "embedded HTTP server")


# ------------------------------------------------------------------------------------ auth


class DigestAuthService(Protocol):
    """auth: the digest machinery auth_db (and later auth_aaa, uac_auth) build on."""

    def pre_auth(self, ctx: MsgContext, realm: str, header: str) -> tuple[int, Any, str]: ...

    def session_ha1(self, cred: Any, value: str, hashed: bool, realm: str) -> str | None: ...

    def check_response(self, cred: Any, method: str, body: bytes, ha1_hex: str) -> bool: ...

    def reply(self, ctx: MsgContext, code: int, reason: str) -> bool: ...


DIGEST_AUTH: Service[DigestAuthService] = Service("digest_auth", "auth", "digest authentication")


# ------------------------------------------------------------------------------------ dialog


class DialogInfo(Protocol):
    """What other modules read of a dialog (OpenSIPS dlg_cell)."""

    @property
    def did(self) -> str: ...
    @property
    def callid(self) -> str: ...
    @property
    def state(self) -> int:
        """1 unconfirmed, 2 early, 3 confirmed without ACK, 4 confirmed, 5 deleted."""
        ...
    @property
    def start_ts(self) -> int:
        """Wall-clock seconds of the 2xx (0 before)."""
        ...
    @property
    def end_reason(self) -> str | None: ...
    @property
    def vals(self) -> dict[str, str | int]: ...

    # Bits other modules keep on the dialog (OpenSIPS mod_flags; stored in the table's
    # module_flags column). Bit 1 << 1 is topology hiding's "ongoing": dialog then expects no
    # Record-Route of its own and takes the callee's route set whole from its reply.
    module_flags: int


# DialogService.match's modes, by the names scripts give them (dialog's dlg_match_mode,
# topology_hiding_match()): the did only; the did, else Call-ID and tags; Call-ID and tags only
DIALOG_MATCH_MODES = {"did_only": 0, "did_fallback": 1, "did_none": 2}


def dialog_match_mode(name: str) -> int:
    """The mode number of a match mode's name (ValueError for another name)."""
    mode = DIALOG_MATCH_MODES.get(name.strip().lower())
    if mode is None:
        raise ValueError(f"unknown match mode {name!r} (did_only, did_fallback, did_none)")
    return mode


class DialogService(Protocol):
    """dialog: the dialog of a message, and the end of dialogs (acc's CDRs, topology hiding)."""

    def current(self, ctx: MsgContext) -> Any:
        """The DialogInfo of the message being routed (created, matched, or its transaction's),
        or None."""
        ...

    def create(self, ctx: MsgContext, flags: int) -> int:
        """create_dialog() for a module: 1 made (or already there), <0 not."""
        ...

    def on_ended(self, fn: Callable[[Any], None]) -> None:
        """fn(dialog) once when a dialog ends (BYE, timeout, failure, MI), after its state is 5."""
        ...

    def match(self, ctx: MsgContext, mode: int | None = None) -> int:
        """match_dialog([mode]) for a module: 1 matched (the within callbacks have run), -1 not.
        mode: 0 did only, 1 did then Call-ID/tags, 2 Call-ID/tags; None the module's default.
        The did is looked for in the Routes, else (topology hiding) in the R-URI's parameters
        or its user part ("user.did.<entry>.<id>")."""
        ...

    def fix_route(self, ctx: MsgContext) -> int:
        """fix_route_dialog(): R-URI, Route set and next hop of the request from its dialog."""
        ...

    def on_within(self, fn: Callable[[MsgContext, Any, int], None]) -> None:
        """fn(ctx, dialog, direction) for each sequential request matched to a dialog (loose_route
        or match_dialog), after the dialog tracked it (OpenSIPS DLGCB_REQ_WITHIN). direction: 1
        from the caller (downstream), 2 from the callee (upstream)."""
        ...

    @property
    def rr_param(self) -> str:
        """The name of the dialog id parameter ("did", modparam rr_param)."""
        ...

    def leg_socket(self, dialog: Any, to_caller: bool) -> str:
        """Our socket towards that party, OpenSIPS notation ("udp:IP:PORT")."""
        ...

    def shift_cseq(self, ctx: MsgContext) -> int:
        """The request of `ctx` (inside a dialog, or the dialog's initial INVITE) was re-sent with
        its CSeq raised by one (uac_auth() answering a challenge): the later requests of the
        same party are relayed one higher and their replies lowered back. Returns the party's
        new shift, 0 when `ctx` has no dialog."""
        ...

    def store_value(self, ctx: MsgContext, name: str, value: str) -> bool:
        """$dlg_val(name) = value on the dialog of `ctx`; False without a dialog."""
        ...

    # Profiles for modules that count dialogs (load_balancer's resources): a profile defined by
    # a module is one more `profiles_with_value`/`profiles_no_value` profile.
    def define_profile(self, name: str, has_value: bool) -> None:
        """Defines the profile unless it exists already."""
        ...

    def join_profile(self, ctx: MsgContext, name: str, value: str) -> bool:
        """The current dialog joins the profile under `value`; False without a dialog or profile."""
        ...

    def leave_profile(self, ctx: MsgContext, name: str, value: str) -> bool:
        """The current dialog leaves the profile (one membership under `value`)."""
        ...

    def profile_size(self, name: str, value: str | None) -> int:
        """How many dialogs are in the profile (under `value` when given); 0 for an unknown one."""
        ...


DIALOGS: Service[DialogService] = Service("dialogs", "dialog", "dialogs: state, timeouts, profiles")


# ------------------------------------------------------------------------------------ uac_auth


@dataclass(frozen=True, slots=True)
class UacCredential:
    """A credential to answer challenges with: `password` plain, or "0x" + the HA1 in hex."""

    username: str
    realm: str
    password: str


class UacCredentialService(Protocol):
    """uac_auth: the credentials uac_auth() and uac_registrant answer challenges with."""

    def lookup(self, ctx: MsgContext | None, realm: str) -> UacCredential | None:
        """The credential for `realm`: from the auth_*_avp AVPs of `ctx` when they name this
        realm, else from the `credential` parameters; None when there is none."""
        ...


UAC_CREDENTIALS: Service[UacCredentialService] = Service("uac_credentials", "uac_auth",
                                                         "credentials for answering challenges")


# ------------------------------------------------------------------------------------ transports


TLS_DOMAINS: Service[TlsDomains] = Service("tls_domains", "tls_mgm", "TLS domains and certificates")

# The proto_* modules' parameters (with the core tcp_* globals), read by the stream transports:
# loading the module is what enables its protocol.
PROTO_SERVICES: dict[str, Service[dict[str, Any]]] = {
    proto: Service(f"proto_{proto}", f"proto_{proto}", f"{proto.upper()} listeners and connections")
    for proto in ("tcp", "tls", "ws", "wss")
}


# ------------------------------------------------------------------------------------ workers


class SharedChannel(Protocol):
    """One module's share of state kept alike in every worker process (see SharedStateService)."""

    def publish(self, change: Any, wait: bool = True) -> Any:
        """Hands `change` to every other process's `apply`, in order. In a script greenlet it
        returns once the main process has queued it to every worker, so a message handled after
        this one, in any worker, sees it; elsewhere, or with `wait` False (a change made inside
        tm's processing, which must not be suspended), it is sent without waiting.

        On a channel joined with `resolve`, the owner's answer when publish() waited for it (in
        the main process: always); None when it did not wait or no answer came in time."""
        ...


class SharedStateService(Protocol):
    """What OpenSIPS keeps in shared memory, for a server running several worker processes
    (`udp_workers` > 1): a module shares a table by publishing its changes, and every process
    applies them to its own copy. One process (`owner`) keeps the copy that is persisted
    (database writes, write-back flushes, expiry); the others keep replicas. Provided by the core
    before any module's init, and only when workers run: a module that finds no provider runs in
    one process and keeps its state as before."""

    @property
    def owner(self) -> bool:
        """True in the process that owns the persistent copy (the main process)."""
        ...

    def share(self, name: str, apply: Callable[[Any], None], snapshot: Callable[[], list[Any]],
              forget: Callable[[int], Any] | None = None,
              resolve: Callable[[Any], tuple[Any, Any]] | None = None) -> SharedChannel:
        """Joins channel `name`: `apply(change)` runs for every change another process published;
        `snapshot()` (asked of the owner) lists the changes that rebuild its whole state, replayed
        to a worker that starts (or restarts) before it handles its first message. `forget(pid)`
        (asked of the owner when worker process `pid` died) gives the change that removes what
        that process held, applied and relayed to every process; None: nothing to remove.

        `resolve(change)` (asked of the owner) is for changes whose effect depends on the copy
        they meet (a counter's increment, a key that may have expired): it applies a published
        change to the owner's copy and returns `(applied, answer)`. `applied` (None: nothing) is
        what every process's `apply` then gets, the publisher's included, in the owner's order,
        so the copies stay alike; `answer` is what the publisher's publish() returns. The
        publisher's own copy changes when `applied` reaches it: before publish() returns, when it
        waits."""
        ...


SHARED_STATE: Service[SharedStateService] = Service("shared_state", "core",
                                                    "state shared by worker processes")
