"""Fixtures for the integration rig: a Rig per test, torn down (all processes killed) afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.proxy_harness import Rig, rig_in


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kamailio: runs the scenarios through Kamailio (reference proxy)")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with rig_in(tmp_path / "rig") as r:
        yield r

# Private database servers (started once per session when a test asks for one)
from tests.integration.dbservers import (  # noqa: E402, F401
    mariadb,
    postgres,
    redis_server,
    sql_db,
    sql_server,
)
