"""One script, run by pysips or by the reference OpenSIPS 3.6 (the build scripts/setup makes),
for the integration tests that check both read and write the same databases (test_db_differential,
test_db_text_differential, test_sqlops). The script names the module path `@@MPATH@@`: the
reference's module folder for OpenSIPS, nothing for pysips."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.proxy_harness import Rig, pysips_argv, render_template
from tests.integration.test_databases import digest, register
from tests.integration.test_registration import Ua

OPENSIPS_HOME = Path("/var/cache/pysips/opensips-3.6.8")
OPENSIPS = OPENSIPS_HOME / "sbin" / "opensips"
OPENSIPS_MODULES = OPENSIPS_HOME / "lib64" / "opensips" / "modules"


def start_server(rig: Rig, script: str, name: str, which: str, values: dict[str, object],
                 needs: tuple[str, ...] = ()) -> None:
    """Starts `which` ("pysips" or "opensips") on `script` filled with `values` (and the rig's
    ports); OpenSIPS's copy is checked with `opensips -C` first, and must have the modules `needs`
    names (a missing one fails the test: scripts/setup builds them)."""
    template = rig.workdir / f"{name}.cfg.in"
    rig.workdir.mkdir(parents=True, exist_ok=True)
    template.write_text(script)
    opensips = which == "opensips"
    mpath = f'mpath="{OPENSIPS_MODULES}"' if opensips else ""
    filled = rig.ports.template_values(MPATH=mpath, **values)
    cfg = render_template(template, filled, rig.workdir / f"{name}.cfg")
    if not opensips:
        rig.start_proxy("pysips", pysips_argv(cfg))
        return
    missing = [m for m in needs if not (OPENSIPS_MODULES / f"{m}.so").exists()]
    if not OPENSIPS.exists() or missing:
        pytest.fail(f"{OPENSIPS} or its modules {missing} missing: scripts/setup builds the reference"
                    " OpenSIPS 3.6")
    check = subprocess.run([str(OPENSIPS), "-C", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    rig.start_proxy("opensips", [str(OPENSIPS), "-F", "-m", "64", "-M", "8", "-f", str(cfg)])


def authenticated_register(ua: Ua, user: str, password: str, headers: str = "") -> int:
    """A REGISTER answered 401 on realm auth.test, then again with the digest answer (and
    `headers`, lines ending in \\n, on both): the final status."""
    challenge = register(ua, user, "auth.test", headers)
    assert challenge.status == 401, challenge.text
    www = challenge.values("www-authenticate")[0]
    return register(ua, user, "auth.test", digest(www, user, password, "sip:auth.test") + headers).status
