"""Turn a transcript into what must be equal between pysips and OpenSIPS.

Left out or masked, because they differ between any two runs or any two implementations without
a user being able to rely on them: ports handed out for this run (named instead), the run's id in
Call-IDs, tag and branch values (their presence stays visible), nonces, Server/User-Agent headers,
and registration lifetimes counted down by a second during the run (rounded to ten seconds).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_DROPPED_HEADERS = ("server", "user-agent")
_BRANCH = re.compile(r"branch=z9hG4bK[^;,\s>\"]*", re.IGNORECASE)
_TAG = re.compile(r"(?<![A-Za-z])(f?tag)=[^;,\s>\"]+", re.IGNORECASE)
_NONCE = re.compile(r"(nonce|opaque)=\"[^\"]*\"", re.IGNORECASE)
_EXPIRES = re.compile(r"(expires[=:]\s*)(\d+)", re.IGNORECASE)


def _round_lifetime(match: re.Match[str]) -> str:
    value = int(match.group(2))
    # a lifetime counted down between save and reply (3600 -> 3599): equal to ten seconds
    return f"{match.group(1)}{round(value / 10) * 10 if value > 30 else value}"


def normalise_text(text: str, names: Mapping[str, str]) -> str:
    # longest first, so a port that contains another is replaced whole
    for value in sorted(names, key=len, reverse=True):
        text = re.sub(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])", names[value], text)
    head, sep, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    kept = [lines[0]] + [ln for ln in lines[1:]
                         if ln.split(":", 1)[0].strip().lower() not in _DROPPED_HEADERS]
    head = "\r\n".join(kept)
    head = _BRANCH.sub("branch=z9hG4bK*", head)
    head = _TAG.sub(lambda m: f"{m.group(1)}=*", head)
    head = _NONCE.sub(lambda m: f'{m.group(1)}="*"', head)
    head = _EXPIRES.sub(_round_lifetime, head)
    return head + sep + body


def normalise(entries: list[tuple[str, str]], names: Mapping[str, str]) -> dict[str, list[str]]:
    """Per endpoint, its received messages in order, normalised."""
    out: dict[str, list[str]] = {}
    for who, text in entries:
        out.setdefault(who, []).append(normalise_text(text, names))
    return out
