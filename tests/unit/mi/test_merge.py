"""Merging the workers' answers to a per-worker MI command."""

from __future__ import annotations

from pysips.mi.merge import merge_responses, merge_results


def test_lists_joined_numbers_added_first_string_kept() -> None:
    assert merge_results([{"Dialogs": [1]}, {"Dialogs": [2, 3]}]) == {"Dialogs": [1, 2, 3]}
    assert merge_results([{"profile": "p", "count": 2}, {"profile": "p", "count": 3}]) == \
        {"profile": "p", "count": 5}
    assert merge_results(["OK", "OK"]) == "OK"


def test_an_action_succeeds_where_it_could_and_errors_only_when_nowhere() -> None:
    error = {"jsonrpc": "2.0", "error": {"code": 404, "message": "Requested Dialog not found"}, "id": 1}
    ok = {"jsonrpc": "2.0", "result": "OK", "id": 1}
    assert merge_responses([error, ok, error]) == ok
    assert merge_responses([error, error]) == error
    assert merge_responses([None, None]) is None
