"""Starting pysips on a script held in a test, over an SQLite database made by `pysips db create`
(the routing modules' call tests: dispatcher, drouting, load_balancer, menuconfig's scripts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration.proxy_harness import Rig, render_template
from tests.integration.test_udp_engine import server_argv


def create_sqlite(db: Path, *modules: str) -> Path:
    """An SQLite database with the tables (and version rows) of `modules`, as `pysips db create
    -m MODULE ...` makes them."""
    selected = [arg for module in modules for arg in ("-m", module)]
    subprocess.run([sys.executable, "-m", "pysips", "db", "create", *selected, f"sqlite://{db}"],
                   check=True, capture_output=True, timeout=60)
    return db


def start_script(rig: Rig, script: str, name: str, **values: object) -> None:
    """pysips on `script`, its @@NAME@@ placeholders filled from the rig's ports and `values`
    (one left unfilled is an error)."""
    rig.workdir.mkdir(parents=True, exist_ok=True)
    template = rig.workdir / f"{name}.cfg.in"
    template.write_text(script)
    cfg = render_template(template, rig.ports.template_values(**values), rig.workdir / f"{name}.cfg")
    rig.start_proxy("pysips", server_argv(cfg))
