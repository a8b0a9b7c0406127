"""Where the corpus's SIPssert tests are (written by the OpenSIPS project, not by us)."""

from __future__ import annotations

from pathlib import Path

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus" / "sipssert"
if not CORPUS.is_dir():  # a checkout elsewhere
    CORPUS = Path("/work/shared/corpus/sipssert")
