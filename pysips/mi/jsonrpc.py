"""JSON-RPC 2.0 requests to MI commands and back, with OpenSIPS's validation and error codes.

Sans-I/O: transports hand request text to `MIRuntime.handle_text` and send back what it returns
(None for a notification, which gets no reply, as in OpenSIPS).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from pysips.mi.command import MICall, MICommand, Recipe
from pysips.mi.errors import (
    AMBIGUOUS_CALL,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    NAMES_DO_NOT_MATCH,
    PARSE_ERROR,
    SERVER_ERROR,
    TOO_FEW_OR_MANY,
    MIError,
)

log = logging.getLogger("pysips.mi")

_NO_ID = object()  # a notification: the request has no "id" member


def choose_recipe(cmd: MICommand, params: Any) -> Recipe:
    """OpenSIPS's recipe matching (mi.c get_cmd_recipe), with its error texts."""
    if not params:
        for recipe in cmd.recipes:
            if not recipe.params:
                return recipe
        raise MIError.of(INVALID_PARAMS, TOO_FEW_OR_MANY)
    count = len(params)
    positional = isinstance(params, list)
    match: Recipe | None = None
    count_matched = False
    for recipe in cmd.recipes:
        if not recipe.params or len(recipe.params) != count:
            continue
        if positional:
            if match is not None:
                raise MIError.of(INVALID_PARAMS, AMBIGUOUS_CALL)
            match = recipe
            continue
        count_matched = True
        if all(name in params for name in recipe.params):
            return recipe
    if match is not None:
        return match
    raise MIError.of(INVALID_PARAMS, NAMES_DO_NOT_MATCH if count_matched else TOO_FEW_OR_MANY)


def _validate(request: Any) -> tuple[Any, str | None, Any, bool]:
    """(id, method, params, valid) of a decoded request object."""
    if not isinstance(request, dict):
        return None, None, None, False
    req_id = request.get("id", _NO_ID)
    valid = True
    if req_id is not _NO_ID and (isinstance(req_id, bool | list | dict)):
        valid = False
    if request.get("jsonrpc") != "2.0":
        valid = False
    method = request.get("method")
    if not isinstance(method, str):
        method = None
        valid = False
    params = request.get("params")
    if params is not None and not isinstance(params, list | dict):
        valid = False
    return req_id, method, params, valid


def error_response(err: MIError, req_id: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": err.as_json(), "id": None if req_id is _NO_ID else req_id}


def handle_request(request: Any, lookup: Callable[[str], MICommand | None],
                   make_call: Callable[[tuple[str, ...], Any], MICall]) -> dict[str, Any] | None:
    """One decoded request to its response object; None when no reply is due (notification)."""
    req_id, method, params, valid = _validate(request)
    if not valid:
        return error_response(MIError.of(INVALID_REQUEST), req_id)
    assert method is not None
    try:
        cmd = lookup(method)
        if cmd is None:
            raise MIError.of(METHOD_NOT_FOUND)
        recipe = choose_recipe(cmd, params)
        result = recipe.handler(make_call(recipe.params, params))
    except MIError as err:
        # notifications get no reply even when they fail (only parse/invalid-request errors do)
        return None if req_id is _NO_ID else error_response(err, req_id)
    except Exception:
        log.exception("MI command %s failed", method)
        failure = MIError.of(SERVER_ERROR, "Internal error")
        return None if req_id is _NO_ID else error_response(failure, req_id)
    if req_id is _NO_ID:
        return None
    return {"jsonrpc": "2.0", "result": result, "id": req_id}


def parse_error_response() -> dict[str, Any]:
    return error_response(MIError.of(PARSE_ERROR), None)


def encode(response: dict[str, Any], pretty: bool = False) -> bytes:
    if pretty:
        return json.dumps(response, indent=4, ensure_ascii=False).encode()
    return json.dumps(response, separators=(",", ":"), ensure_ascii=False).encode()
