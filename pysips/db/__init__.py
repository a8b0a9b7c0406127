"""Database access for modules: URL parsing, the driver registry, the OpenSIPS table schemas."""

from pysips.db.api import (
    Condition,
    Database,
    DbDateTime,
    DbError,
    DbValue,
    Row,
    Where,
    connect,
    has_driver,
    register_driver,
)
from pysips.db.schema import LOCATION, SUBSCRIBER, VERSION, Column, Table
from pysips.db.url import DbUrl, DbUrlError, parse_db_url

__all__ = [
    "LOCATION",
    "SUBSCRIBER",
    "VERSION",
    "Column",
    "Condition",
    "Database",
    "DbDateTime",
    "DbError",
    "DbUrl",
    "DbUrlError",
    "DbValue",
    "Row",
    "Table",
    "Where",
    "connect",
    "has_driver",
    "parse_db_url",
    "register_driver",
]
