"""tm's counters under OpenSIPS's statistic names, declared in the exports (`STATS`).

Plain int attributes incremented in place; the `Nxx_transactions` names are not identifiers, so
they are properties over one list indexed by the reply class.
"""

from __future__ import annotations

from pysips.script.exports import StatExport


class TmStats:
    __slots__ = ("UAC_transactions", "UAS_transactions", "by_class", "local_replies", "received_replies",
                 "relayed_replies", "retransmission_req_T1_1", "retransmission_req_T1_2",
                 "retransmission_req_T1_3", "retransmission_req_T2", "retransmission_rpl_T2",
                 "timeout_finalresponse", "timeout_finalresponse_inv")

    def __init__(self) -> None:
        self.UAS_transactions = 0  # server transactions created
        self.UAC_transactions = 0  # branches sent
        self.received_replies = 0  # replies from downstream that matched a branch
        self.relayed_replies = 0  # replies relayed upstream
        self.local_replies = 0  # replies tm made itself and sent upstream
        self.by_class = [0] * 7  # transactions completed with a final of class 2..6
        # timer-driven retransmissions: of a request, by how many came before it (the 4th and
        # later at the T2 cap), and of a final reply
        self.retransmission_req_T1_1 = 0
        self.retransmission_req_T1_2 = 0
        self.retransmission_req_T1_3 = 0
        self.retransmission_req_T2 = 0
        self.retransmission_rpl_T2 = 0
        self.timeout_finalresponse = 0  # fr_timeout fired (no provisional on the branch)
        self.timeout_finalresponse_inv = 0  # fr_inv_timeout fired (after a provisional)

    def request_retransmitted(self, nth: int) -> None:
        if nth == 1:
            self.retransmission_req_T1_1 += 1
        elif nth == 2:
            self.retransmission_req_T1_2 += 1
        elif nth == 3:
            self.retransmission_req_T1_3 += 1
        else:
            self.retransmission_req_T2 += 1

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


# OpenSIPS's tm statistics, in its order
COUNTERS = (
    "received_replies", "relayed_replies", "local_replies", "UAS_transactions", "UAC_transactions",
    "2xx_transactions", "3xx_transactions", "4xx_transactions", "5xx_transactions", "6xx_transactions",
)


def _counter(name: str) -> StatExport:
    return StatExport(name, lambda tm: int(getattr(tm.stats, name)),
                      lambda tm: setattr(tm.stats, name, 0))


# tm clustering (OpenSIPS's tm replication through clusterer) is not implemented: always 0
CLUSTER = ("cluster_reply_sent", "cluster_request_sent", "cluster_cancel_sent", "cluster_reply_recv",
           "cluster_request_recv", "cluster_cancel_recv")
TIMERS = ("retransmission_req_T1_1", "retransmission_req_T1_2", "retransmission_req_T1_3",
          "retransmission_req_T2", "retransmission_rpl_T2", "timeout_finalresponse",
          "timeout_finalresponse_inv")

STATS = (
    *(_counter(name) for name in COUNTERS),
    StatExport("inuse_transactions", lambda tm: len(tm.cells), doc="transactions in memory"),
    *(StatExport(name, lambda tm: 0, doc="no tm clustering here") for name in CLUSTER),
    *(_counter(name) for name in TIMERS),
)
