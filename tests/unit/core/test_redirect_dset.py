"""The Contact a 3xx of ours carries: the destination set, in OpenSIPS's print_dset format."""

from __future__ import annotations

import pytest

from pysips.core.replies import RURI_Q, destination_set_header, q_text
from pysips.script.context import MsgContext, ProcessState


@pytest.mark.parametrize(("q", "text"), [(1.0, "1"), (0.0, "0"), (0.5, "0.5"), (0.25, "0.25"),
                                         (0.125, "0.125"), (0.9, "0.9"), (2.0, "1")])
def test_q_text_as_opensips_q2str(q: float, text: str) -> None:
    assert q_text(q) == text


def test_destination_set_lists_ruri_then_branches() -> None:
    ctx = MsgContext(ProcessState(), None, None)
    assert destination_set_header(ctx) is None  # R-URI untouched, no branches: nothing to list
    ctx.new_ruri = "sip:a@10.0.0.1"
    ctx.extra[RURI_Q] = 0.9
    ctx.branches.append({"uri": "sip:b@10.0.0.2", "q": None})
    ctx.branches.append({"uri": "sip:c@10.0.0.3", "q": 0.5})
    assert destination_set_header(ctx) == \
        "Contact: <sip:a@10.0.0.1>;q=0.9, <sip:b@10.0.0.2>, <sip:c@10.0.0.3>;q=0.5"
