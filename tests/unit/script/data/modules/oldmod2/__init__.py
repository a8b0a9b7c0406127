"""Test-only module offering the same fallback as oldmod (two 1.x modules, one 3.x provider)."""

from __future__ import annotations

from pysips.script.exports import ModuleExports, fallback_alias

exports = ModuleExports("oldmod2", functions=(fallback_alias("shared_fn", "provmod"),))
