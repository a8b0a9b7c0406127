"""Suite-wide fixtures."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _pysips_logging_restored() -> Iterator[None]:
    """A test that runs the server in this process (tests/integration/inprocess.py) configures the
    `pysips` logger as `pysips -f` does (its own handler, no propagation); later tests that read
    logs through caplog need it as it was."""
    logger = logging.getLogger("pysips")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate
