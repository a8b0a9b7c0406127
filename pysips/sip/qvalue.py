"""q values (RFC 3261 20.10) as OpenSIPS prints them (q2str): the one formatter for Contact
headers, 3xx destination sets, `$branch(q)`-style variables and MI dumps."""

from __future__ import annotations


def q_text(q: float | None) -> str:
    """"" when unspecified (None or negative), "1", "0", else "0." and up to three digits
    without trailing zeros ("0.5", "0.25", "0.125")."""
    if q is None or q < 0:
        return ""
    thousandths = round(float(q) * 1000)
    if thousandths >= 1000:
        return "1"
    if thousandths <= 0:
        return "0"
    return "0." + f"{thousandths:03d}".rstrip("0")
