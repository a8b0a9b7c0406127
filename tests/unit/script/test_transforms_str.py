"""`s.*` transformations: (transformation, input, expected), normal and edge inputs."""

from __future__ import annotations

import hashlib
import hmac
import zlib

import pytest
from transform_support import POS, REG, apply, tr

from pysips.script import ast
from pysips.script.context import MsgContext, ProcessState, Value
from pysips.script.pv import PVError, compile_pvar

CASES: list[tuple[ast.Transform, Value, Value]] = [
    (tr("s.len"), "hello", 5),
    (tr("s.len"), "", 0),
    (tr("s.len"), 12345, 5),
    (tr("s.int"), "42abc", 42),
    (tr("s.int"), "-17", -17),
    (tr("s.int"), "abc", 0),
    (tr("s.int"), "", 0),
    (tr("s.int"), 9, 9),
    (tr("s.md5"), "abc", hashlib.md5(b"abc").hexdigest()),
    (tr("s.sha1"), "abc", hashlib.sha1(b"abc").hexdigest()),
    (tr("s.sha256"), "", hashlib.sha256(b"").hexdigest()),
    (tr("s.sha512"), 7, hashlib.sha512(b"7").hexdigest()),
    (tr("s.sha256_hmac", "key"), "msg", hmac.new(b"key", b"msg", "sha256").hexdigest()),
    (tr("s.crc32"), "abc", str(zlib.crc32(b"abc") ^ 0xFFFFFFFF)),  # OpenSIPS: no final inversion
    (tr("s.substr", 1, 3), "abcdef", "bcd"),
    (tr("s.substr", 2, 0), "abcdef", "cdef"),
    (tr("s.substr", -2, 0), "abcdef", "ef"),
    (tr("s.substr", 0, -1), "abcdef", "abcde"),
    (tr("s.substr", 4, 10), "abcdef", "ef"),
    (tr("s.substr", 6, 1), "abcdef", None),
    (tr("s.substr", -7, 1), "abcdef", None),
    (tr("s.substr", 0, 1), "", None),
    (tr("s.select", 0, ","), "a,b,c", "a"),
    (tr("s.select", 2, ","), "a,b,c", "c"),
    (tr("s.select", -1, ","), "a,b,c", "c"),
    (tr("s.select", -3, ","), "a,b,c", "a"),
    (tr("s.select", 3, ","), "a,b,c", None),
    (tr("s.select", -4, ","), "a,b,c", None),
    (tr("s.select", 1, "@"), "user@host", "host"),
    (tr("s.select", 0, ","), "", ""),
    (tr("s.encode.hexa"), "AB", "4142"),
    (tr("s.decode.hexa"), "4142", "AB"),
    (tr("s.decode.hexa"), "41zz", None),
    (tr("s.hex2dec"), "ff", 255),
    (tr("s.hex2dec"), "0x1A", 26),
    (tr("s.hex2dec"), "xyz", None),
    (tr("s.dec2hex"), 255, "ff"),
    (tr("s.dec2hex"), "16", "10"),
    (tr("s.dec2hex"), "abc", None),
    (tr("s.date2unix"), "Thu, 01 Jan 1970 00:01:00 GMT", "60"),
    (tr("s.date2unix"), "yesterday", None),
    (tr("s.escape.common"), "a'b\"c\\", "a\\'b\\\"c\\\\"),
    (tr("s.unescape.common"), "a\\'b\\\"c\\\\d\\x", "a'b\"c\\d\\x"),
    (tr("s.escape.user"), "a b@c", "a%20b%40c"),
    (tr("s.escape.user"), "+1;x=y", "+1;x=y"),
    (tr("s.unescape.user"), "a%20b%40c", "a b@c"),
    (tr("s.unescape.user"), "bad%2", None),
    (tr("s.unescape.user"), "ctl%01", None),
    (tr("s.escape.param"), "a;b=c d", "a%3bb%3dc%20d"),
    (tr("s.unescape.param"), "a%3bb", "a;b"),
    (tr("s.escape.user"), "tab\there", None),
    (tr("s.tolower"), "AbC-Ü", "abc-Ü"),
    (tr("s.toupper"), "AbC", "ABC"),
    (tr("s.toupper"), 12, "12"),
    (tr("s.index", "b"), "abcabc", 1),
    (tr("s.index", "b", 2), "abcabc", 4),
    (tr("s.index", "b", -2), "abcabc", 4),
    (tr("s.index", "z"), "abcabc", None),
    (tr("s.index", "bc", 5), "abcabc", None),
    (tr("s.index", "a"), "", None),
    (tr("s.rindex", "b"), "abcabc", 4),
    (tr("s.rindex", "b", 3), "abcabc", 1),
    (tr("s.rindex", "bc", 5), "abcabc", 4),
    (tr("s.rindex", "abcd"), "abc", None),
    (tr("s.fill.left", "0", 5), "42", "00042"),
    (tr("s.fill.left", "ab", 5), "x", "ababx"),
    (tr("s.fill.left", "ab", 4), "x", "babx"),
    (tr("s.fill.right", "ab", 6), "x", "xababa"),
    (tr("s.fill.left", "0", 2), "12345", "12345"),
    (tr("s.fill.left", "0", 4), 7, "0007"),
    (tr("s.width", 3), "abcdef", "abc"),
    (tr("s.width", 5), "ab", "ab   "),
    (tr("s.b64encode"), "hello", "aGVsbG8="),
    (tr("s.b64decode"), "aGVsbG8=", "hello"),
    (tr("s.b64decode"), "aGVsbG8", "hello"),
    (tr("s.b64decode"), "!!!", None),
    (tr("s.xor", "k"), "k", "\x00"),
    (tr("s.trim"), " \t a b \r\n", "a b"),
    (tr("s.trimr"), "  ab  ", "  ab"),
    (tr("s.triml"), "  ab  ", "ab  "),
    (tr("s.trim"), "   ", ""),
    (tr("s.reverse"), "abc", "cba"),
    (tr("s.reverse"), 123, "321"),
]


@pytest.mark.parametrize(("transform", "value", "expected"), CASES, ids=lambda x: getattr(x, "name", repr(x)))
def test_string_transformation(transform: ast.Transform, value: Value, expected: Value) -> None:
    assert apply(value, transform) == expected


@pytest.mark.parametrize("transform", sorted({c[0].name for c in CASES}))
def test_null_in_null_out(transform: str) -> None:
    args = next(c[0] for c in CASES if c[0].name == transform)
    assert apply(None, args) is None


def test_chain_and_types() -> None:
    assert apply("sip:alice@x", tr("s.select", 1, ":"), tr("s.select", 0, "@"), tr("s.len")) == 5
    assert apply(" 12 ", tr("s.trim"), tr("s.int")) == 12
    # a failing step stops the chain with NULL
    assert apply("zz", tr("s.decode.hexa"), tr("s.len")) is None


def test_arguments_from_variables() -> None:
    ctx = MsgContext(ProcessState())
    ctx.process.vars.update({"i": 1, "n": 2, "needle": "c", "bad": "x"})
    v = ast.PVar
    assert apply("abcdef", tr("s.substr", v("var", "i"), v("var", "n")), ctx=ctx) == "bc"
    assert apply("a,b,c", tr("s.select", v("var", "n"), ","), ctx=ctx) == "c"
    assert apply("abcabc", tr("s.index", v("var", "needle")), ctx=ctx) == 2
    # a non-integer where a number is needed: NULL at run time, not an exception
    assert apply("abcdef", tr("s.substr", v("var", "bad"), 1), ctx=ctx) is None
    assert apply("abcdef", tr("s.substr", v("var", "unset"), 1), ctx=ctx) is None


@pytest.mark.parametrize(
    ("transform", "message"),
    [
        (tr("s.len", 1), "takes 0 argument"),
        (tr("s.substr", 1), "takes 2 argument"),
        (tr("s.substr", "a", 1), "is not a number"),
        (tr("s.select", 1, ""), "separator"),
        (tr("s.width", 0), "at least 1"),
        (tr("s.fill.left", "", 3), "empty padding"),
        (tr("s.fill.left", "0", ast.PVar("var", "x")), "does not take variables"),
        (tr("s.index"), "takes 1 to 2"),
        (tr("s.eval"), "not supported"),
        (tr("s.frobnicate"), "unknown transformation {s.frobnicate}"),
        (tr("s"), "unknown transformation {s}"),
    ],
)
def test_load_errors(transform: ast.Transform, message: str) -> None:
    with pytest.raises(PVError) as info:
        compile_pvar(ast.PVar("var", "x", transforms=(transform,), pos=POS), REG)
    assert message in info.value.message
    assert info.value.pos == POS


def test_transformed_values_of_all() -> None:
    ctx = MsgContext(ProcessState())
    ctx.avps["x"] = ["aa", "b"]
    node = ast.PVar("avp", "x", "*", transforms=(tr("s.len"),), pos=POS)
    assert compile_pvar(node, REG).get_all(ctx) == [2, 1]
