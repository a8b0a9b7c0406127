"""usrloc keeps registrar's attr_avp value with a binding, in memory and in the location table."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "modules"))

from usrloc.contact import UContact
from usrloc.dbrow import COLUMNS, from_row, to_row


def test_attr_round_trips_through_a_location_row() -> None:
    c = UContact("alice", "sip:alice@10.0.0.1", 1000, callid="c1", attr="desk")
    row = to_row(c, False, lambda mask: "")
    assert row["attr"] == "desk"
    values = tuple([7] + [row[name] for name in COLUMNS[1:]])
    back = from_row(values, False, lambda text: 0)
    assert back.attr == "desk" and back.contact_id == 7
    refreshed = UContact("alice", "sip:alice@10.0.0.1", 2000, callid="c1", attr="mobile")
    c.update_from(refreshed)
    assert c.attr == "mobile"
    assert from_row(tuple([1] + [to_row(UContact("a", "sip:a@h", 0), False, lambda m: "")[n]
                                 for n in COLUMNS[1:]]), False, lambda t: 0).attr is None
