"""Settings of the stream transports, gathered once at startup from the script.

Sources: the core globals (`tcp_connection_lifetime`, `tcp_max_msg_time`, `tcp_connect_timeout`,
`tcp_max_connections`, `tcp_keepalive`/`tcp_keepidle`/`tcp_keepinterval`/`tcp_keepcount`,
`tcp_accept_aliases`, `tcp_socket_backlog`) and the parameters of proto_tcp, proto_tls, proto_ws
and proto_wss. The proto modules offer their parameters as a service (PROTO_SERVICES[proto]: a
dict, with the core globals they saw under CORE_KEY); a protocol whose module is not loaded
cannot have listeners.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pysips.core.services import PROTO_SERVICES
from pysips.script.services import ServiceRegistry
from pysips.transport.stream_framing import DEFAULT_MAX_MESSAGE

CORE_KEY = "__core__"
MODULE_OF = {"tcp": "proto_tcp", "tls": "proto_tls", "ws": "proto_ws", "wss": "proto_wss"}
STREAM_PROTOS = frozenset(MODULE_OF)
CORE_NAMES = ("tcp_connection_lifetime", "tcp_connect_timeout", "tcp_max_connections", "tcp_keepalive",
              "tcp_keepidle", "tcp_keepinterval", "tcp_keepcount", "tcp_accept_aliases", "tcp_socket_backlog",
              "tcp_max_msg_time", "tcp_max_connections_per_ip")


@dataclass(slots=True)
class ProtoSettings:
    """What differs between tcp, tls, ws and wss."""

    proto: str
    max_chunks: int = 4
    crlf_pingpong: bool = True
    crlf_drop: bool = False
    handshake_timeout: float = 10.0  # seconds, TLS handshake (tls) or WS opening handshake
    require_origin: bool = False
    allowed_origins: tuple[str, ...] = ()
    resource: str = "/"  # path we ask for when we open a WS connection
    ping_interval: float = 0.0  # seconds between our WS pings on a quiet connection; 0: never
    default_port: int = 5060


@dataclass(slots=True)
class StreamSettings:
    lifetime: float = 120.0  # tcp_connection_lifetime: idle seconds before a connection is closed
    # tcp_max_msg_time: seconds a started message may take to arrive whole (OpenSIPS's default 4);
    # without it a peer dripping one byte at a time holds a connection as long as it likes
    max_msg_time: float = 4.0
    connect_timeout: float = 0.1  # tcp_connect_timeout (ms in the script)
    max_connections: int = 2048
    # pysips's own: inbound connections one peer address may hold (0: no cap, as in OpenSIPS, which
    # has only the global tcp_max_connections); keeps one source from using up that global limit
    max_connections_per_ip: int = 0
    keepalive: bool = True
    keepidle: int = 0
    keepinterval: int = 0
    keepcount: int = 0
    accept_aliases: bool = False
    backlog: int = 1024
    max_message: int = DEFAULT_MAX_MESSAGE
    protos: dict[str, ProtoSettings] = field(default_factory=dict)

    def proto(self, name: str) -> ProtoSettings:
        found = self.protos.get(name)
        if found is None:
            found = self.protos[name] = ProtoSettings(name)
        return found


def _int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "yes", "true", "on", "enable", "enabled")
    return bool(value)


def settings_from(services: ServiceRegistry) -> StreamSettings:
    """Build from the proto modules' parameters (their PROTO_SERVICES) and the core
    globals they carry."""
    core: dict[str, Any] = {}
    for proto in MODULE_OF:
        state = services.get(PROTO_SERVICES[proto])
        if state is not None:
            core.update(state.get(CORE_KEY, {}))
    s = StreamSettings()
    s.lifetime = float(_int(core.get("tcp_connection_lifetime"), 120))
    s.max_msg_time = float(_int(core.get("tcp_max_msg_time"), 4))
    # OpenSIPS 3.x counts tcp_connect_timeout in milliseconds (2.x in seconds: small values are those)
    ct = _int(core.get("tcp_connect_timeout"), 100)
    s.connect_timeout = ct / 1000.0 if ct >= 50 else float(ct)
    s.max_connections = _int(core.get("tcp_max_connections"), 2048)
    s.max_connections_per_ip = max(0, _int(core.get("tcp_max_connections_per_ip"), 0))
    s.keepalive = _bool(core.get("tcp_keepalive"), True)
    s.keepidle = _int(core.get("tcp_keepidle"), 0)
    s.keepinterval = _int(core.get("tcp_keepinterval"), 0)
    s.keepcount = _int(core.get("tcp_keepcount"), 0)
    s.accept_aliases = _bool(core.get("tcp_accept_aliases"), False)
    s.backlog = _int(core.get("tcp_socket_backlog"), 1024) or 1024
    for proto in MODULE_OF:
        params = services.get(PROTO_SERVICES[proto])
        if params is None:
            continue
        p = s.proto(proto)
        prefix = proto + "_"
        p.default_port = _int(params.get(prefix + "port"), 5061 if proto in ("tls", "wss") else 5060)
        p.max_chunks = _int(params.get(prefix + "max_msg_chunks"), 4)
        p.crlf_pingpong = _bool(params.get(prefix + "crlf_pingpong"), True)
        p.crlf_drop = _bool(params.get(prefix + "crlf_drop"), False)
        hs = params.get("tls_handshake_timeout" if proto == "tls" else "wss_tls_handshake_timeout")
        # OpenSIPS's 100 ms default is per blocking attempt; a whole non-blocking handshake over
        # the internet needs more, so only an explicit, larger setting shortens our 10 s.
        if hs is not None and _int(hs, 0) >= 1000:
            p.handshake_timeout = _int(hs, 10000) / 1000.0
        p.require_origin = _bool(params.get("require_origin"), False)
        allowed = params.get("allowed_origins")
        if allowed:
            p.allowed_origins = tuple(a.strip() for a in str(allowed).split(",") if a.strip())
        p.resource = str(params.get("wss_resource") or params.get("ws_resource") or "/")
        p.ping_interval = float(_int(params.get("ws_ping_interval"), 0))
    return s


def proto_module_state(script: Any, params: dict[str, Any]) -> dict[str, Any]:
    """What a proto_* module keeps in process.modules: its parameters and the core tcp_* globals."""
    core = getattr(script, "core", None) or {}
    state = dict(params)
    state[CORE_KEY] = {name: core.get(name) for name in CORE_NAMES if core.get(name) is not None}
    return state

