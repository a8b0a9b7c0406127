"""Builds the page's JsSIP bundle (a build product, not in git) when it is missing or stale.

`npm ci` installs the versions pinned in browser/package.json and package-lock.json, and
`npm run bundle` has esbuild write browser/jssip.bundle.js (IIFE, global `JsSIP`).
Run by hand: `python3 -m tests.integration.e2e.bundle`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
BUNDLE = BROWSER_DIR / "jssip.bundle.js"
_INPUTS = ("package.json", "package-lock.json", "entry.js")


class BundleError(RuntimeError):
    pass


def bundle_is_fresh() -> bool:
    if not BUNDLE.exists():
        return False
    built = BUNDLE.stat().st_mtime
    return all((BROWSER_DIR / name).stat().st_mtime <= built for name in _INPUTS)


def ensure_bundle(timeout: float = 300.0) -> Path:
    if bundle_is_fresh():
        return BUNDLE
    npm = shutil.which("npm")
    if npm is None:
        raise BundleError("npm is not installed (apt: npm)")
    for argv in ([npm, "ci", "--no-audit", "--no-fund"], [npm, "run", "-s", "bundle"]):
        done = subprocess.run(argv, cwd=BROWSER_DIR, capture_output=True, timeout=timeout)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            raise BundleError(f"{' '.join(argv[1:])} failed in {BROWSER_DIR}:\n{output[-2000:]}")
    if not BUNDLE.exists():
        raise BundleError(f"esbuild did not write {BUNDLE}")
    return BUNDLE


if __name__ == "__main__":
    print(ensure_bundle())
    sys.exit(0)
