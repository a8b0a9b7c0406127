"""Dialog profiles (OpenSIPS dlg_profile): named sets of dialogs, optionally keyed by a value,
counted with get_profile_size() and listed over the MI. A dialog leaves its profiles when it
ends.

With worker processes, a profile's members are the dialogs of this process; `remote` counts
those of the others (kept by profile_sharing.py), so a size is the whole server's, as in
OpenSIPS's shared memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .model import Dialog

# a membership added (+1) or removed (-1): (profile name, value, delta), for the other processes
Changed = Callable[[str, str, int], None]


class Profile:
    __slots__ = ("changed", "has_value", "members", "name", "remote")

    def __init__(self, name: str, has_value: bool) -> None:
        self.name = name
        self.has_value = has_value
        # value ("" for a profile without value) -> dialogs in it (a dialog may be in twice)
        self.members: dict[str, list[Dialog]] = {}
        self.remote: dict[str, int] = {}  # value -> memberships held by other worker processes
        self.changed: Changed | None = None

    def add(self, dlg: Dialog, value: str) -> None:
        self.members.setdefault(value, []).append(dlg)
        if self.changed is not None:
            self.changed(self.name, value, 1)

    def remove(self, dlg: Dialog, value: str | None) -> bool:
        """Removes one membership (any value when `value` is None); True when one was found."""
        values = [value] if value is not None else list(self.members)
        for val in values:
            entries = self.members.get(val)
            if entries and dlg in entries:
                entries.remove(dlg)
                if not entries:
                    del self.members[val]
                if self.changed is not None:
                    self.changed(self.name, val, -1)
                return True
        return False

    def size(self, value: str | None = None, local_only: bool = False) -> int:
        """Memberships (of `value`); the other processes' too unless `local_only` (the MI asks
        each worker and adds the answers up)."""
        remote = {} if local_only else self.remote
        if value is not None and self.has_value:
            return len(self.members.get(value, ())) + remote.get(value, 0)
        return sum(len(v) for v in self.members.values()) + sum(remote.values())

    def add_remote(self, value: str, delta: int) -> None:
        count = self.remote.get(value, 0) + delta
        if count > 0:
            self.remote[value] = count
        else:
            self.remote.pop(value, None)

    def dialogs(self, value: str | None = None) -> Iterator[tuple[Dialog, str]]:
        for val, dialogs in self.members.items():
            if value is None or not self.has_value or val == value:
                for dlg in dialogs:
                    yield dlg, val


def parse_profiles(text: str, has_value: bool) -> list[Profile]:
    """modparam profiles_with_value / profiles_no_value: "caller ; callee/s" (a "/s" or "/b"
    suffix marks a shared profile: with no cluster here they count locally)."""
    found = []
    for part in text.replace("\n", ";").split(";"):
        name = part.strip()
        if not name:
            continue
        name = name.split("/", 1)[0].strip()
        if name:
            found.append(Profile(name, has_value))
    return found
