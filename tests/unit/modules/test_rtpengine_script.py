"""rtpengine as a script sees it: what is refused when the script loads, and the seed's
residential use of the functions compiling."""

from __future__ import annotations

import pytest

from pysips.script.compile import load_script
from pysips.script.context import ProcessState
from pysips.script.errors import ScriptLoadError
from pysips.script.parse import parse_text

HEAD = 'loadmodule "rtpengine.so"\nmodparam("rtpengine", "rtpengine_sock", "udp:127.0.0.1:2223")\n'


def _errors(text: str) -> str:
    with pytest.raises(ScriptLoadError) as info:
        load_script(parse_text(HEAD + text, "r.cfg"))
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('route { rtpengine_offer("via-branch=sometimes"); }', "via-branch"),
        ('route { rtpengine_offer("in-iface=a"); }', "in-iface value without out-iface"),
        ('route { rtpengine_answer("codec=[strip=[PCMA]"); }', "unmatched bracket"),
        ('route { xlog("$rtpstat(MOS-average)"); }', "not supported by pysips yet"),
        ('modparam("rtpengine", "rtpengine_sock", "unix:/run/ng")\nroute { exit; }', "UNIX sockets"),
        ('modparam("rtpengine", "setid_avp", "$var(x)")\nroute { exit; }', "setid_avp must be an AVP"),
        ('modparam("rtpengine", "notification_sock", "127.0.0.1:9")\nroute { exit; }', "not supported"),
        ('route { rtpengine_delete("", $var(a), $var(b)); }', "takes 0 to 2 arguments"),
    ],
)
def test_refused_at_load(text: str, message: str) -> None:
    assert message in _errors(text)


def test_a_set_not_declared_is_looked_up_when_the_call_runs() -> None:
    """As OpenSIPS: rtpengine_use_set(N) of a set rtpengine_sock does not declare loads (with a
    `pysips -c` warning); the call itself fails, logging that it cannot find the set."""
    loaded = load_script(parse_text(HEAD + "route { rtpengine_use_set(3); }", "r.cfg"))
    found = [(w.pos.line, "rtpengine set 3 is not defined" in w.message) for w in loaded.warnings]
    assert found == [(3, True)]


def test_the_seed_uses_compile_and_init() -> None:
    text = """
modparam("rtpengine", "rtpengine_sock", "1 == udp:127.0.0.1:2224=2 udp:127.0.0.1:2225")
modparam("rtpengine", "rtpengine_tout", 2)
modparam("rtpengine", "rtpengine_retr", 1)
modparam("rtpengine", "rtpengine_disable_tout", 20)
modparam("rtpengine", "setid_avp", "$avp(setid)")
modparam("rtpengine", "extra_id_pv", "$avp(extra_id)")
route {
    rtpengine_use_set(1);
    $var(rtpengine_flags) = "RTP/AVP replace-session-connection replace-origin ICE=remove";
    rtpengine_offer("$var(rtpengine_flags)");
    rtpengine_offer("UDP/TLS/RTP/SAVPF ICE=force", $var(sock), $var(sdp), $rb);
    rtpengine_answer("ICE=force-relay DTLS=passive");
    rtpengine_manage();
    rtpengine_delete();
    rtpengine_start_recording();
    rtpengine_stop_recording("call-id=x");
    xlog("$rtpstat $rtpquery\\n");
}
"""
    loaded = load_script(parse_text(HEAD + text, "r.cfg"))
    process = ProcessState()
    loaded.init_modules(process)
    engine = process.modules["rtpengine"]
    assert sorted(engine.sets) == [0, 1]
    assert [(n.port, n.weight) for n in engine.sets[1].nodes] == [(2224, 2), (2225, 1)]
    assert engine.transport.timeout == 2 and engine.transport.retries == 1
    assert engine.disable_tout == 20 and engine.setid_avp == "setid"


def test_extra_id_pv_may_name_any_modules_variable() -> None:
    # rtpengine is loaded before tm here: the spec is resolved once every module is loaded
    text = ('loadmodule "tm.so"\nmodparam("rtpengine", "extra_id_pv", "$T_branch_idx")\n'
            'route { rtpengine_offer("via-branch=extra"); }\n')
    loaded = load_script(parse_text(HEAD + text, "r.cfg"))
    process = ProcessState()
    loaded.init_modules(process)
    assert callable(process.modules["rtpengine"].extra_id)
    assert "extra_id_pv" in _errors('modparam("rtpengine", "extra_id_pv", "$no_such_var")\nroute { exit; }')
