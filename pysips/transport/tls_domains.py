"""TLS domains as tls_mgm defines them, turned into Python `ssl` contexts.

A domain is a named set of TLS settings (certificate, key, CA list, method, verification) with
filters saying when it applies: `match_ip_address` (our listening socket for a server domain, the
destination for a client domain) and `match_sip_domain` (the SNI name a client sends, for a server
domain). Values are written `[name]value`, as in OpenSIPS 3.x. The 2.x form without `[name]` sets
the implicit default domains (one server, one client), which is what the seed script does.

Deliberate difference: OpenSIPS's defaults are verify_cert=1, require_cert=1, which make a server
demand client certificates that browsers never have. The implicit default server domain (2.x
form) does not ask for one unless verify_cert/require_cert are set; explicitly declared domains
keep OpenSIPS's defaults.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

DOMAIN_PARAMS = ("tls_method", "verify_cert", "require_cert", "certificate", "private_key", "crl_check_all",
                 "crl_dir", "ca_list", "ca_dir", "ciphers_list", "dh_params", "ec_curve", "match_ip_address",
                 "match_sip_domain")
DEFAULT_NAME = "default"

_VERSIONS = {
    "tlsv1": ssl.TLSVersion.TLSv1,
    "tlsv1_1": ssl.TLSVersion.TLSv1_1,
    "tlsv1_2": ssl.TLSVersion.TLSv1_2,
    "tlsv1_3": ssl.TLSVersion.TLSv1_3,
}


class TlsConfigError(ValueError):
    """A tls_mgm setting that cannot be used; the message names the domain and the parameter."""


def split_domain_value(text: str) -> tuple[str | None, str]:
    """`[dom]value` -> ("dom", "value"); a value without brackets -> (None, value)."""
    s = text.strip()
    if not s.startswith("["):
        return None, s
    end = s.find("]")
    if end < 0:
        raise TlsConfigError(f"{text!r}: no ']' closing the TLS domain name")
    name = s[1:end].strip()
    if not name:
        raise TlsConfigError(f"{text!r}: empty TLS domain name")
    return name, s[end + 1 :].strip()


def parse_method(text: str) -> tuple[ssl.TLSVersion | None, ssl.TLSVersion | None]:
    """tls_method: SSLv23 (any), TLSv1, TLSv1_2, TLSv1_3, or a range LOW-HIGH (either may be empty)."""
    t = text.strip().lower()
    if t in ("sslv23", "", "-"):
        return None, None
    if "-" in t:
        low, _, high = t.partition("-")
        return (_version(low, text) if low else None), (_version(high, text) if high else None)
    v = _version(t, text)
    return v, v


def _version(name: str, text: str) -> ssl.TLSVersion:
    found = _VERSIONS.get(name.strip())
    if found is None:
        raise TlsConfigError(f"unknown tls_method {text!r} (SSLv23, TLSv1, TLSv1_2, TLSv1_3 or LOW-HIGH)")
    return found


def _flag(value: str, what: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "yes", "true", "on"):
        return True
    if v in ("0", "no", "false", "off"):
        return False
    raise TlsConfigError(f"{what}: expected 0 or 1, got {value!r}")


AddressFilter = tuple[str | None, int | None]  # (ip or None for "*", port or None)


def parse_addresses(text: str) -> list[AddressFilter]:
    out: list[AddressFilter] = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        if item == "*":
            out.append((None, None))
            continue
        host, port = item, None
        if item.startswith("["):
            end = item.find("]")
            host, rest = item[1:end], item[end + 1 :]
            port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
        elif item.count(":") == 1:
            host, _, p = item.partition(":")
            if not p.isdigit():
                raise TlsConfigError(f"match_ip_address: bad port in {item!r}")
            port = int(p)
        try:
            ip = str(ipaddress.ip_address(host))
        except ValueError as exc:
            raise TlsConfigError(f"match_ip_address: {host!r} is not an IP address") from exc
        out.append((ip, port))
    return out


@dataclass(slots=True)
class TlsDomain:
    name: str
    server: bool  # server domain (incoming connections) or client domain (outgoing)
    implicit: bool = False  # the 2.x domain-less defaults
    settings: dict[str, str] = field(default_factory=dict)
    addresses: list[AddressFilter] = field(default_factory=lambda: [(None, None)])
    sip_domains: list[str] = field(default_factory=lambda: ["*"])
    context: ssl.SSLContext | None = None
    my_cert_der: bytes | None = None

    def addr_score(self, ip: str, port: int) -> int:
        """How specifically this domain matches an address: 3 ip+port, 2 ip, 1 any, 0 no match."""
        best = 0
        for fip, fport in self.addresses:
            if fip is None:
                best = max(best, 1)
            elif fip == ip and (fport is None or fport == port):
                best = max(best, 3 if fport is not None else 2)
        return best

    def sni_score(self, name: str | None) -> int:
        """How specifically this domain matches an SNI name (None: the client sent none)."""
        best = 0
        for pattern in self.sip_domains:
            if pattern == "*":
                best = max(best, 1)
            elif pattern.lower() == "none":
                if name is None:
                    best = max(best, 2)
            elif name is not None:
                if pattern.lower() == name.lower():
                    best = max(best, 1000)
                elif fnmatch.fnmatchcase(name.lower(), pattern.lower()):
                    best = max(best, 10 + len(pattern))
        return best

    def flag(self, name: str, default: bool) -> bool:
        value = self.settings.get(name)
        return default if value is None else _flag(value, f"[{self.name}]{name}")


class TlsDomains:
    """Every server and client domain of the script, with contexts built once at startup."""

    def __init__(self, servers: list[TlsDomain], clients: list[TlsDomain], cfg_dir: str = ".") -> None:
        self.servers = servers
        self.clients = clients
        self.cfg_dir = cfg_dir
        self._built = False

    @classmethod
    def from_params(cls, params: dict[str, Any], cfg_dir: str = ".") -> TlsDomains:
        """Build from tls_mgm's module parameters (each a list of `[dom]value` strings)."""
        servers: dict[str, TlsDomain] = {}
        clients: dict[str, TlsDomain] = {}
        for name in _values(params.get("server_domain")):
            if name in servers:
                raise TlsConfigError(f"server_domain {name!r} defined twice")
            servers[name] = _new_domain(name, True)
        for name in _values(params.get("client_domain")):
            if name in clients:
                raise TlsConfigError(f"client_domain {name!r} defined twice")
            clients[name] = _new_domain(name, False)
        default_srv = TlsDomain(DEFAULT_NAME, True, implicit=True)
        default_cli = TlsDomain(DEFAULT_NAME, False, implicit=True)
        for pname in DOMAIN_PARAMS:
            for raw in _values(params.get(pname)):
                dom_name, value = split_domain_value(raw)
                if dom_name is None:
                    targets = [default_srv, default_cli]
                else:
                    targets = [d for d in (servers.get(dom_name), clients.get(dom_name)) if d is not None]
                    if not targets:
                        raise TlsConfigError(f"{pname}: TLS domain [{dom_name}] is not defined "
                                             f"(declare it with server_domain or client_domain)")
                for dom in targets:
                    _apply(dom, pname, value)
        server_list = list(servers.values())
        client_list = list(clients.values())
        # the implicit domains serve whatever no declared domain matches
        server_list.append(default_srv)
        client_list.append(default_cli)
        return cls(server_list, client_list, cfg_dir)

    # ------------------------------------------------------------------ contexts

    def build(self, need_server: bool) -> None:
        """Create every context; raises TlsConfigError naming what is wrong."""
        if self._built:
            return
        for dom in self.servers:
            if dom.implicit and not need_server and "certificate" not in dom.settings:
                continue
            if dom.implicit and len(self.servers) > 1 and "certificate" not in dom.settings:
                continue  # declared domains carry the certificates
            dom.context = self._server_context(dom)
        for dom in self.clients:
            dom.context = self._client_context(dom)
        self._built = True

    def _path(self, dom: TlsDomain, name: str, default: str | None) -> str | None:
        value = dom.settings.get(name, default)
        if value is None:
            return None
        return value if os.path.isabs(value) else os.path.join(self.cfg_dir, value)

    def _common(self, ctx: ssl.SSLContext, dom: TlsDomain, verify: bool) -> None:
        low, high = parse_method(dom.settings.get("tls_method", "SSLv23"))
        try:
            if low is not None:
                ctx.minimum_version = low
            if high is not None:
                ctx.maximum_version = high
            ciphers = dom.settings.get("ciphers_list")
            if ciphers:
                ctx.set_ciphers(ciphers)
            curve = dom.settings.get("ec_curve")
            if curve:
                ctx.set_ecdh_curve(curve)
            dh = self._path(dom, "dh_params", None)
            if dh:
                ctx.load_dh_params(dh)
            ca_list = self._path(dom, "ca_list", None)
            ca_dir = self._path(dom, "ca_dir", None)
            if ca_list or ca_dir:
                ctx.load_verify_locations(cafile=ca_list, capath=ca_dir)
            elif verify:
                ctx.load_default_certs(ssl.Purpose.SERVER_AUTH if not dom.server else ssl.Purpose.CLIENT_AUTH)
            crl_dir = self._path(dom, "crl_dir", None)
            if crl_dir:
                ctx.load_verify_locations(capath=crl_dir)
                ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
                if dom.flag("crl_check_all", False):
                    ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise TlsConfigError(f"TLS domain [{dom.name}]: {exc}") from exc

    def _load_chain(self, ctx: ssl.SSLContext, dom: TlsDomain, required: bool) -> None:
        cert = self._path(dom, "certificate", os.path.join("tls", "cert.pem"))
        key = self._path(dom, "private_key", os.path.join("tls", "ckey.pem"))
        assert cert is not None and key is not None
        if not required and not os.path.exists(cert):
            return
        for path in (cert, key):
            if not os.path.isfile(path):
                raise TlsConfigError(f"TLS domain [{dom.name}]: cannot read {path}: no such file "
                                     f"(set tls_mgm certificate/private_key)")
        try:
            ctx.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise TlsConfigError(f"TLS domain [{dom.name}]: certificate {cert} / key {key}: {exc}") from exc
        try:
            with open(cert, "rb") as f:
                dom.my_cert_der = ssl.PEM_cert_to_DER_cert(f.read().decode("ascii", "replace"))
        except (OSError, ValueError):
            dom.my_cert_der = None

    def _server_context(self, dom: TlsDomain) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        default = not dom.implicit
        verify = dom.flag("verify_cert", default)
        require = dom.flag("require_cert", default)
        self._common(ctx, dom, verify)
        ctx.verify_mode = (ssl.CERT_REQUIRED if require else ssl.CERT_OPTIONAL) if verify else ssl.CERT_NONE
        self._load_chain(ctx, dom, required=True)
        return ctx

    def _client_context(self, dom: TlsDomain) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        verify = dom.flag("verify_cert", True)
        ctx.check_hostname = False  # SIP peers are dialled by address; the CA chain is what we check
        ctx.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
        self._common(ctx, dom, verify)
        self._load_chain(ctx, dom, required=False)
        return ctx

    # ------------------------------------------------------------------ selection

    def server_candidates(self, ip: str, port: int) -> list[TlsDomain]:
        """Server domains usable on our socket ip:port, most specific address match first."""
        scored = [(d.addr_score(ip, port), i, d) for i, d in enumerate(self.servers) if d.context is not None]
        scored = [s for s in scored if s[0] > 0]
        scored.sort(key=lambda s: (-s[0], s[1]))
        return [d for _, _, d in scored]

    def server_context_for(self, ip: str, port: int) -> ssl.SSLContext | None:
        """The context a listener starts with; SNI may switch it (see `choose_by_sni`)."""
        candidates = self.server_candidates(ip, port)
        if not candidates:
            return None
        base = choose_by_sni(candidates, None) or candidates[0]
        assert base.context is not None
        if len(candidates) > 1 or any(c.sip_domains != ["*"] for c in candidates):
            _install_sni(base.context, candidates)
        return base.context

    def client_domain_for(self, ip: str, port: int, sip_domain: str | None = None) -> TlsDomain | None:
        best: tuple[int, int] | None = None
        chosen: TlsDomain | None = None
        for dom in self.clients:
            if dom.context is None:
                continue
            a = dom.addr_score(ip, port)
            s = dom.sni_score(sip_domain) if sip_domain else (1 if "*" in dom.sip_domains else 0)
            if a == 0 or s == 0:
                continue
            score = (a, s)
            if best is None or score > best:
                best, chosen = score, dom
        return chosen

    def domain_of_context(self, ctx: ssl.SSLContext) -> TlsDomain | None:
        for dom in (*self.servers, *self.clients):
            if dom.context is ctx:
                return dom
        return None


def choose_by_sni(candidates: Iterable[TlsDomain], name: str | None) -> TlsDomain | None:
    best, chosen = 0, None
    for dom in candidates:
        score = dom.sni_score(name)
        if score > best:
            best, chosen = score, dom
    return chosen


def _install_sni(base: ssl.SSLContext, candidates: list[TlsDomain]) -> None:
    def pick(sslobj: ssl.SSLObject | ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext) -> int | None:
        dom = choose_by_sni(candidates, name)
        if dom is None or dom.context is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        if dom.context is not base:
            sslobj.context = dom.context
        return None

    base.sni_callback = pick


def _new_domain(name: str, server: bool) -> TlsDomain:
    dom = TlsDomain(name, server)
    # 2.x named domains by address ("1.2.3.4:5061"): keep matching on it
    try:
        dom.addresses = parse_addresses(name)
    except TlsConfigError:
        dom.addresses = [(None, None)]
    return dom


def _apply(dom: TlsDomain, pname: str, value: str) -> None:
    if pname == "match_ip_address":
        dom.addresses = parse_addresses(value)
    elif pname == "match_sip_domain":
        dom.sip_domains = [d.strip() for d in value.split(",") if d.strip()] or ["*"]
    else:
        if pname in ("verify_cert", "require_cert", "crl_check_all"):
            _flag(value, f"[{dom.name}]{pname}")
        elif pname == "tls_method":
            parse_method(value)
        dom.settings[pname] = value


def _values(raw: object) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, list | tuple):
        return [str(v) for v in raw if v is not None]
    return [str(raw)]
