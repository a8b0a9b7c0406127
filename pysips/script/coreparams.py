"""The core (global) parameters a script may set, in both dialects.

OpenSIPS 3.x names are canonical; 2.x (and older) spellings are accepted and mapped onto them
(`debug` -> `log_level`, `children` -> `udp_workers` ...). A name in neither table is a load error.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CoreParamKind(enum.Enum):
    INT = "int"
    BOOL = "bool"
    STR = "string"
    ANY = "any"
    MULTI = "repeatable"  # listen/socket/alias: every occurrence is kept


@dataclass(frozen=True, slots=True)
class CoreParam:
    kind: CoreParamKind
    canonical: str | None = None  # the 3.x name when this is an older spelling


_I, _B, _S, _A, _M = (
    CoreParamKind.INT,
    CoreParamKind.BOOL,
    CoreParamKind.STR,
    CoreParamKind.ANY,
    CoreParamKind.MULTI,
)

_CURRENT: dict[str, CoreParamKind] = {
    "abort_on_assert": _B,
    "advertised_address": _S,
    "advertised_port": _I,
    "alias": _M,
    "auto_aliases": _B,
    "auto_scaling_cycle": _I,
    "auto_scaling_profile": _A,
    "check_via": _B,
    "chroot": _S,
    "db_default_url": _S,
    "db_max_async_connections": _I,
    "db_version_table": _S,
    "debug_mode": _B,
    "disable_503_translation": _B,
    "disable_core_dump": _B,
    "disable_dns_blacklist": _B,
    "disable_dns_failover": _B,
    "disable_stateless_fwd": _B,
    "dns": _B,
    "dns_retr_no": _I,
    "dns_retr_time": _I,
    "dns_servers_no": _I,
    "dns_try_ipv6": _B,
    "dns_try_naptr": _B,
    "dns_use_search_list": _B,
    "dst_blacklist": _M,
    "enable_asserts": _B,
    "event_pkg_threshold": _I,
    "event_shm_threshold": _I,
    "exec_dns_threshold": _I,
    "exec_msg_threshold": _I,
    "group": _A,
    "listen": _M,
    "log_event_enabled": _B,
    "log_event_level_filter": _I,
    "log_facility": _A,
    "log_json_buf_size": _I,
    "log_level": _I,
    "log_msg_buf_size": _I,
    "log_name": _S,
    "log_prefix": _S,
    "max_while_loops": _I,
    "maxbuffer": _I,
    "mcast_loopback": _B,
    "mcast_ttl": _I,
    "mem_dump": _I,
    "mem_log": _I,
    "mem_warming": _B,
    "mem_warming_enabled": _B,
    "mem_warming_pattern_file": _S,
    "mem_warming_percentage": _I,
    "mhomed": _B,
    "mpath": _S,
    "open_files_limit": _I,
    "poll_method": _A,
    "query_buffer_size": _I,
    "query_flush_time": _I,
    "restart_persistency_cache_file": _S,
    "restart_persistency_size": _A,
    "rev_dns": _B,
    "server_header": _S,
    "server_signature": _B,
    "shm_hash_split_percentage": _I,
    "shm_memlog_size": _I,
    "shm_secondary_hash_size": _I,
    "sip_warning": _B,
    "socket": _M,
    "stderror_enabled": _B,
    "stderror_level_filter": _I,
    "stderror_log_format": _S,
    "syslog_enabled": _B,
    "syslog_facility": _A,
    "syslog_level_filter": _I,
    "syslog_log_format": _S,
    "syslog_name": _S,
    "tcp_accept_aliases": _B,
    "tcp_connect_timeout": _I,
    "tcp_connection_lifetime": _I,
    "tcp_keepalive": _B,
    "tcp_keepcount": _I,
    "tcp_keepidle": _I,
    "tcp_keepinterval": _I,
    "tcp_max_connections": _I,
    "tcp_max_connections_per_ip": _I,  # pysips's own (see docs/security.md)
    "tcp_max_msg_time": _I,
    "tcp_no_new_conn_bflag": _A,
    "tcp_no_new_conn_rplflag": _A,
    "tcp_socket_backlog": _I,
    "tcp_threads": _I,
    "tcp_threshold": _I,
    "tcp_workers": _I,
    "timer_workers": _I,
    "tos": _A,
    "udp_workers": _I,
    "user": _A,
    "user_agent_header": _S,
    "workdir": _S,
    "worker_reactor_timeout": _I,
    "xlog_buf_size": _I,
    "xlog_force_color": _B,
    "xlog_level": _I,
    "xlog_print_level": _I,
}

# Older spellings -> 3.x name (None: accepted and ignored, no 3.x equivalent).
_LEGACY: dict[str, str | None] = {
    "debug": "log_level",
    "log_stderror": "stderror_enabled",
    "log_stdout": None,
    "children": "udp_workers",
    "tcp_children": "tcp_workers",
    "fork": None,
    "memlog": "mem_log",
    "memdump": "mem_dump",
    "execmsgthreshold": "exec_msg_threshold",
    "execdnsthreshold": "exec_dns_threshold",
    "tcpthreshold": "tcp_threshold",
    "workerreactortimeout": "worker_reactor_timeout",
    "wdir": "workdir",
    "tcp_listen_backlog": "tcp_socket_backlog",
    "tcp_poll_method": "poll_method",
    "tcp_send_timeout": None,
    "disable_tcp": None,
    "disable_tls": None,
    "port": None,
    "uid": "user",
    "gid": "group",
    "mem_group": None,
}


# The 1.x core TLS parameters; since 2.x TLS is set up through the tls_mgm module. When tls_mgm is
# loaded, a value becomes that modparam of its default domains (unless the script sets it there);
# None: no tls_mgm equivalent, accepted and ignored.
LEGACY_TLS: dict[str, str | None] = {
    "tls_method": "tls_method",
    "tls_certificate": "certificate",
    "tls_private_key": "private_key",
    "tls_ca_list": "ca_list",
    "tls_ca_dir": "ca_dir",
    "tls_ciphers_list": "ciphers_list",
    "tls_dh_params": "dh_params",
    "tls_ec_curve": "ec_curve",
    "tls_verify_client": "verify_cert",
    "tls_require_client_certificate": "require_cert",
    "tls_verify_server": None,
    "tls_handshake_timeout": None,
    "tls_send_timeout": None,
    "tls_port_no": None,
    "tls_log": None,
}


def lookup(name: str) -> CoreParam | None:
    kind = _CURRENT.get(name)
    if kind is not None:
        return CoreParam(kind)
    if name in LEGACY_TLS:
        return CoreParam(CoreParamKind.ANY)
    if name in _LEGACY:
        canonical = _LEGACY[name]
        if canonical is None:
            return CoreParam(CoreParamKind.ANY)
        return CoreParam(_CURRENT[canonical], canonical)
    return None


def known_names() -> list[str]:
    return sorted([*_CURRENT, *_LEGACY, *LEGACY_TLS])
