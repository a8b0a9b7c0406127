"""The 1.x/2.x -> 3.x rewrite table: OpenSIPS 3.6 accepts what it produces, and the docs list it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.differential.dialect import RULES, markdown_table, to_opensips_3
from tests.differential.reference import REPO_ROOT, check_opensips_script, opensips_modules_dir

pytestmark = pytest.mark.integration

SEED = REPO_ROOT / "tests" / "data" / "seed-residential.cfg"


def _with_reference_mpath(script: str) -> str:
    return script.replace('mpath="/usr/local/lib/opensips/modules/"', f'mpath="{opensips_modules_dir()}/"')


def test_opensips_refuses_the_seed_as_written(tmp_path: Path) -> None:
    """The seed script uses 1.x/2.x spellings: OpenSIPS 3.6 does not load it unchanged."""
    code, output = check_opensips_script(_with_reference_mpath(SEED.read_text()), tmp_path)
    assert code != 0, output


def test_opensips_accepts_the_rewritten_seed(tmp_path: Path) -> None:
    code, output = check_opensips_script(_with_reference_mpath(to_opensips_3(SEED.read_text())), tmp_path)
    assert code == 0, output


def test_rewrite_examples() -> None:
    script = (
        "debug=3\nchildren=4\nfork=yes\nlisten=udp:127.0.0.1:5060\n"
        'loadmodule "uri.so"\nmodparam("uri", "use_uri_table", 0)\n'
        'route { if (!uri==myself && from_uri!=myself) sl_send_reply("404", "x"); '
        'if (method=="INVITE" && proto == WS) setflag(NAT); xlog("$pr $Rp"); }\n'
    )
    assert to_opensips_3(script) == (
        "log_level=3\nudp_workers=4\n\nlisten=udp:127.0.0.1:5060\n\n\n"
        'route { if (!is_myself("$ru") && !is_myself("$fu")) sl_send_reply(404, "x"); '
        'if ($rm=="INVITE" && $socket_in(proto) == "WS") setflag("NAT"); '
        'xlog("$socket_in(proto) $socket_in(port)"); }\n'
    )


def test_compatibility_page_lists_every_rule() -> None:
    page = (REPO_ROOT / "docs" / "compatibility.md").read_text()
    assert markdown_table() in page
    assert len(RULES) >= 10
