"""tm's counters under OpenSIPS's statistic names (read by pysips.mi.module_adapters by name).

Plain int attributes incremented in place; the `Nxx_transactions` names are not identifiers, so
they are properties over one list indexed by the reply class.
"""

from __future__ import annotations


class TmStats:
    __slots__ = ("UAC_transactions", "UAS_transactions", "by_class", "local_replies", "received_replies",
                 "relayed_replies")

    def __init__(self) -> None:
        self.UAS_transactions = 0  # server transactions created
        self.UAC_transactions = 0  # branches sent
        self.received_replies = 0  # replies from downstream that matched a branch
        self.relayed_replies = 0  # replies relayed upstream
        self.local_replies = 0  # replies tm made itself and sent upstream
        self.by_class = [0] * 7  # transactions completed with a final of class 2..6

    def completed(self, code: int) -> None:
        if 200 <= code < 700:
            self.by_class[code // 100] += 1


def _class_counter(index: int) -> property:
    def get(self: TmStats) -> int:
        return self.by_class[index]

    def set_(self: TmStats, value: int) -> None:
        self.by_class[index] = value

    return property(get, set_)


for _index in range(2, 7):
    setattr(TmStats, f"{_index}xx_transactions", _class_counter(_index))
