"""tls_mgm's `$tls_*` pseudo-variables, read from the connection a message came on.

Certificates are parsed with `cryptography` from their DER form (Python's `getpeercert()` gives
details only for verified peers), once per connection and kept on it.
"""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from pysips.core.services import TLS_DOMAINS
from pysips.script.context import MsgContext, Value
from pysips.script.pv_base import FuncPV, PVAccessor

if TYPE_CHECKING:
    from pysips.script.ast import Pos
    from pysips.transport.tls_domains import TlsDomains

_NAME_FIELDS = {
    "cn": NameOID.COMMON_NAME,
    "locality": NameOID.LOCALITY_NAME,
    "country": NameOID.COUNTRY_NAME,
    "state": NameOID.STATE_OR_PROVINCE_NAME,
    "organization": NameOID.ORGANIZATION_NAME,
    "unit": NameOID.ORGANIZATIONAL_UNIT_NAME,
}
_SHORT = {NameOID.COMMON_NAME: "CN", NameOID.LOCALITY_NAME: "L", NameOID.COUNTRY_NAME: "C",
          NameOID.STATE_OR_PROVINCE_NAME: "ST", NameOID.ORGANIZATION_NAME: "O",
          NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.EMAIL_ADDRESS: "emailAddress"}


class SessionFacts:
    """A TLS session as a worker process sees it (docs/workers.md): the main process holds the
    connection and sends these facts of its SSL object with the connection's messages. Offers
    what the `$tls_*` variables read of an SSL object."""

    __slots__ = ("_cipher", "_peer_der", "_verified", "_version", "my_cert_der")

    def __init__(self, version: str | None, cipher: tuple[str, str, int] | None, peer_der: bytes | None,
                 verified: bool, my_cert_der: bytes | None) -> None:
        self._version = version
        self._cipher = cipher
        self._peer_der = peer_der
        self._verified = verified
        self.my_cert_der = my_cert_der

    def version(self) -> str | None:
        return self._version

    def cipher(self) -> tuple[str, str, int] | None:
        return self._cipher

    def getpeercert(self, binary_form: bool = False) -> Any:
        if binary_form:
            return self._peer_der
        return {"verified": True} if self._verified else {}


def session_facts(obj: ssl.SSLObject, domains: TlsDomains | None) -> tuple[Any, ...]:
    """What SessionFacts needs, picklable (the main process, once per connection)."""
    dom = domains.domain_of_context(obj.context) if domains is not None else None
    return (obj.version(), obj.cipher(), obj.getpeercert(binary_form=True), bool(obj.getpeercert()),
            dom.my_cert_der if dom is not None else None)


# conn_id -> the facts of that connection's session, in a worker process
REMOTE_SESSIONS: dict[int, SessionFacts] = {}


def ssl_object_of(ctx: MsgContext) -> ssl.SSLObject | SessionFacts | None:
    """The SSL object of the TLS/WSS connection ctx's message came on (in a worker process,
    the facts the main process sent of it)."""
    from pysips.transport.stream_conn import StreamConnection
    from pysips.transport.stream_listeners import existing_streams

    rcv = ctx.rcv
    core = ctx.process.core
    if rcv is None or not rcv.conn_id or rcv.proto not in ("tls", "wss") or core is None:
        return None
    streams = existing_streams(core)
    if streams is None:
        return REMOTE_SESSIONS.get(rcv.conn_id)
    conn = streams.table.by_id(rcv.conn_id)
    if not isinstance(conn, StreamConnection):
        return None
    return conn.ssl_object


def _cert(ctx: MsgContext, peer: bool) -> x509.Certificate | None:
    obj = ssl_object_of(ctx)
    if obj is None:
        return None
    der = obj.getpeercert(binary_form=True) if peer else _my_cert_der(ctx, obj)
    if not der:
        return None
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return None


def _my_cert_der(ctx: MsgContext, obj: ssl.SSLObject | SessionFacts) -> bytes | None:
    if isinstance(obj, SessionFacts):
        return obj.my_cert_der
    domains = ctx.process.services.get(TLS_DOMAINS)
    if domains is None:
        return None
    dom = domains.domain_of_context(obj.context)
    return None if dom is None else dom.my_cert_der


def _name_text(name: x509.Name) -> str:
    parts = []
    for attr in name:
        key = _SHORT.get(attr.oid, attr.oid.dotted_string)
        parts.append(f"/{key}={attr.value!s}")
    return "".join(parts)


def _name_field(name: x509.Name, oid: x509.ObjectIdentifier) -> Value:
    attrs = name.get_attributes_for_oid(oid)
    return str(attrs[0].value) if attrs else None


def _san(cert: x509.Certificate, kind: type[Any]) -> Value:
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return None
    assert isinstance(ext.value, x509.SubjectAlternativeName)
    values = ext.value.get_values_for_type(kind)
    return str(values[0]) if values else None


def _conn_getter(name: str) -> Callable[[MsgContext], Value] | None:
    if name == "tls_version":
        return lambda c: _obj_attr(c, lambda o: o.version())
    if name == "tls_description":
        return lambda c: _obj_attr(c, lambda o: o.version())
    if name == "tls_cipher_info":
        return lambda c: _obj_attr(c, lambda o: (o.cipher() or ("",))[0])
    if name == "tls_cipher_bits":
        return lambda c: _obj_attr(c, lambda o: (o.cipher() or ("", "", 0))[2])
    if name == "tls_peer_verified":
        return _peer_verified
    if name in ("tls_peer_expired", "tls_peer_selfsigned", "tls_peer_revoked", "tls_peer_notBefore",
                "tls_peer_notAfter"):
        return _peer_status(name[len("tls_peer_"):])
    return None


def _obj_attr(ctx: MsgContext, fn: Callable[[Any], Any]) -> Value:
    obj = ssl_object_of(ctx)
    if obj is None:
        return None
    value = fn(obj)
    return value if isinstance(value, int | str) else None


def _peer_verified(ctx: MsgContext) -> Value:
    obj = ssl_object_of(ctx)
    if obj is None:
        return None
    # Python exposes the parsed peer certificate only when it was verified
    return 1 if obj.getpeercert() else 0


def _peer_status(what: str) -> Callable[[MsgContext], Value]:
    def get(ctx: MsgContext) -> Value:
        cert = _cert(ctx, True)
        if cert is None:
            return None
        if what == "expired":
            return 1 if cert.not_valid_after_utc < datetime.datetime.now(datetime.UTC) else 0
        if what == "selfsigned":
            return 1 if cert.issuer == cert.subject else 0
        if what == "revoked":
            return 0  # a revoked certificate fails the handshake when CRLs are configured
        when = cert.not_valid_before_utc if what == "notBefore" else cert.not_valid_after_utc
        return when.strftime("%b %d %H:%M:%S %Y GMT")

    return get


def _field_reader(rest: str) -> Callable[[x509.Certificate], Value] | None:
    """How to read `rest` (the part after tls_peer_/tls_my_) from a certificate."""
    if rest == "version":
        return lambda x: str(x.version.value + 1)
    if rest == "serial":
        return lambda x: str(x.serial_number)
    if rest == "subject":
        return lambda x: _name_text(x.subject)
    if rest == "issuer":
        return lambda x: _name_text(x.issuer)
    which, _, field = rest.partition("_")
    if which in ("subject", "issuer") and field in _NAME_FIELDS:
        oid = _NAME_FIELDS[field]
        if which == "subject":
            return lambda x: _name_field(x.subject, oid)
        return lambda x: _name_field(x.issuer, oid)
    sans: dict[str, type[Any]] = {"san_email": x509.RFC822Name, "san_hostname": x509.DNSName,
                                  "san_uri": x509.UniformResourceIdentifier, "san_ip": x509.IPAddress}
    kind = sans.get(rest)
    if kind is not None:
        return lambda x: _san(x, kind)
    return None


def _cert_getter(name: str) -> Callable[[MsgContext], Value] | None:
    for side in ("peer", "my"):
        prefix = f"tls_{side}_"
        if not name.startswith(prefix):
            continue
        reader = _field_reader(name[len(prefix):])
        if reader is None:
            return None
        peer = side == "peer"

        def get(ctx: MsgContext, reader: Callable[[x509.Certificate], Value] = reader,
                peer: bool = peer) -> Value:
            cert = _cert(ctx, peer)
            return None if cert is None else reader(cert)

        return get
    return None


def tls_pvar_names() -> list[str]:
    names = ["tls_version", "tls_description", "tls_cipher_info", "tls_cipher_bits", "tls_peer_verified",
             "tls_peer_revoked", "tls_peer_expired", "tls_peer_selfsigned", "tls_peer_notBefore",
             "tls_peer_notAfter"]
    for side in ("peer", "my"):
        names += [f"tls_{side}_version", f"tls_{side}_serial"]
        for which in ("subject", "issuer"):
            names.append(f"tls_{side}_{which}")
            names += [f"tls_{side}_{which}_{f}" for f in _NAME_FIELDS]
        names += [f"tls_{side}_san_{k}" for k in ("email", "hostname", "uri", "ip")]
    return names


def tls_pvar_factory(name: str, subname: str | None, pos: Pos) -> PVAccessor:
    getter = _conn_getter(name) or _cert_getter(name)
    if getter is None:  # every exported name has a getter; this guards the table above
        raise ValueError(f"${name}: no such TLS variable")
    return FuncPV(f"${name}", getter)
