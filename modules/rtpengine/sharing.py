"""rtpengine's daemon states kept alike in every worker process
(pysips.core.services.SHARED_STATE), as OpenSIPS keeps them in shared memory.

A daemon that did not answer is disabled until `recheck_at` (rtpengine_disable_tout seconds
later), and one that answers the probe then is enabled again. The process that found out changes
its own copy at once and publishes the new state without waiting (nothing in the script depends
on the others knowing): the main process applies it and relays it, so the next call, in any
worker, skips the dead daemon instead of waiting out its own timeout. `recheck_at` is an
absolute time on the machine-wide monotonic clock, the same in every process.

The state is a daemon's whole state, not a step, so applying it twice is harmless. Two processes
disabling one daemon at about the same time may publish different recheck times; a copy keeps
the later one, so every copy ends with the same.
"""

from __future__ import annotations

from typing import Any

from pysips.core.services import SharedChannel, SharedStateService

from .sets import Node, NodeSet

CHANNEL = "rtpengine_nodes"


class NodeSharing:
    __slots__ = ("_channel", "_nodes")

    def __init__(self, sets: dict[int, NodeSet], shared: SharedStateService) -> None:
        # every process builds the same sets from the same rtpengine_sock: an index names a daemon
        self._nodes = {node.index: node for nodeset in sets.values() for node in nodeset.nodes}
        self._channel: SharedChannel = shared.share(CHANNEL, self.apply, self.snapshot)

    def changed(self, node: Node) -> None:
        """RtpEngine.on_change: this process disabled, re-enabled or re-quarantined `node`."""
        self._channel.publish(("node", node.index, node.disabled, node.recheck_at), wait=False)

    def apply(self, change: Any) -> None:
        _, index, disabled, recheck_at = change
        node = self._nodes.get(index)
        if node is None:
            return
        if disabled and node.disabled:
            node.recheck_at = max(node.recheck_at, recheck_at)
        else:
            node.disabled = disabled
            node.recheck_at = recheck_at

    def snapshot(self) -> list[Any]:
        return [("node", node.index, True, node.recheck_at) for node in self._nodes.values() if node.disabled]
