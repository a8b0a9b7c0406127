"""MI errors as OpenSIPS reports them: JSON-RPC codes for protocol faults, HTTP-like codes for
command failures (404 "AOR not found", 500 "reload failed" ...)."""

from __future__ import annotations

from typing import Any

PARSE_ERROR = (-32700, "Parse error")
INVALID_REQUEST = (-32600, "Invalid Request")
METHOD_NOT_FOUND = (-32601, "Method not found")
INVALID_PARAMS = (-32602, "Invalid params")
SERVER_ERROR = (-32000, "Server error")

# the `data` texts OpenSIPS attaches to "Invalid params" / "Server error"
TOO_FEW_OR_MANY = "Too few or too many parameters"
AMBIGUOUS_CALL = "Ambiguous call, use named parameters instead"
NAMES_DO_NOT_MATCH = "Named parameters do not match"
PARAM_NOT_HANDLED = "Failed to handle parameter"


class MIError(Exception):
    """A command's failure: becomes the JSON-RPC `error` member."""

    def __init__(self, code: int, message: str, data: str | None = None) -> None:
        super().__init__(f"{code} {message}" + (f" ({data})" if data else ""))
        self.code = code
        self.message = message
        self.data = data

    @classmethod
    def of(cls, pair: tuple[int, str], data: str | None = None) -> MIError:
        return cls(pair[0], pair[1], data)

    def as_json(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


def bad_type(name: str) -> MIError:
    return MIError.of(INVALID_PARAMS, f"Bad type for parameter '{name}'")


def bad_array_item(name: str) -> MIError:
    return MIError.of(INVALID_PARAMS, f"Bad type for array item in parameter '{name}'")


def empty_array(name: str) -> MIError:
    return MIError.of(INVALID_PARAMS, f"Empty array in parameter '{name}'")
