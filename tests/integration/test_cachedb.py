"""The core cache_* functions through `pysips -f`, over cachedb_local and a real Redis
(cachedb_redis): values, counters, expiry, raw queries, two storage ids, a Redis restart."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.integration.dbservers import Redis
from tests.integration.proxy_harness import LOCALHOST, Rig, pysips_argv, render_template
from tests.integration.test_registration import Reply, Ua

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SCRIPT = """\
log_level=3
stderror_enabled=yes
syslog_enabled=no
udp_workers=1
auto_aliases=no
socket=udp:127.0.0.1:@@PROXY_PORT@@

loadmodule "proto_udp.so"
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "cachedb_local.so"
modparam("cachedb_local", "cachedb_url", "local://")
modparam("cachedb_local", "cachedb_url", "local:other:///second")
loadmodule "cachedb_redis.so"
modparam("cachedb_redis", "cachedb_url", "redis:main://127.0.0.1:@@REDIS_PORT@@/")

route{
	$var(id) = $fU;
	if ($fU == "redis")
		$var(id) = "redis:main";
	if ($rU == "store") {
		$var(a) = cache_store("$var(id)", "k-$ci", "v'al \\"x\\"", 1);
		$var(b) = cache_add("$var(id)", "n-$ci", 5, 0, $var(n1));
		$var(c) = cache_sub("$var(id)", "n-$ci", 2, 0, $var(n2));
		sl_send_reply(200, "a=$var(a) b=$var(b) c=$var(c) n1=$var(n1) n2=$var(n2)");
		exit;
	}
	if ($rU == "fetch") {
		$var(v) = "none";
		$var(a) = cache_fetch("$var(id)", "k-$ci", $var(v));
		$var(b) = cache_counter_fetch("$var(id)", "n-$ci", $var(n));
		$var(c) = cache_fetch("local:other", "k-$ci", $var(w));
		sl_send_reply(200, "a=$var(a) v=$var(v) b=$var(b) n=$var(n) c=$var(c)");
		exit;
	}
	if ($rU == "remove") {
		$var(a) = cache_remove("$var(id)", "n-$ci");
		$var(b) = cache_counter_fetch("$var(id)", "n-$ci", $var(n));
		sl_send_reply(200, "a=$var(a) b=$var(b)");
		exit;
	}
	if ($rU == "raw") {
		cache_raw_query("redis:main", "HSET h-$ci f1 one f2 'two words'");
		$var(a) = cache_raw_query("redis:main", "HMGET h-$ci f1 f2", $avp(r));
		$var(b) = cache_raw_query("local", "GET x");
		sl_send_reply(200, "a=$var(a) r0=$(avp(r)[0]) r1=$(avp(r)[1]) b=$var(b)");
		exit;
	}
	sl_send_reply(404, "no such test");
}
"""


def start(rig: Rig, redis: Redis) -> None:
    template = rig.workdir / "cache.cfg.in"
    rig.workdir.mkdir(parents=True, exist_ok=True)
    template.write_text(SCRIPT)
    values = rig.ports.template_values(REDIS_PORT=redis.port)
    rig.start_proxy("pysips", pysips_argv(render_template(template, values, rig.workdir / "cache.cfg")))


def ask(ua: Ua, what: str, storage: str) -> str:
    ua.cseq += 1
    ua.send(
        f"MESSAGE sip:{what}@cache.test SIP/2.0\n"
        f"Via: SIP/2.0/UDP {LOCALHOST}:{ua.port};branch=z9hG4bK{uuid.uuid4().hex[:10]};rport\n"
        f"Max-Forwards: 70\n"
        f"From: <sip:{storage}@cache.test>;tag=f{ua.cseq}\n"
        f"To: <sip:{what}@cache.test>\n"
        f"Call-ID: {ua.callid}\n"
        f"CSeq: {ua.cseq} MESSAGE\n"
        f"Content-Length: 0\n\n"
    )
    reply: Reply = ua.final(timeout=5.0, cseq=f"{ua.cseq} MESSAGE")
    return reply.text.split("\r\n", 1)[0].split(" ", 2)[2]


@pytest.mark.parametrize("storage", ["local", "redis"])
def test_values_counters_and_expiry(rig: Rig, redis_server: Redis, storage: str) -> None:
    start(rig, redis_server)
    ua = Ua(rig.ports.proxy)
    try:
        assert ask(ua, "store", storage) == "a=1 b=1 c=1 n1=5 n2=3"
        assert ask(ua, "fetch", storage) == "a=1 v=v'al \"x\" b=1 n=3 c=-2"
        time.sleep(1.2)  # the value was stored for 1 s; the counter for ever
        assert ask(ua, "fetch", storage) == "a=-2 v=none b=1 n=3 c=-2"
        assert ask(ua, "remove", storage) == "a=1 b=-2"
    finally:
        ua.close()


def test_raw_queries_and_a_redis_restart(rig: Rig, redis_server: Redis) -> None:
    start(rig, redis_server)
    ua = Ua(rig.ports.proxy)
    try:
        assert ask(ua, "raw", "x") == "a=1 r0=one r1=two words b=-1"
        redis_server.stop()
        try:
            assert ask(ua, "store", "redis").startswith("a=-1 b=-1 c=-1")
        finally:
            redis_server.start()
        assert ask(ua, "store", "redis") == "a=1 b=1 c=1 n1=5 n2=3"
        assert rig.proxy is not None and rig.proxy.alive()
    finally:
        ua.close()
