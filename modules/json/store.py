"""The $json variables of one process and the path walk of OpenSIPS's json module.

A variable lives from its first top-level assignment until the process ends (not per message),
as in OpenSIPS. Setting needs the path up to the last step to exist; `=` stores the value as is
(a string or an integer), `:=` parses it as JSON text, a NULL value deletes.
"""

from __future__ import annotations

import logging
from typing import Any

from .path import Tag
from .values import dumps

log = logging.getLogger("pysips.modules.json")

_MISSING = object()
DELETE = object()  # what pv_add_json receives to delete (OpenSIPS's NULL object)


class WalkError(LookupError):
    pass


class JsonStore:
    __slots__ = ("vars",)

    def __init__(self) -> None:
        self.vars: dict[str, Any] = {}

    def has(self, name: str) -> bool:
        return name in self.vars

    def walk(self, name: str, tags: tuple[Tag, ...], parent: bool, report: bool) -> Any:
        """The value at the path (parent=False), or (container, last tag) (parent=True);
        WalkError when the path does not lead there."""
        data = self.vars.get(name, _MISSING)
        if data is _MISSING:
            raise WalkError(name)
        cur: Any = data
        last: Any = None
        last_tag: Tag | None = None
        for tag in tags:
            last, last_tag = cur, tag
            if tag.key is not None:
                if not isinstance(cur, dict):
                    self._report(report, data, tags)
                    raise WalkError(name)
                if tag.key in cur:
                    cur = cur[tag.key]
                elif parent:
                    cur = None
                else:
                    self._report(report, data, tags)
                    raise WalkError(name)
            else:
                if not isinstance(cur, list):
                    self._report(report, data, tags)
                    raise WalkError(name)
                position = len(cur) if tag.append else tag.index
                if position < 0:
                    position += len(cur)
                if position < 0:
                    self._report(report, data, tags)
                    raise WalkError(name)
                cur = cur[position] if position < len(cur) else None
                if cur is None and not parent:
                    self._report(report, data, tags)
                    raise WalkError(name)
        return (last, last_tag) if parent else cur

    @staticmethod
    def _report(report: bool, data: Any, tags: tuple[Tag, ...]) -> None:
        if report:
            log.info("Trying to get a value from a json of incorrect type")
            log.info("Object is:\n%s", dumps(data) if data is not None else "null")

    def put(self, name: str, tags: tuple[Tag, ...], value: Any) -> bool:
        """OpenSIPS's pv_add_json: stores (or with DELETE removes) at the path; False on error."""
        if name not in self.vars:
            if tags:
                log.error("Object is not initialized yet")
                return False
            self.vars[name] = None if value is DELETE else value
            return True
        if not tags:
            self.vars[name] = None if value is DELETE else value
            return True
        try:
            dest, tag = self.walk(name, tags, parent=True, report=True)
        except WalkError:
            log.info("Could not find object with that path")
            return False
        if dest is None:
            log.info("Could not find object with that path")
            return False
        if tag.key is not None:
            if value is DELETE:
                dest.pop(tag.key, None)
            else:
                dest[tag.key] = value
            return True
        if tag.append:
            if value is DELETE:
                log.error("Invalid parameter for deletion")
                return False
            dest.append(value)
            return True
        position = tag.index + len(dest) if tag.index < 0 else tag.index
        if position < 0 or position >= len(dest):
            log.error("Attempting to replace at invalid index in array:%d", position)
            return False
        if value is DELETE:
            del dest[position]
        else:
            dest[position] = value
        return True
