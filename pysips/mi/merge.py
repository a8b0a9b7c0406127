"""Merging the answers of every worker process to one per-worker MI command (dlg_list ...):
what the command would have answered had every worker's state been in one process."""

from __future__ import annotations

from typing import Any


def merge_results(results: list[Any]) -> Any:
    """Lists are joined, numbers added, dicts merged key by key; anything else: the first."""
    if not results:
        return None
    first = results[0]
    if isinstance(first, list):
        return [item for r in results if isinstance(r, list) for item in r]
    if isinstance(first, dict):
        keys: list[str] = []
        for r in results:
            if isinstance(r, dict):
                keys.extend(k for k in r if k not in keys)
        return {k: merge_results([r[k] for r in results if isinstance(r, dict) and k in r]) for k in keys}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        return sum(r for r in results if isinstance(r, (int, float)) and not isinstance(r, bool))
    return first


def merge_responses(responses: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """JSON-RPC responses of the workers to one: the merged results of those that succeeded
    (a dlg_end_dlg succeeds in the worker holding the dialog only), else the first error."""
    answered = [r for r in responses if r is not None]
    if not answered:
        return None
    ok = [r for r in answered if "result" in r]
    if not ok:
        return answered[0]
    return {"jsonrpc": "2.0", "result": merge_results([r["result"] for r in ok]), "id": ok[0].get("id")}
