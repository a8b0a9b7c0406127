"""OpenSIPS modules the reference build leaves out, built on demand for the differential tests.

The shared build script makes OpenSIPS's default module set plus a few; dialplan is not in it
(its Makefile looks for PCRE2 headers, the build machine has PCRE 1's, which dialplan also
supports). `extra_module("dialplan")` compiles it once from the same tarball, with the same
default build settings as the core, into a folder beside the reference install, and returns the
.so path for `loadmodule "<path>"`. A build failure fails the test that needed it, with the log.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from tests.differential.reference import DEFAULT_PREFIX

TARBALL = Path("/work/shared/tools/opensips/opensips-3.6.8.tar.xz")
EXTRA_DIR = DEFAULT_PREFIX.parent / "opensips-3.6.8-extra"
# make variables per module: dialplan on PCRE 1 (libpcre3-dev)
MAKE_VARS = {"dialplan": ["PCRE_LIB=pcre"]}


def extra_module(name: str) -> Path:
    target = EXTRA_DIR / f"{name}.so"
    if target.is_file():
        return target
    if not TARBALL.is_file():
        pytest.fail(f"cannot build OpenSIPS's {name}.so: {TARBALL} is missing", pytrace=False)
    EXTRA_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        with tarfile.open(TARBALL) as tar:
            tar.extractall(work, filter="data")
        tree = Path(work) / "opensips-3.6.8"
        done = subprocess.run(["make", "-j2", "modules", f"modules=modules/{name}",
                               *MAKE_VARS.get(name, [])], cwd=tree, capture_output=True,
                              text=True, timeout=600, check=False)
        built = tree / "modules" / name / f"{name}.so"
        if done.returncode != 0 or not built.is_file():
            pytest.fail(f"building OpenSIPS's {name}.so failed:\n{done.stdout[-3000:]}"
                        f"{done.stderr[-3000:]}", pytrace=False)
        shutil.copy2(built, target)
    return target
