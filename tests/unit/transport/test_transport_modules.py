"""proto_tcp/proto_tls/proto_ws/proto_wss/tls_mgm load from scripts as OpenSIPS writes them."""

from __future__ import annotations

import pytest

from pysips.script.compile import LoadOptions, check_script, load_script
from pysips.script.context import ProcessState
from pysips.script.parse import parse_text
from pysips.transport.stream_settings import settings_from
from pysips.transport.tls_domains import TlsDomains

SEED_2X = """
listen=ws:127.0.0.1:8080
listen=wss:127.0.0.1:443
listen=tls:127.0.0.1:5061
listen=tcp:127.0.0.1:5060
tcp_connection_lifetime=3605
tcp_connect_timeout=500
tcp_max_connections=4000
tcp_accept_aliases=yes
loadmodule "proto_tcp.so"
loadmodule "proto_tls.so"
loadmodule "proto_wss.so"
loadmodule "proto_ws.so"
loadmodule "tls_mgm.so"
modparam("proto_tcp", "tcp_max_msg_chunks", 8)
modparam("proto_ws", "require_origin", 1)
modparam("tls_mgm", "certificate","/etc/letsencrypt/live/acme.com/cert.pem")
modparam("tls_mgm", "private_key","/etc/letsencrypt/live/acme.com/privkey.pem")
route { exit; }
"""

DOMAINS_3X = """
socket=tls:10.0.0.10:5061
loadmodule "proto_tls.so"
loadmodule "tls_mgm.so"
modparam("tls_mgm", "server_domain", "dom1")
modparam("tls_mgm", "match_ip_address", "[dom1]10.0.0.10:5061")
modparam("tls_mgm", "match_sip_domain", "[dom1]atlanta.com")
modparam("tls_mgm", "certificate", "[dom1]/certs/atlanta.com/cert.pem")
modparam("tls_mgm", "private_key", "[dom1]/certs/atlanta.com/privkey.pem")
modparam("tls_mgm", "tls_method", "[dom1]TLSv1_2-")
modparam("tls_mgm", "verify_cert", "[dom1]1")
modparam("tls_mgm", "require_cert", "[dom1]0")
modparam("tls_mgm", "client_domain", "gw")
modparam("tls_mgm", "match_ip_address", "[gw]1.2.3.4:6677")
modparam("tls_mgm", "verify_cert", "[gw]0")
route { if (is_peer_verified()) xlog("$tls_peer_subject_cn $tls_version $tls_my_issuer\\n"); exit; }
"""


def test_seed_2x_form_loads_and_gives_settings() -> None:
    loaded = load_script(parse_text(SEED_2X, "seed.cfg"), LoadOptions())
    process = ProcessState()
    loaded.init_modules(process)
    settings = settings_from(process.services)
    assert settings.lifetime == 3605 and settings.max_connections == 4000 and settings.accept_aliases
    assert settings.connect_timeout == pytest.approx(0.5)
    assert settings.proto("tcp").max_chunks == 8
    assert settings.proto("ws").require_origin
    tls = process.modules["tls_mgm"]
    assert isinstance(tls, TlsDomains)
    default = next(d for d in tls.servers if d.implicit)
    assert default.settings["certificate"] == "/etc/letsencrypt/live/acme.com/cert.pem"


def test_3x_domains_and_tls_variables_load() -> None:
    report = check_script(parse_text(DOMAINS_3X, "dom.cfg"), LoadOptions())
    assert report.ok, [p.format() for p in report.problems]
    loaded = load_script(parse_text(DOMAINS_3X, "dom.cfg"), LoadOptions())
    process = ProcessState()
    loaded.init_modules(process)
    tls = process.modules["tls_mgm"]
    assert [d.name for d in tls.servers] == ["dom1", "default"]
    assert tls.servers[0].addresses == [("10.0.0.10", 5061)]
    assert tls.servers[0].sip_domains == ["atlanta.com"]


@pytest.mark.parametrize("line, message", [
    ('modparam("tls_mgm", "certificate", "[dom1/x.pem")', "no ']'"),
    ('modparam("tls_mgm", "db_url", "mysql://x")', "not supported"),
    ('modparam("proto_tcp", "trace_destination", "hep_dst")', "proto_hep"),
])
def test_bad_parameters_are_load_errors(line: str, message: str) -> None:
    text = 'loadmodule "proto_tcp.so"\nloadmodule "tls_mgm.so"\n' + line + "\nroute { exit; }\n"
    report = check_script(parse_text(text, "bad.cfg"), LoadOptions())
    assert not report.ok
    assert any(message in p.format() and ":3:" in p.format() for p in report.problems), \
        [p.format() for p in report.problems]


def test_proto_tls_needs_tls_mgm() -> None:
    text = 'loadmodule "proto_tls.so"\nroute { exit; }\n'
    report = check_script(parse_text(text, "nomgm.cfg"), LoadOptions())
    assert any("tls_mgm" in p.format() for p in report.problems)
