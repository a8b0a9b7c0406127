"""The `s.*` transformations: lengths, numbers, slicing, encodings, hashes, padding, trimming.

Integers are handled through their decimal text, as OpenSIPS does. Results that OpenSIPS marks
as integers (len, int, index, rindex, hex2dec) are Python ints.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from pysips.script import ast
from pysips.script.pv_base import IntText, PVAccessor, PVError, as_str
from pysips.script.transforms import (
    TransformFailed,
    TrArg,
    TrFunc,
    int_arg,
    read_int,
    read_str,
    str_arg,
    want_args,
)

if TYPE_CHECKING:
    from pysips.script.context import MsgContext, Value

_TRIM = " \t\r\n"
_USER_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!$&'()*+,-./;=?_~")
_PARAM_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()[]/:&+$")
_HASH_ALGORITHMS = frozenset(("sha1", "sha224", "sha256", "sha384", "sha512"))  # hashlib names


def _b(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _u(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def leading_int(text: str) -> int:
    """Digits at the start (after an optional sign); 0 when there are none (`{s.int}` rule)."""
    i = 1 if text[:1] in ("-", "+") else 0
    j = i
    while j < len(text) and "0" <= text[j] <= "9":
        j += 1
    if j == i:
        return 0
    number = int(text[i:j])
    return -number if text[:1] == "-" else number


# ---------------------------------------------------------------------------------------------
# Argument-less transformations
# ---------------------------------------------------------------------------------------------


def _len(ctx: MsgContext, v: str | int) -> Value:
    # bytes, as OpenSIPS counts them (a UTF-8 character may take several)
    text = as_str(v)
    return len(text) if text.isascii() else len(_b(text))


def _int(ctx: MsgContext, v: str | int) -> Value:
    if isinstance(v, int):
        return v
    number = leading_int(v)
    # OpenSIPS keeps the original text as the printed form when it is not exactly the number
    return number if str(number) == v else IntText(number, v)


def _md5(ctx: MsgContext, v: str | int) -> Value:
    return hashlib.md5(_b(as_str(v))).hexdigest()


def _crc32(ctx: MsgContext, v: str | int) -> Value:
    # OpenSIPS's crc32_uint skips the final inversion of the standard CRC-32 (zlib's)
    return str(zlib.crc32(_b(as_str(v))) ^ 0xFFFFFFFF)


def _tolower(ctx: MsgContext, v: str | int) -> Value:
    s = as_str(v)
    return s.translate(_LOWER) if s.isascii() else "".join(c.lower() if c.isascii() else c for c in s)


def _toupper(ctx: MsgContext, v: str | int) -> Value:
    s = as_str(v)
    return s.translate(_UPPER) if s.isascii() else "".join(c.upper() if c.isascii() else c for c in s)


_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _encode_hexa(ctx: MsgContext, v: str | int) -> Value:
    return _b(as_str(v)).hex()


def _decode_hexa(ctx: MsgContext, v: str | int) -> Value:
    s = as_str(v)
    try:
        return _u(bytes.fromhex(s[: len(s) // 2 * 2]))
    except ValueError:
        raise TransformFailed(f"not hexadecimal: {s!r}") from None


def _hex2dec(ctx: MsgContext, v: str | int) -> Value:
    if isinstance(v, int):
        return v
    s = v[2:] if v[:2] in ("0x", "0X") else v
    if not s or len(s) > 8 or any(c not in "0123456789abcdefABCDEF" for c in s):
        raise TransformFailed(f"not a 32-bit hexadecimal number: {v!r}")
    return int(s, 16)


def _dec2hex(ctx: MsgContext, v: str | int) -> Value:
    if isinstance(v, str):
        try:
            v = int(v)
        except ValueError:
            raise TransformFailed(f"not a number: {v!r}") from None
    return format(v & 0xFFFFFFFF, "x")


def _date2unix(ctx: MsgContext, v: str | int) -> Value:
    if not isinstance(v, str):
        raise TransformFailed("date2unix needs a string")
    try:
        parsed = time.strptime(v.strip(), "%a, %d %b %Y %H:%M:%S GMT")
    except ValueError:
        raise TransformFailed(f"not an RFC 1123 date: {v!r}") from None
    return str(calendar.timegm(parsed))


_COMMON_ESCAPES = {"'": "\\'", '"': '\\"', "\\": "\\\\", "\0": "\\0"}
_COMMON_UNESCAPES = {"'": "'", '"': '"', "\\": "\\", "0": "\0"}


def _escape_common(ctx: MsgContext, v: str | int) -> Value:
    s = as_str(v)
    return "".join(_COMMON_ESCAPES.get(c, c) for c in s)


def _unescape_common(ctx: MsgContext, v: str | int) -> Value:
    s = as_str(v)
    if "\\" not in s:
        return s
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n and s[i + 1] in _COMMON_UNESCAPES:
            out.append(_COMMON_UNESCAPES[s[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _percent_escape(s: str, safe: frozenset[str]) -> str:
    out: list[str] = []
    for c in s:
        if not " " <= c <= "~":
            raise TransformFailed(f"cannot escape character {c!r}")
        out.append(c if c in safe else f"%{ord(c):02x}")
    return "".join(out)


def _percent_unescape(s: str) -> str:
    if "%" not in s:
        return s
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "%":
            pair = s[i + 1 : i + 3]
            if len(pair) != 2 or any(h not in "0123456789abcdefABCDEF" for h in pair):
                raise TransformFailed(f"bad escape in {s!r}")
            code = int(pair, 16)
            if not 32 <= code <= 126:
                raise TransformFailed(f"escaped character {code} is not printable")
            out.append(chr(code))
            i += 3
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _escape_user(ctx: MsgContext, v: str | int) -> Value:
    return _percent_escape(as_str(v), _USER_SAFE)


def _escape_param(ctx: MsgContext, v: str | int) -> Value:
    return _percent_escape(as_str(v), _PARAM_SAFE)


def _unescape(ctx: MsgContext, v: str | int) -> Value:
    return _percent_unescape(as_str(v))


def _b64encode(ctx: MsgContext, v: str | int) -> Value:
    return base64.b64encode(_b(as_str(v))).decode("ascii")


def _b64decode(ctx: MsgContext, v: str | int) -> Value:
    s = as_str(v).strip()
    try:
        return _u(base64.b64decode(s + "=" * (-len(s) % 4), validate=True))
    except (binascii.Error, ValueError):
        raise TransformFailed(f"not base64: {s!r}") from None


def _trim(ctx: MsgContext, v: str | int) -> Value:
    return as_str(v).strip(_TRIM)


def _trimr(ctx: MsgContext, v: str | int) -> Value:
    return as_str(v).rstrip(_TRIM)


def _triml(ctx: MsgContext, v: str | int) -> Value:
    return as_str(v).lstrip(_TRIM)


def _reverse(ctx: MsgContext, v: str | int) -> Value:
    return as_str(v)[::-1]


_SIMPLE: dict[str, TrFunc] = {
    "len": _len,
    "int": _int,
    "md5": _md5,
    "crc32": _crc32,
    "tolower": _tolower,
    "toupper": _toupper,
    "encode.hexa": _encode_hexa,
    "decode.hexa": _decode_hexa,
    "hex2dec": _hex2dec,
    "dec2hex": _dec2hex,
    "date2unix": _date2unix,
    "escape.common": _escape_common,
    "unescape.common": _unescape_common,
    "escape.user": _escape_user,
    "unescape.user": _unescape,
    "escape.param": _escape_param,
    "unescape.param": _unescape,
    "b64encode": _b64encode,
    "b64decode": _b64decode,
    "trim": _trim,
    "trimr": _trimr,
    "triml": _triml,
    "reverse": _reverse,
}


def _hash(algorithm: str) -> TrFunc:
    def digest(ctx: MsgContext, v: str | int) -> Value:
        return hashlib.new(algorithm, _b(as_str(v))).hexdigest()

    return digest


def _hmac(algorithm: str, key: str | PVAccessor) -> TrFunc:
    def digest(ctx: MsgContext, v: str | int) -> Value:
        return hmac.new(_b(read_str(ctx, key)), _b(as_str(v)), algorithm).hexdigest()

    return digest


# ---------------------------------------------------------------------------------------------
# Transformations with arguments
# ---------------------------------------------------------------------------------------------


def substr(s: str, start: int, length: int) -> str | None:
    """OpenSIPS `{s.substr,start,len}`: negative start counts from the end; len <= 0 means
    'up to that many characters before the end'; out of range is NULL."""
    n = len(s)
    if start < 0:
        if -start > n:
            return None
        start += n
    if start >= n:
        return None
    if length < 1:
        length = n + length - start
    return s[start : start + max(length, 0)]


def select(s: str, index: int, sep: str) -> str | None:
    """OpenSIPS `{s.select,index,sep}`: the index-th field (negative from the end)."""
    fields = s.split(sep)
    if -len(fields) <= index < len(fields):
        return fields[index]
    return None


def find(s: str, needle: str, start: int | None, reverse: bool) -> int | None:
    n = len(s)
    if start is None:
        start = n - 1 if reverse else 0
    if start < 0:
        start = (n - (-start % n)) % n if n else 0
    if not reverse:
        if start >= n or len(needle) > n - start:
            return None
        found = s.find(needle, start)
        return found if found >= 0 else None
    if len(needle) > n:
        return None
    start = min(start, n - 1, n - len(needle))
    found = s.rfind(needle, 0, start + len(needle))
    return found if found >= 0 else None


def fill(s: str, pad: str, width: int, left: bool) -> str:
    missing = width - len(s)
    if missing <= 0 or not pad:
        return s
    if left:
        # OpenSIPS puts the tail of the pad first when the padding is not a whole number of pads
        rem = missing % len(pad)
        return (pad[len(pad) - rem :] if rem else "") + pad * (missing // len(pad)) + s
    return s + (pad * (missing // len(pad) + 1))[:missing]


def make(method: str, args: tuple[TrArg, ...], pos: ast.Pos) -> TrFunc:
    simple = _SIMPLE.get(method)
    if simple is not None:
        want_args(f"s.{method}", args, 0, 0, pos)
        return simple
    if method in _HASH_ALGORITHMS:
        want_args(f"s.{method}", args, 0, 0, pos)
        return _hash(method)
    if method.endswith("_hmac") and method[:-5] in _HASH_ALGORITHMS:
        want_args(f"s.{method}", args, 1, 1, pos)
        return _hmac(method[:-5], str_arg(method, args[0], pos))
    builder = _WITH_ARGS.get(method)
    if builder is None:
        if method == "eval":
            raise PVError("transformation s.eval is not supported by pysips", pos)
        raise PVError(f"unknown transformation {{s.{method}}}", pos)
    return builder(f"s.{method}", args, pos)


def _make_substr(name: str, args: tuple[TrArg, ...], pos: ast.Pos) -> TrFunc:
    want_args(name, args, 2, 2, pos)
    a, b = int_arg(name, args[0], pos), int_arg(name, args[1], pos)

    def run(ctx: MsgContext, v: str | int) -> Value:
        return substr(as_str(v), read_int(ctx, a), read_int(ctx, b))

    return run


def _make_select(name: str, args: tuple[TrArg, ...], pos: ast.Pos) -> TrFunc:
    want_args(name, args, 2, 2, pos)
    index = int_arg(name, args[0], pos)
    sep = args[1]
    if not isinstance(sep, str) or not sep:
        raise PVError(f"{name}: the separator must be a character", pos)
    sep = sep[0]

    def run(ctx: MsgContext, v: str | int) -> Value:
        return select(as_str(v), read_int(ctx, index), sep)

    return run


def _make_index(name: str, args: tuple[TrArg, ...], pos: ast.Pos) -> TrFunc:
    want_args(name, args, 1, 2, pos)
    needle = str_arg(name, args[0], pos)
    start = int_arg(name, args[1], pos) if len(args) > 1 else None
    reverse = name == "s.rindex"
    if needle == "":
        raise PVError(f"{name}: empty search string", pos)

    def run(ctx: MsgContext, v: str | int) -> Value:
        begin = None if start is None else read_int(ctx, start)
        return find(as_str(v), read_str(ctx, needle), begin, reverse)

    return run


def _make_fill(name: str, args: tuple[TrArg, ...], pos: ast.Pos) -> TrFunc:
    want_args(name, args, 2, 2, pos)
    pad, width = args
    if not isinstance(pad, str | int) or isinstance(width, PVAccessor):
        raise PVError(f"{name} does not take variables as arguments", pos)
    pad = as_str(pad)
    if len(pad) >= 2 and pad[0] == pad[-1] and pad[0] in "\"'":
        pad = pad[1:-1]
    if not pad:
        raise PVError(f"{name}: empty padding", pos)
    size = int_arg(name, width, pos)
    assert isinstance(size, int)
    left = name == "s.fill.left"

    def run(ctx: MsgContext, v: str | int) -> Value:
        return fill(as_str(v), pad, size, left)

    return run


def _make_width(name: str, args: tuple[TrArg, ...], pos: ast.Pos) -> TrFunc:
    want_args(name, args, 1, 1, pos)
    width = int_arg(name, args[0], pos)
    if isinstance(width, int) and width <= 0:
        raise PVError(f"{name}: the width must be at least 1", pos)

    def run(ctx: MsgContext, v: str | int) -> Value:
        size = read_int(ctx, width)
        if size <= 0:
            raise TransformFailed("width must be at least 1")
        return as_str(v)[:size].ljust(size)

    return run


def _make_xor(name: str, args: tuple[TrArg, ...], pos: ast.Pos) -> TrFunc:
    want_args(name, args, 1, 1, pos)
    secret = str_arg(name, args[0], pos)
    if secret == "":
        raise PVError(f"{name}: empty secret", pos)

    def run(ctx: MsgContext, v: str | int) -> Value:
        data, key = _b(as_str(v)), _b(read_str(ctx, secret))
        return _u(bytes(c ^ key[i % len(key)] for i, c in enumerate(data)))

    return run


_WITH_ARGS: dict[str, Callable[[str, tuple[TrArg, ...], ast.Pos], TrFunc]] = {
    "substr": _make_substr,
    "select": _make_select,
    "index": _make_index,
    "rindex": _make_index,
    "fill.left": _make_fill,
    "fill.right": _make_fill,
    "width": _make_width,
    "xor": _make_xor,
}
