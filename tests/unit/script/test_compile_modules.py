"""The bundled modules that are real now (maxfwd, cfgutils), run from scripts on parsed messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_compile_support import INVITE, RCV, REGISTER, message

from pysips.paths import modules_dir
from pysips.script.compile import LoadedScript, load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.parse import parse_text
from pysips.sip.message import SipMessage, parse_message

SCRIPT = """
loadmodule "maxfwd.so"
loadmodule "cfgutils.so"
modparam("maxfwd", "max_limit", 70)
route {
    $var(r) = mf_process_maxfwd_header(10);
    if ($var(r) < 0) { $var(out) = "483"; exit; }
    $var(out) = "ok";
}
route[lt] { if (is_maxfwd_lt(5)) return(1); return(-1); }
route[rand] { rand_set_prob(100); if (!rand_event()) return(-1);
    rand_set_prob(0); if (rand_event()) return(-2);
    if (rand_event(100)) return(3); return(-3); }
"""


def _with_maxfwd(value: str | None) -> SipMessage:
    text = REGISTER.decode()
    text = text.replace("Max-Forwards: 70\r\n", "" if value is None else f"Max-Forwards: {value}\r\n")
    msg = parse_message(text.encode())
    assert isinstance(msg, SipMessage)
    return msg


def _run(loaded: LoadedScript, msg: SipMessage, name: str | None = None) -> tuple[int, MsgContext]:
    process = ProcessState()
    loaded.init_modules(process)
    route = loaded.route(loaded.main_route.kind if loaded.main_route else None, name)  # type: ignore[arg-type]
    assert route is not None
    ctx = MsgContext(process, msg, RCV)
    return loaded.run(route, ctx), ctx


@pytest.fixture(scope="module")
def loaded() -> LoadedScript:
    return load_script(parse_text(SCRIPT, "m.cfg"))


def _var(ctx: MsgContext, name: str) -> object:
    return ctx.process.vars.get(name)


@pytest.mark.parametrize(
    ("header", "ret", "out", "sent"),
    [
        ("70", 1, "ok", "Max-Forwards: 69"),
        ("1", 1, "ok", "Max-Forwards: 0"),
        ("0", -1, "483", "Max-Forwards: 0"),
        # above max_limit: lowered to it, then decremented; written over the old digits, padded
        ("200", 1, "ok", "Max-Forwards:  70"),
        (None, 2, "ok", "Max-Forwards: 10"),
    ],
)
def test_mf_process_maxfwd_header(
    loaded: LoadedScript, header: str | None, ret: int, out: str, sent: str
) -> None:
    msg = _with_maxfwd(header)
    _, ctx = _run(loaded, msg)
    assert _var(ctx, "r") == ret and _var(ctx, "out") == out
    wire = msg.serialize().decode()
    assert wire.count("Max-Forwards") == 1 and sent + "\r\n" in wire


def test_is_maxfwd_lt(loaded: LoadedScript) -> None:
    assert _run(loaded, _with_maxfwd("3"), "lt")[0] == 1
    assert _run(loaded, _with_maxfwd("5"), "lt")[0] == -1
    assert _run(loaded, _with_maxfwd(None), "lt")[0] == -1


def test_cfgutils_probability(loaded: LoadedScript) -> None:
    assert _run(loaded, message(INVITE), "rand")[0] == 3


def test_residential_example_reports_only_missing_modules() -> None:
    from pysips.script.compile import LoadOptions, check_script
    from pysips.script.parse import parse_file

    path = Path(__file__).resolve().parents[3] / "examples" / "residential.cfg"
    report = check_script(parse_file(path), LoadOptions(base_dir=path.parent))
    missing = {name for name, _ in report.missing_modules}
    wanted = {
        "signaling",
        "sl",
        "tm",
        "rr",
        "maxfwd",
        "sipmsgops",
        "mi_fifo",
        "uri",
        "usrloc",
        "registrar",
        "rtpengine",
        "nathelper",
        "proto_udp",
        "proto_tls",
        "proto_wss",
        "proto_ws",
        "tls_mgm",
    }
    # other modules are being written alongside: whatever has no folder yet must be reported
    assert missing == {name for name in wanted if not (modules_dir() / name / "__init__.py").is_file()}
    # every error is a missing module or a function those modules would provide
    assert all(
        "unknown module" in p.message or "unknown function" in p.message
        for p in report.problems
        if not p.warning
    )
    assert "mf_process_maxfwd_header" not in report.unknown_functions
