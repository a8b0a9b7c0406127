"""tls_mgm domains: `[dom]value` parsing, the 2.x default domain, selection by address and SNI."""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path

import pytest

from pysips.devcert import make_dev_certificate
from pysips.transport.tls_domains import (
    TlsConfigError,
    TlsDomains,
    parse_addresses,
    parse_method,
    split_domain_value,
)


def test_split_domain_value() -> None:
    assert split_domain_value("[dom1]/a/b.pem") == ("dom1", "/a/b.pem")
    assert split_domain_value("/a/b.pem") == (None, "/a/b.pem")
    with pytest.raises(TlsConfigError):
        split_domain_value("[dom1/a")
    with pytest.raises(TlsConfigError):
        split_domain_value("[]x")


def test_methods_and_addresses() -> None:
    assert parse_method("SSLv23") == (None, None)
    assert parse_method("TLSv1_2") == (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
    assert parse_method("TLSv1_2-") == (ssl.TLSVersion.TLSv1_2, None)
    assert parse_method("-TLSv1_3") == (None, ssl.TLSVersion.TLSv1_3)
    with pytest.raises(TlsConfigError):
        parse_method("SSLv2")
    assert parse_addresses("10.0.0.10:5061, *") == [("10.0.0.10", 5061), (None, None)]
    assert parse_addresses("[::1]:5061") == [("::1", 5061)]
    with pytest.raises(TlsConfigError):
        parse_addresses("not-an-ip:5061")


def test_undefined_domain_is_an_error() -> None:
    with pytest.raises(TlsConfigError, match=r"\[nodom\] is not defined"):
        TlsDomains.from_params({"certificate": ["[nodom]/x.pem"]})


def test_2x_form_sets_the_default_domain_without_client_certificates(tmp_path: Path) -> None:
    cert, key = make_dev_certificate(tmp_path)
    domains = TlsDomains.from_params({"certificate": [str(cert)], "private_key": [str(key)]})
    domains.build(need_server=True)
    ctx = domains.server_context_for("127.0.0.1", 5061)
    assert ctx is not None and ctx.verify_mode == ssl.CERT_NONE  # browsers have no certificate
    assert domains.client_domain_for("192.0.2.1", 5061) is not None


def test_missing_certificate_names_the_domain(tmp_path: Path) -> None:
    domains = TlsDomains.from_params({"server_domain": ["d1"], "certificate": ["[d1]missing.pem"]},
                                     cfg_dir=str(tmp_path))
    with pytest.raises(TlsConfigError, match=r"\[d1\].*missing.pem"):
        domains.build(need_server=True)


def test_declared_server_domain_keeps_opensips_defaults(tmp_path: Path) -> None:
    cert, key = make_dev_certificate(tmp_path)
    domains = TlsDomains.from_params({
        "server_domain": ["d1"], "certificate": [f"[d1]{cert}"], "private_key": [f"[d1]{key}"],
        "ca_list": [f"[d1]{cert}"],
    })
    domains.build(need_server=True)
    ctx = domains.server_context_for("127.0.0.1", 5061)
    assert ctx is not None and ctx.verify_mode == ssl.CERT_REQUIRED


def _handshake(server_ctx: ssl.SSLContext, sni: str | None) -> ssl.SSLObject:
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=sni)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for obj in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError):
                obj.do_handshake()
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    return client


def _cn(obj: ssl.SSLObject) -> str:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    der = obj.getpeercert(binary_form=True)
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_server_domain_chosen_by_sni(tmp_path: Path) -> None:
    a_cert, a_key = make_dev_certificate(tmp_path / "a", "atlanta.test")
    b_cert, b_key = make_dev_certificate(tmp_path / "b", "biloxi.test")
    g_cert, g_key = make_dev_certificate(tmp_path / "g", "generic.test")
    params = {
        "server_domain": ["a", "b", "g"],
        "match_sip_domain": ["[a]atlanta.test", "[b]*.biloxi.test", "[g]none"],
        "certificate": [f"[a]{a_cert}", f"[b]{b_cert}", f"[g]{g_cert}"],
        "private_key": [f"[a]{a_key}", f"[b]{b_key}", f"[g]{g_key}"],
        "verify_cert": ["[a]0", "[b]0", "[g]0"],
    }
    domains = TlsDomains.from_params(params)
    domains.build(need_server=True)
    ctx = domains.server_context_for("127.0.0.1", 5061)
    assert ctx is not None
    assert _cn(_handshake(ctx, "atlanta.test")) == "atlanta.test"
    assert _cn(_handshake(ctx, "sip.biloxi.test")) == "biloxi.test"
    assert _cn(_handshake(ctx, None)) == "generic.test"
    with pytest.raises(ssl.SSLError):
        _handshake(ctx, "unknown.test").getpeercert(binary_form=True) or _raise()


def _raise() -> None:
    raise ssl.SSLError("no certificate")


def test_server_domain_chosen_by_listening_address(tmp_path: Path) -> None:
    a_cert, a_key = make_dev_certificate(tmp_path / "a", "one.test")
    b_cert, b_key = make_dev_certificate(tmp_path / "b", "two.test")
    params = {
        "server_domain": ["one", "two"],
        "match_ip_address": ["[one]127.0.0.1:5061", "[two]*"],
        "certificate": [f"[one]{a_cert}", f"[two]{b_cert}"],
        "private_key": [f"[one]{a_key}", f"[two]{b_key}"],
        "verify_cert": ["[one]0", "[two]0"],
    }
    domains = TlsDomains.from_params(params)
    domains.build(need_server=True)
    one = domains.server_context_for("127.0.0.1", 5061)
    two = domains.server_context_for("127.0.0.1", 5062)
    assert one is not None and two is not None
    assert _cn(_handshake(one, None)) == "one.test"
    assert _cn(_handshake(two, None)) == "two.test"
