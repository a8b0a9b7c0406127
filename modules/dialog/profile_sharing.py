"""Dialog profile sizes across worker processes (pysips.core.services.SHARED_STATE).

OpenSIPS keeps profiles in shared memory, so get_profile_size() counts the server's dialogs; a
call-limit script (`if (get_profile_size(...) >= N) send_reply(486, ...)`) depends on it. Here a
worker holds its own dialogs, and publishes each membership change (+1 / -1 of a profile's
value); every other process adds them to the profile's `remote` counts. The counts are kept by
the process that published them, so when a worker dies, the main process has every copy drop
what that worker held (its dialogs died with it).
"""

from __future__ import annotations

import os
from typing import Any

from pysips.core.services import SharedChannel, SharedStateService

from .profiles import Profile

CHANNEL = "dialog_profiles"  # not "dialog": the dialog statistics stay per worker, summed


class ProfileSharing:
    __slots__ = ("_by_origin", "_channel", "_origin", "_profiles")

    def __init__(self, profiles: dict[str, Profile], shared: SharedStateService) -> None:
        self._profiles = profiles
        self._origin = os.getpid()
        # publishing process -> (profile, value) -> memberships it holds
        self._by_origin: dict[int, dict[tuple[str, str], int]] = {}
        self._channel: SharedChannel = shared.share(CHANNEL, self.apply, self.snapshot, self.forget)

    def changed(self, name: str, value: str, delta: int) -> None:
        """Profile.changed: one of this process's memberships came or went. A membership set by
        the script waits until every worker has it (the next call, anywhere, counts it); one
        that ends with its dialog, inside tm's reply or timer processing, is sent as it is."""
        self._channel.publish(("d", self._origin, name, value, delta), wait=delta > 0)

    def apply(self, change: Any) -> None:
        if change[0] == "d":
            _, origin, name, value, delta = change
            if origin != self._origin:
                self._count(origin, name, value, delta)
        elif change[0] == "gone":
            for (name, value), count in self._by_origin.pop(change[1], {}).items():
                profile = self._profiles.get(name)
                if profile is not None:
                    profile.add_remote(value, -count)

    def _count(self, origin: int, name: str, value: str, delta: int) -> None:
        counts = self._by_origin.setdefault(origin, {})
        counts[(name, value)] = counts.get((name, value), 0) + delta
        profile = self._profiles.get(name)
        if profile is not None:
            profile.add_remote(value, delta)

    def snapshot(self) -> list[Any]:
        return [("d", origin, name, value, count)
                for origin, counts in self._by_origin.items()
                for (name, value), count in counts.items() if count]

    def forget(self, pid: int) -> Any:
        return ("gone", pid) if pid in self._by_origin else None
