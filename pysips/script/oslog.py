"""OpenSIPS log levels on top of Python logging, and a formatter that prints OpenSIPS-like lines.

OpenSIPS numbers its levels L_ALERT=-3 .. L_DBG=4 and prints `Mon DD HH:MM:SS [pid] LEVEL:text`
(core messages add `module:function: ` after the level). `log_level=`/`debug=` take those numbers.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import TextIO

ALERT = 55
NOTICE = 25

logging.addLevelName(ALERT, "ALERT")
logging.addLevelName(NOTICE, "NOTICE")

# OpenSIPS level number -> Python logging level
OS_TO_PY: dict[int, int] = {
    -3: ALERT,
    -2: logging.CRITICAL,
    -1: logging.ERROR,
    0: logging.WARNING,  # L_WARN is 1; 0 is unused by OpenSIPS but accepted
    1: logging.WARNING,
    2: NOTICE,
    3: logging.INFO,
    4: logging.DEBUG,
}

# Script level names as xlog takes them.
LEVEL_NAMES: dict[str, int] = {
    "L_ALERT": -3,
    "L_CRIT": -2,
    "L_ERR": -1,
    "L_WARN": 1,
    "L_NOTICE": 2,
    "L_INFO": 3,
    "L_DBG": 4,
}

_PREFIX = {
    ALERT: "ALERT:",
    logging.CRITICAL: "CRITICAL:",
    logging.ERROR: "ERROR:",
    logging.WARNING: "WARNING:",
    NOTICE: "NOTICE:",
    logging.INFO: "INFO:",
    logging.DEBUG: "DBG:",
}

SCRIPT_LOGGER = "pysips.script.xlog"
# Lines OpenSIPS prints without a "module:" component: xlog's, and acc's records (LM_GEN2)
BARE_LOGGERS = frozenset({SCRIPT_LOGGER, "pysips.acc"})


def py_level(os_level: int) -> int:
    if os_level <= -3:
        return ALERT
    if os_level >= 4:
        return logging.DEBUG
    return OS_TO_PY[os_level]


class OpenSIPSFormatter(logging.Formatter):
    """`Nov 26 03:40:00 [1234] ERROR:core: text`; script (xlog) and accounting lines carry no
    component."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%b %d %H:%M:%S", time.localtime(record.created))
        prefix = _PREFIX.get(record.levelno, "DBG:")
        text = record.getMessage()
        if record.name not in BARE_LOGGERS:
            component = record.name.rsplit(".", 1)[-1]
            text = f"{component}: {text}"
        line = f"{stamp} [{record.process}] {prefix}{text}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _raw_stderr() -> TextIO:
    """stderr writing the bytes a script value holds: a message byte that is not UTF-8 travels as
    a surrogate escape and must reach the log as that byte (as OpenSIPS prints it), not as
    Python's `\\udcXX` text."""
    if sys.stderr.encoding.lower().replace("-", "") == "utf8" and sys.stderr.errors != "surrogateescape":
        # a replaced stderr (tests capturing output) keeps its own rules
        with contextlib.suppress(AttributeError, ValueError):
            sys.stderr.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
    return sys.stderr


def setup_logging(os_level: int, stream: TextIO | None = None) -> None:
    """Route pysips logging to `stream` (stderr by default) at the given OpenSIPS level."""
    root = logging.getLogger("pysips")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or _raw_stderr())
    handler.setFormatter(OpenSIPSFormatter())
    root.addHandler(handler)
    root.setLevel(py_level(os_level))
    root.propagate = False
