"""tls_mgm: TLS domains, certificates and the `$tls_*` variables (OpenSIPS module `tls_mgm`).

Values are written `[domain]value` (3.x); without a domain they set the implicit default server and
client domains (2.x, as the WebSocket tutorial's script does). Relative paths are taken from the
script's folder (OpenSIPS's CFG_DIR). Domains in a database (db_url) are not supported: setting
db_url is a load error. See pysips/transport/tls_domains.py for how domains are chosen.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from pysips.core.services import TLS_DOMAINS
from pysips.script.context import MsgContext, RouteType
from pysips.script.errors import FixupError
from pysips.script.exports import (
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamType,
    PVarExport,
)
from pysips.transport.tls_domains import DOMAIN_PARAMS, TlsConfigError, TlsDomains, split_domain_value
from pysips.transport.tls_vars import ssl_object_of, tls_pvar_factory, tls_pvar_names

log = logging.getLogger("pysips.tls_mgm")


def _check_domain_value(value: Any) -> Any:
    try:
        split_domain_value(str(value))
    except TlsConfigError as exc:
        raise FixupError(str(exc)) from exc
    return value


def _refuse_db(value: Any) -> Any:
    if value:
        raise FixupError("TLS domains from a database (db_url) are not supported; define them with "
                         "server_domain/client_domain")
    return value


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> TlsDomains:
    files = getattr(getattr(mctx.script, "script", None), "files", ())
    cfg_dir = os.path.dirname(os.path.abspath(files[0])) if files else os.getcwd()
    try:
        domains = TlsDomains.from_params(params, cfg_dir)
    except TlsConfigError as exc:
        # as OpenSIPS's mod_init failing: the server does not start, naming the domain at fault
        raise TlsConfigError(f"tls_mgm: {exc}") from exc
    mctx.provide(TLS_DOMAINS, domains)
    return domains


def _is_peer_verified(ctx: MsgContext) -> int:
    obj = ssl_object_of(ctx)
    return 1 if obj is not None and obj.getpeercert() else -1


_DOMAIN_DOC = {
    "tls_method": "SSLv23, TLSv1, TLSv1_2, TLSv1_3 or a LOW-HIGH range",
    "verify_cert": "verify the peer's certificate (0/1)",
    "require_cert": "a server domain refuses clients without a certificate (0/1)",
    "certificate": "PEM certificate file",
    "private_key": "PEM private key file",
    "crl_check_all": "check CRLs along the whole chain",
    "crl_dir": "folder of CRLs",
    "ca_list": "PEM file of trusted CAs",
    "ca_dir": "hashed folder of trusted CAs",
    "ciphers_list": "OpenSSL cipher string",
    "dh_params": "PEM Diffie-Hellman parameters",
    "ec_curve": "elliptic curve name",
    "match_ip_address": "addresses (ip[:port], *) the domain applies to",
    "match_sip_domain": "SNI names (patterns, *, none) a server domain applies to",
}

exports = ModuleExports(
    "tls_mgm",
    functions=(
        FunctionExport("is_peer_verified", _is_peer_verified, route_types=RouteType.REQUEST,
                       doc="true when the TLS peer presented a verified certificate"),
    ),
    provides=(TLS_DOMAINS,),
    params=(
        ParamExport("server_domain", ParamType.STR, multi=True, doc="declare a TLS server domain"),
        ParamExport("client_domain", ParamType.STR, multi=True, doc="declare a TLS client domain"),
        *(ParamExport(name, ParamType.INT_OR_STR, multi=True, check=_check_domain_value,
                      doc=_DOMAIN_DOC[name])
          for name in DOMAIN_PARAMS),
        ParamExport("tls_library", ParamType.STR, "openssl", doc="accepted; Python's ssl (OpenSSL) is used"),
        ParamExport("client_tls_domain_avp", ParamType.STR, None, doc="accepted; not consulted yet"),
        ParamExport("client_sip_domain_avp", ParamType.STR, None, doc="accepted; not consulted yet"),
        ParamExport("db_url", ParamType.STR, None, check=_refuse_db, doc="not supported"),
        *(ParamExport(name, ParamType.STR, None, doc="accepted (database domains are not supported)")
          for name in ("db_table", "domain_col", "match_ip_address_col", "match_sip_domain_col",
                       "tls_method_col", "verify_cert_col", "require_cert_col", "certificate_col",
                       "private_key_col", "crl_check_all_col", "crl_dir_col", "ca_list_col", "ca_dir_col",
                       "ciphers_list_col", "dh_params_col", "ec_curve_col")),
    ),
    pvars=tuple(PVarExport(name, tls_pvar_factory, "TLS connection/certificate field")
                for name in tls_pvar_names()),
    init=_init,
    # OpenSIPS 3.x's tls_mgm hands the TLS work to one of these (its mod_init fails with "No TLS
    # library module loaded" otherwise); pysips's TLS is Python's ssl whichever is loaded
    opensips_needs_one_of=("tls_openssl", "tls_wolfssl"),
    doc="TLS domains and certificates",
)
