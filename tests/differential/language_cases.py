"""The language layer's cases, generated from tables, and the script that evaluates them.

Every case prints one log line `CASE <id> <value>`; the test compares that line between OpenSIPS
and pysips. Two kinds:
- per-message cases (MESSAGE_PVS): a pseudo-variable read on every message of messages.py;
  their ids become `<message label>:<id>` on the test side;
- expression cases: transformations, operators, coercion, regexes, NULL, AVPs, flags, switch,
  while, route parameters and return codes, run once on the carrier message (X-Diff-Batch: expr).

A case is some set-up statements and an xlog format; `script()` writes one route per group so a
single OpenSIPS start evaluates them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    value: str  # xlog format text printed after the id
    setup: str = ""  # statements run first (each ends with ';' or '}')


def _q(text: str) -> str:
    """A script string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------------------------------------
# per-message pseudo-variables

MESSAGE_PVS: tuple[tuple[str, str], ...] = (
    ("ru", "$ru"), ("ruri", "$ruri"), ("rU", "$rU"), ("rd", "$rd"), ("rp", "$rp"), ("rP", "$rP"),
    ("ou", "$ou"), ("oU", "$oU"), ("od", "$od"), ("op", "$op"), ("oP", "$oP"),
    ("du", "$du"), ("dd", "$dd"), ("dp", "$dp"), ("dP", "$dP"),
    ("fu", "$fu"), ("fU", "$fU"), ("fd", "$fd"), ("fn", "$fn"), ("ft", "$ft"),
    ("tu", "$tu"), ("tU", "$tU"), ("td", "$td"), ("tn", "$tn"), ("tt", "$tt"),
    ("ci", "$ci"), ("cs", "$cs"), ("rm", "$rm"), ("rs", "$rs"), ("rr", "$rr"),
    ("hdr.via", "$hdr(Via)"), ("hdr.v", "$hdr(v)"), ("hdr.via1", "$(hdr(Via)[1])"),
    ("hdr.via-1", "$(hdr(Via)[-1])"), ("hdrcnt.via", "$hdrcnt(Via)"), ("hdr.cseq", "$hdr(CSeq)"),
    ("hdr.from", "$hdr(From)"), ("hdr.to", "$hdr(To)"), ("hdr.contact", "$hdr(Contact)"),
    ("hdr.ct", "$hdr(Content-Type)"), ("hdr.maxfwd", "$hdr(Max-Forwards)"),
    ("hdrcnt.contact", "$hdrcnt(Contact)"), ("hdr.missing", "$hdr(X-Missing)"),
    ("ct", "$ct"), ("ct.uri", "$ct.fields(uri)"), ("ct.name", "$ct.fields(name)"),
    ("ct.q", "$ct.fields(q)"), ("ct.expires", "$ct.fields(expires)"),
    ("ct.params", "$ct.fields(params)"),
    ("ua", "$ua"), ("cT", "$cT"), ("cl", "$cl"), ("ai", "$ai"), ("pu", "$pu"), ("di", "$di"),
    ("re", "$re"), ("rt", "$rt"),
    ("au", "$au"), ("ad", "$ad"), ("aU", "$aU"), ("ar", "$ar"), ("adu", "$adu"), ("an", "$an"),
    ("auth.nonce", "$auth.nonce"), ("auth.resp", "$auth.resp"), ("auth.cnonce", "$auth.cnonce"),
    ("auth.opaque", "$auth.opaque"), ("auth.alg", "$auth.alg"), ("auth.qop", "$auth.qop"),
    ("auth.nc", "$auth.nc"),
    ("rb.md5", "$(rb{s.md5})"), ("rb.len", "$(rb{s.len})"), ("ml", "$ml"), ("mb.len", "$(mb{s.len})"),
    ("si", "$si"), ("sp", "$sp"), ("sock", "$socket_in"), ("sock.ip", "$socket_in(ip)"),
    ("sock.port", "$socket_in(port)"), ("sock.proto", "$socket_in(proto)"), ("sock.af", "$socket_in(af)"),
    ("ru.user", "$(ru{uri.user})"), ("ru.params", "$(ru{uri.params})"),
    ("fu.host", "$(fu{uri.host})"), ("tn.len", "$(tn{s.len})"),
    ("via.host", "$(hdr(Via){via.host})"), ("via.branch", "$(hdr(Via){via.branch})"),
    ("via.transport", "$(hdr(Via){via.transport})"),
    ("rb.sdp", "$(rb(application/sdp){s.md5})"), ("body.sdp.c", "$(rb{sdp.line,c})"),
    ("body.sdp.m1", "$(rb{sdp.line,m,1})"), ("hdr.all.via", "$(hdr(Via)[*]{s.len})"),
    ("ct.all", "$(ct[*]{s.len})"), ("err.class", "$err.class"), ("sock.out", "$socket_out"),
    ("ct.methods", "$ct.fields(methods)"), ("ct.received", "$ct.fields(received)"),
    ("ct1", "$(ct[1])"), ("ct1.expires", "$(ct.fields(expires)[1])"), ("ct1.name", "$(ct.fields(name)[1])"),
    ("route", "$hdr(Route)"), ("route.cnt", "$hdrcnt(Route)"), ("route1", "$(hdr(Route)[1])"),
    ("path", "$hdr(Path)"), ("expires", "$hdr(Expires)"),
    ("ru.host", "$(ru{uri.host})"), ("ru.port", "$(ru{uri.port})"), ("ru.transport", "$(ru{uri.transport})"),
    ("fu.user", "$(fu{uri.user})"), ("from.name", "$(hdr(From){nameaddr.name})"),
    ("to.tag", "$(hdr(To){nameaddr.param,tag})"), ("ct.na.uri", "$(ct{nameaddr.uri})"),
    ("via.params", "$(hdr(Via){via.params})"), ("via.rport", "$(hdr(Via){via.rport})"),
    ("via.received", "$(hdr(Via){via.received})"), ("via.port", "$(hdr(Via){via.port})"),
    ("ci.md5", "$(ci{s.md5})"), ("fn.unesc", "$(fn{s.unescape.common})"),
    ("ru.esc", "$(rU{s.unescape.user})"),
    ("hdr.cseq.sel", "$(hdr(CSeq){s.select,1, })"), ("ua.len", "$(ua{s.len})"),
)


# ---------------------------------------------------------------------------------------------
# expression cases


def _tr_cases(prefix: str, inputs: Iterable[tuple[str, str]], transforms: Iterable[str]) -> list[Case]:
    """One case per (input, transformation): $var(in) = input; print $(var(in){tr}) (`a|b`: {a}{b})."""
    cases: list[Case] = []
    ins = list(inputs)
    for tr in transforms:
        for label, text in ins:
            chain = "".join(f"{{{part}}}" for part in tr.split("|"))
            cases.append(Case(f"{prefix}.{tr}.{label}", f"$(var(in){chain})", f"$var(in) = {_q(text)};"))
    return cases


def _str_transform_cases() -> list[Case]:
    words = [("hello", "Hello World"), ("empty", ""), ("num", "12345"), ("neg", "-42abc"),
             ("pad", "  padded \t"), ("csv", "a,b,,c")]
    cases = _tr_cases("s", words, (
        "s.len", "s.int", "s.md5", "s.sha1", "s.sha256", "s.crc32", "s.tolower", "s.toupper",
        "s.trim", "s.trimr", "s.triml", "s.reverse", "s.encode.hexa", "s.b64encode",
        "s.escape.common", "s.escape.user", "s.escape.param",
    ))
    cases += _tr_cases("s", [("hello", "Hello World"), ("short", "ab")], (
        "s.substr,1,3", "s.substr,0,0", "s.substr,-3,2", "s.substr,2,0", "s.substr,20,1",
        "s.index,o", "s.rindex,o", "s.index,o,5", "s.index,z",
        "s.fill.left,*,15", "s.fill.right,-,15", "s.fill.left,0,2", "s.width,5", "s.width,15",
        "s.select,0,o", "s.select,1,o", "s.select,-1,o", "s.select,5,o",
    ))
    cases += _tr_cases("s", [("csv", "a,b,,c")], ("s.select,0,,", "s.select,2,,", "s.select,-1,,"))
    cases += _tr_cases("s", [("hex", "48656c6C6f"), ("odd", "abc")], ("s.decode.hexa",))
    cases += _tr_cases("s", [("hex", "ff"), ("big", "7FFFFFFF"), ("bad", "zz")], ("s.hex2dec",))
    cases += _tr_cases("s", [("dec", "255"), ("zero", "0")], ("s.dec2hex",))
    cases += _tr_cases("s", [("b64", "SGVsbG8gV29ybGQ="), ("b64nopad", "SGk")], ("s.b64decode",))
    cases += _tr_cases("s", [("esc", "a%20b%3Cc%3e"), ("plain", "abc"), ("pct", "100%")],
                       ("s.unescape.common", "s.unescape.user", "s.unescape.param"))
    cases += _tr_cases("s", [("special", 'a b"c\'d;e=f<g>h@i:j?k&l')],
                       ("s.escape.common", "s.escape.user", "s.escape.param"))
    cases += _tr_cases("s", [("key", "Hello")], ("s.sha256_hmac,secret", "s.sha1_hmac,k", "s.sha512_hmac,k",
                                                 "s.sha224", "s.sha384", "s.sha512",
                                                 "s.xor,secret|s.encode.hexa"))
    cases += _tr_cases("s", [("date", "Sat, 05 Dec 2026 10:20:30 GMT"), ("bad", "yesterday")],
                       ("s.date2unix",))
    return cases


URI_FULL = ("sip:alice:pw@Example.COM:5070;transport=TCP;lr;ttl=5;maddr=10.0.0.1;method=INVITE;user=phone;"
            "r2=on?X=1&Y=2")
URIS = (("full", URI_FULL), ("plain", "sip:bob@example.net"), ("sips", "sips:carol@secure.example.com:5061"),
        ("tel", "tel:+15551234567;phone-context=example.com"), ("hostonly", "sip:example.com;lr"),
        ("ipv6", "sip:dave@[2001:db8::1]:5080;transport=udp"))


def _uri_cases() -> list[Case]:
    return _tr_cases("uri", URIS, (
        "uri.user", "uri.host", "uri.domain", "uri.passwd", "uri.port", "uri.params", "uri.param,transport",
        "uri.param,lr", "uri.param,nope", "uri.headers", "uri.transport", "uri.ttl", "uri.uparam",
        "uri.maddr", "uri.method", "uri.lr", "uri.r2", "uri.schema",
    ))


def _param_cases() -> list[Case]:
    plist = [("list", "a=1;b;c=2;D=Four"), ("spaced", " x = 1 ; y ;z=\"q v\"")]
    return _tr_cases("param", plist, (
        "param.value,a", "param.value,c", "param.value,b", "param.value,d", "param.value,x",
        "param.value,z", "param.valueat,0", "param.valueat,2", "param.name,1", "param.name,5",
        "param.count", "param.exist,b", "param.exist,nope",
    ))


def _nameaddr_cases() -> list[Case]:
    addrs = [("full", '"Alice A" <sip:alice@example.com;transport=tcp>;tag=t1;expires=60'),
             ("bare", "sip:bob@example.net"), ("angle", "<sip:carol@example.org>;q=0.5"),
             ("token", "Dave <sip:dave@example.org>")]
    multi = [("two", '"A" <sip:a@x.example>;tag=1, <sip:b@y.example>;q=0.2')]
    extra = _tr_cases("nameaddrs", multi, ("nameaddr.uri", "nameaddr.params", "nameaddr.len"))
    return extra + _tr_cases("nameaddr", addrs, (
        "nameaddr.uri", "nameaddr.name", "nameaddr.len", "nameaddr.params", "nameaddr.param,tag",
        "nameaddr.param,q",
    ))


def _via_cases() -> list[Case]:
    vias = [("full", "SIP/2.0/UDP 192.0.2.7:5080;branch=z9hG4bK77aa;rport;received=198.51.100.9"),
            ("tcp", "SIP/2.0/TCP host.example.com;branch=z9hG4bKx;rport=5999 (comment here)"),
            ("ipv6", "SIP/2.0/TLS [2001:db8::9]:5091;branch=z9hG4bK88bb")]
    return _tr_cases("via", vias, (
        "via.name", "via.version", "via.transport", "via.host", "via.port", "via.params",
        "via.param,branch", "via.branch", "via.received", "via.rport", "via.comment",
    ))


def _misc_transform_cases() -> list[Case]:
    cases = _tr_cases("csv", [("three", "a,b, c"), ("one", "solo")],
                      ("csv.count", "csv.value,0", "csv.value,2"))
    ips = [("v4", "192.168.1.10"), ("pub", "8.8.8.8"), ("v6", "2001:db8::1"), ("bad", "not-an-ip"),
           ("loop", "127.0.0.1"), ("ten", "10.1.2.3")]
    cases += _tr_cases("ip", ips, ("ip.family", "ip.isip", "ip.isip4", "ip.isip6", "ip.isprivate",
                                   "ip.matches,192.168.0.0/16"))
    cases += _tr_cases("ip", [("v4", "192.168.1.10")], ("ip.pton|s.encode.hexa", "ip.pton|ip.ntop"))
    cases += _tr_cases("re", [("word", "Hello World hello")], (
        "re.subst,/hello/bye/", "re.subst,/hello/bye/i", "re.subst,/hello/bye/gi", "re.subst,/(l+)o/<\\1>/g",
        "re.subst,/^H(.*)W/\\1w/", "re.subst,/x/y/",
    ))
    cases += _tr_cases("chain", [("uri", URI_FULL)], (
        "uri.host|s.tolower", "uri.user|s.len|s.dec2hex", "uri.params|param.value,ttl|s.int",
        "s.select,1,@|s.select,0,:", "uri.host|s.toupper|s.md5|s.substr,0,8",
    ))
    return cases


def _expr(case_id: str, expr: str) -> Case:
    """An assignment `$var(r) = expr`, printed with its type (int or string)."""
    return Case(case_id, "[$var(r)] len=$(var(r){s.len})", f"$var(r) = {expr};")


# A literal as the left operand of a comparison (OpenSIPS 3.6 wants a variable there).
_LITERAL_LHS = re.compile(r'(^|[(!&|]\s*|\b(?:and|or|not)\s+)(-?\d+|"[^"]*")(?=\s*(?:==|!=|<=|>=|<|>|=~|!~))')


def _cond(case_id: str, cond: str, setup: str = "") -> Case:
    """A condition, printed as T or F. A literal left operand is first put in $var(Ln), keeping its
    type, because OpenSIPS's grammar takes only a variable on the left of a comparison."""
    assigns: list[str] = []

    def to_var(match: re.Match[str]) -> str:
        name = f"$var(L{len(assigns)})"
        assigns.append(f"{name} = {match.group(2)};")
        return match.group(1) + name

    cond = _LITERAL_LHS.sub(to_var, cond)
    prefix = " ".join([setup, *assigns]).strip()
    return Case(case_id, "$var(c)", f'{prefix} if ({cond}) $var(c) = "T"; else $var(c) = "F";')


def _arith_cases() -> list[Case]:
    exprs = {
        "add": "2 + 3", "prec1": "2 + 3 * 4", "prec2": "2 * 3 + 4", "prec3": "10 - 2 - 3",
        "prec4": "100 / 10 / 5", "prec5": "(2 + 3) * 4", "prec6": "2 - 3 * 4 + 5", "div": "7 / 2",
        "divneg": "-7 / 2", "mod": "7 % 3", "modneg": "-7 % 3", "neg": "0 - 5", "band": "255 & 15",
        "bor": "5 | 2", "bxor": "5 ^ 1", "bnot": "~0", "shl": "1 << 4", "shr": "256 >> 3",
        "bitprec": "1 + 2 & 3", "bitprec2": "6 & 3 | 8", "shlprec": "1 << 2 + 1",
        "ovf.add": "2147483647 + 1", "ovf.sub": "-2147483647 - 2", "ovf.mul": "65536 * 65536",
        "ovf.mul2": "46341 * 46341", "big.lit": "2147483647", "hex.lit": "0x1F + 1",
        "str.cat": '"abc" + "def"', "str.int": '"10" + 5', "int.str": '5 + "10"',
        "str.sub": '"10" - 5', "str.catnum": '"a" + "1"',
        "var.int": "$var(i10) + $var(i5)", "var.strint": "$var(s10) + $var(i5)",
        "var.strstr": "$var(s10) + $var(s10)", "hdr.num": "$hdr(X-Num) + 1", "cs.add": "$cs + 1",
        "hdr.neg": "$(hdr(X-Neg){s.int}) * 2", "len.add": "$(ci{s.len}) + 0",
        "null.add": "$var(undefined_x) + 1", "mul.zero": "0 * -5",
        "big.lit2": "4294967296 + 0", "big.lit3": "2147483648", "neg.big": "-2147483648 - 0",
        "shl.ovf": "1 << 31", "shl.32": "1 << 33", "shr.neg": "-16 >> 2", "mod.zero": "5 % 0",
        "div.zero": "5 / 0", "xor.neg": "-1 ^ 255",
    }
    setup = '$var(i10) = 10; $var(i5) = 5; $var(s10) = "10";'
    cases = [Case(f"arith.{k}", "[$var(r)] len=$(var(r){s.len})", f"{setup} $var(r) = {v};")
             for k, v in exprs.items()]
    compound = {
        "pluseq": ("$var(a) = 5;", "$var(a) += 3;"), "minuseq": ("$var(a) = 5;", "$var(a) -= 8;"),
        "multeq": ("$var(a) = 6;", "$var(a) *= 7;"), "diveq": ("$var(a) = 20;", "$var(a) /= 6;"),
        "modeq": ("$var(a) = 20;", "$var(a) %= 6;"), "pluseq.str": ('$var(a) = "ab";', '$var(a) += "cd";'),
        "pluseq.mixed": ('$var(a) = "ab";', "$var(a) += 1;"), "colon": ("$var(a) = 1;", "$var(a) := 9;"),
        "bandeq": ("$var(a) = 12;", "$var(a) &= 10;"), "boreq": ("$var(a) = 12;", "$var(a) |= 3;"),
    }
    for name, (init, op) in compound.items():
        cases.append(Case(f"assign.{name}", "[$var(a)] rc=$rc", f"{init} {op}"))
    return cases


def _compare_cases() -> list[Case]:
    conds = {
        "int.eq": "10 == 10", "int.ne": "10 != 11", "int.lt": "3 < 10", "int.gt": "-1 > -2",
        "int.le": "5 <= 5", "int.ge": "4 >= 5",
        "str.eq": '"abc" == "abc"', "str.eqcase": '"abc" == "ABC"', "str.ne": '"abc" != "abd"',
        "str.lt": '"abc" < "abd"', "str.gt": '"b" > "abc"', "str.ltlen": '"ab" < "abc"',
        "mix.eq": '"10" == 10', "mix.eq2": '10 == "10"', "mix.lt": '"9" < 10', "mix.strlt": '"9" < "10"',
        "mix.alpha": '"abc" == 0', "mix.lead": '"10abc" == 10',
        "var.eq": "$var(s10) == $var(i10)", "var.lt": "$var(s10) < $var(i5)",
        "hdr.eq": "$hdr(X-Num) == 42", "hdr.streq": '$hdr(X-Num) == "42"', "cs.eq": "$cs == 4711",
        "null.eq": "$var(undefined_y) == NULL", "null.ne": "$var(undefined_y) != NULL",
        "null.empty": '$var(undefined_y) == ""', "null.zero": "$var(undefined_y) == 0",
        "null.hdr": "$hdr(X-Missing) == NULL", "empty.null": '$hdr(X-Empty) == NULL',
        "empty.str": '$hdr(X-Empty) == ""', "set.null": "$var(nulled) == NULL",
        "bare.var": "$var(i10)", "bare.zero": "$var(zero)", "bare.str": "$var(s10)",
        "bare.emptystr": "$var(emptys)", "bare.null": "$var(undefined_z)", "bare.hdr": "$hdr(X-Num)",
        "not": "!(1 == 2)", "and": "1 == 1 && 2 == 3", "or": "1 == 2 || 2 == 2",
        "andor": "1 == 2 && 2 == 2 || 3 == 3", "orand": "1 == 1 || 2 == 3 && 3 == 4",
        "notand": "!1 == 2 && 1 == 1", "paren": "(1 == 2 || 2 == 2) && 3 == 3",
        "neg.lit": "-5 < 0", "and.word": "1 == 1 and 2 == 2", "or.word": "1 == 2 or 2 == 2",
        "not.word": "not 1 == 2",
    }
    setup = '$var(i10) = 10; $var(i5) = 5; $var(s10) = "10"; $var(zero) = 0; $var(emptys) = ""; ' \
            "$var(nulled) = 1; $var(nulled) = NULL;"
    return [_cond(f"cmp.{k}", v, setup) for k, v in conds.items()]


def _regex_cases() -> list[Case]:
    conds = {
        "anchor": '"abc" =~ "^a"', "case": '"abc" =~ "^A"', "plus": '"abbbc" =~ "b+c$"',
        "nomatch": '"abc" =~ "^b"', "negate": '"abc" !~ "z"', "class": '"a1b2" =~ "[0-9]b[[:digit:]]"',
        "alt": '"sip:bob@x" =~ "^sips?:(bob|alice)@"', "dot": '"a.b" =~ "a\\.b"',
        "braces": '"aaa" =~ "^a{3}$"',
        "ru": '$ru =~ "^sip:carol"', "ru.dom": '$rd =~ "example\\.com$"', "fu": '$fu =~ "@example\\.org"',
        "hdr": '$hdr(X-Num) =~ "^[0-9]+$"', "var": "$var(txt) =~ $var(pat)", "int": '42 =~ "^4"',
        "null": '$var(undefined_r) =~ ".*"', "empty": '"" =~ "^$"', "ua": '$hdr(X-List) =~ "beta"',
        "backslash.d": '"a5" =~ "a[0-9]"', "method": '$rm =~ "^MESS"',
    }
    setup = '$var(txt) = "Sip:Carol@Example.com"; $var(pat) = "carol@example";'
    return [_cond(f"re.{k}", v, setup) for k, v in conds.items()]


def _null_cases() -> list[Case]:
    return [
        Case("null.var", "[$var(never_set)]"), Case("null.avp", "[$avp(never_set)]"),
        Case("null.hdr", "[$hdr(X-Missing)]"), Case("null.tr", "[$(var(never_set){s.len})]"),
        Case("null.trint", "[$(hdr(X-Missing){s.int})]"), Case("null.du", "[$du]"),
        Case("null.assign", "[$var(n1)]", "$var(n1) = 5; $var(n1) = NULL;"),
        Case("null.copy", "[$var(n2)]", "$var(n2) = $var(never_set);"),
        Case("null.concat", "[$var(n3)]", '$var(n3) = "a" + $var(never_set);'),
        Case("null.avpdel", "[$avp(nd)] [$(avp(nd)[*])]", "$avp(nd) = 1; $avp(nd) = 2; $avp(nd) = NULL;"),
        Case("empty.hdr", "[$hdr(X-Empty)] len=$(hdr(X-Empty){s.len})"),
        Case("empty.var", "[$var(e1)] len=$(var(e1){s.len})", '$var(e1) = "";'),
        Case("null.hdrcnt", "[$hdrcnt(X-Missing)]"), Case("null.rs", "[$rs] [$rr]"),
        Case("null.auth", "[$au] [$ar]"),
    ]


def _avp_cases() -> list[Case]:
    fill = '$avp(L) = "one"; $avp(L) = "two"; $avp(L) = 3;'
    cases = [Case(f"avp.{k}", v, fill) for k, v in {
        "first": "$avp(L)", "i0": "$(avp(L)[0])", "i1": "$(avp(L)[1])", "i2": "$(avp(L)[2])",
        "i3": "[$(avp(L)[3])]", "im1": "$(avp(L)[-1])", "im2": "$(avp(L)[-2])", "all": "$(avp(L)[*])",
    }.items()]
    cases += [
        Case("avp.replace", "$(avp(R)[*])", '$avp(R) = "a"; $avp(R) = "b"; $avp(R) := "c";'),
        Case("avp.setidx", "$(avp(S)[*])", '$avp(S) = "a"; $avp(S) = "b"; $(avp(S)[1]) = "X";'),
        Case("avp.delone", "$(avp(D)[*])", '$avp(D) = "a"; $avp(D) = "b"; $avp(D) = NULL;'),
        Case("avp.delall", "[$(avp(E)[*])]", '$avp(E) = "a"; $avp(E) = "b"; $(avp(E)[*]) = NULL;'),
        Case("avp.varidx", "$(avp(V)[$var(ix)])", '$avp(V) = "a"; $avp(V) = "b"; $var(ix) = 1;'),
        Case("avp.int", "[$avp(I)] len=$(avp(I){s.len})", "$avp(I) = 0x10;"),
        Case("avp.count", "$var(n)", '$avp(C) = 1; $avp(C) = 2; $avp(C) = 3; $var(n) = 0; '
             "while ($(avp(C)[$var(n)]) != NULL) { $var(n) = $var(n) + 1; }"),
        Case("avp.tr", "$(avp(T)[1]{s.toupper})", '$avp(T) = "low"; $avp(T) = "top";'),
        Case("avp.arith", "$var(r)", "$avp(N1) = 5; $avp(N1) = 7; $var(r) = $avp(N1) + $(avp(N1)[1]);"),
    ]
    return cases


def _flag_cases() -> list[Case]:
    cond = ('$var(c) = ""; if (isflagset("FA")) $var(c) = $var(c) + "A"; '
            'if (isflagset("FB")) $var(c) = $var(c) + "B";')
    bcond = ('$var(c) = ""; if (isbflagset("BA")) $var(c) = $var(c) + "A"; '
             'if (isbflagset("BB")) $var(c) = $var(c) + "B";')
    return [
        Case("flag.none", "[$var(c)]", cond),
        Case("flag.set", "[$var(c)]", f'setflag("FA"); {cond}'),
        Case("flag.both", "[$var(c)]", f'setflag("FB"); {cond}'),
        Case("flag.reset", "[$var(c)]", f'resetflag("FA"); {cond}'),
        Case("flag.rc", "$rc", 'resetflag("FB"); isflagset("FB");'),
        Case("flag.rcset", "$rc", 'setflag("FC"); isflagset("FC");'),
        Case("bflag.set", "[$var(c)]", f'setbflag("BA"); {bcond}'),
        Case("bflag.reset", "[$var(c)]", f'resetbflag("BA"); setbflag("BB"); {bcond}'),
        Case("flag.num", "[$var(c)]", '$var(c) = ""; setflag("7"); if (isflagset("7")) $var(c) = "seven";'),
    ]


def _switch_cases() -> list[Case]:
    def sw(case_id: str, subject: str, body: str) -> Case:
        return Case(case_id, "[$var(t)]", f'$var(t) = ""; $var(s) = {subject}; switch ($var(s)) {{ {body} }}')

    body = ('case 1: $var(t) = $var(t) + "1"; '
            'case 2: $var(t) = $var(t) + "2"; break; '
            'case 3: $var(t) = $var(t) + "3"; '
            'default: $var(t) = $var(t) + "D";')
    sbody = ('case "a": $var(t) = $var(t) + "a"; break; '
             'case "B": $var(t) = $var(t) + "B"; '
             'case "c": $var(t) = $var(t) + "c"; break; '
             'default: $var(t) = $var(t) + "D";')
    return [
        sw("switch.1", "1", body), sw("switch.2", "2", body), sw("switch.3", "3", body),
        sw("switch.9", "9", body), sw("switch.a", '"a"', sbody), sw("switch.b", '"b"', sbody),
        sw("switch.c", '"c"', sbody), sw("switch.z", '"z"', sbody), sw("switch.str1", '"1"', body),
        sw("switch.nodefault", "5", 'case 1: $var(t) = "one"; break;'),
        Case("switch.pv", "[$var(t)]",
             '$var(t) = ""; switch ($rm) { case "MESSAGE": $var(t) = "msg"; break; '
             'default: $var(t) = "other"; }'),
        Case("switch.rc", "[$rc]", '$var(s) = 7; switch ($var(s)) { case 7: $var(x) = 1; break; }'),
    ]


def _while_cases() -> list[Case]:
    return [
        Case("while.count", "$var(i) $var(sum)",
             "$var(i) = 0; $var(sum) = 0; while ($var(i) < 10) { $var(sum) = $var(sum) + $var(i); "
             "$var(i) = $var(i) + 1; }"),
        Case("while.none", "$var(i)", "$var(i) = 5; while ($var(i) < 3) { $var(i) = 100; }"),
        Case("while.nested", "$var(n)",
             "$var(n) = 0; $var(i) = 0; while ($var(i) < 3) { $var(j) = 0; "
             "while ($var(j) < 4) { $var(n) = $var(n) + 1; $var(j) = $var(j) + 1; } "
             "$var(i) = $var(i) + 1; }"),
        Case("while.str", "$var(s)",
             '$var(s) = ""; $var(i) = 0; while ($var(i) < 5) { $var(s) = $var(s) + "x"; '
             "$var(i) = $var(i) + 1; }"),
        Case("while.csv", "$var(out)",
             '$var(out) = ""; $var(i) = 0; $var(list) = "a,b,c,d"; '
             'while ($var(i) < $(var(list){csv.count})) { '
             '$var(out) = $var(out) + $(var(list){csv.value,$var(i)}{s.toupper}); $var(i) = $var(i) + 1; }'),
        Case("while.hdrs", "$var(out)",
             '$var(out) = ""; $var(i) = 0; while ($(hdr(Via)[$var(i)]) != NULL) { '
             "$var(out) = $var(out) + $(hdr(Via)[$var(i)]{via.transport}); $var(i) = $var(i) + 1; }"),
    ]


def _route_cases() -> list[Case]:
    return [
        Case("route.params", "[$var(p)]", 'route(params, "one", 2, $rm);'),
        Case("route.nparams", "[$var(p)]", "route(params);"),
        Case("route.ret.neg", "$rc", "route(ret, -3);"),
        Case("route.ret.pos", "$rc", "route(ret, 7);"),
        Case("route.ret.plain", "$rc", "route(plain_return);"),
        Case("route.ret.none", "$rc", "route(no_return);"),
        Case("route.retcode", "$retcode", "route(ret, -1);"),
        Case("route.cond.neg", "$var(c)", 'if (route(ret, -2)) $var(c) = "T"; else $var(c) = "F";'),
        Case("route.cond.pos", "$var(c)", 'if (route(ret, 2)) $var(c) = "T"; else $var(c) = "F";'),
        Case("route.rc.after.if", "$rc", '$var(one) = 1; if ($var(one) == 2) { $var(x) = 1; }'),
        Case("route.rc.negate", "$var(c)", 'if (!route(ret, -2)) $var(c) = "T"; else $var(c) = "F";'),
        Case("route.nested", "$var(depth)", "$var(depth) = 0; route(deeper, 3);"),
        Case("route.assign", "[$var(r)]", "$var(r) = route(ret, 5);"),
    ]


_PV_EXTRA: tuple[tuple[str, str], ...] = (
    ("pv.hdr.list1", "$(hdr(X-List)[1])"), ("pv.hdr.listall", "$(hdr(X-List)[*])"),
    ("pv.hdrcnt.list", "$hdrcnt(X-List)"), ("pv.hdr.compact", "$hdr(i)"), ("pv.hdr.case", "$hdr(x-num)"),
    ("pv.ct1", "$(ct[1])"), ("pv.ctall", "$(ct[*])"), ("pv.ct.q1", "$(ct.fields(q)[1])"),
    ("pv.ai", "$ai"), ("pv.ru.port", "$rp"), ("pv.fn.quoted", "$fn"), ("pv.ft", "$ft"),
    ("pv.via.rport", "$(hdr(Via){via.rport})"), ("pv.via.received", "$(hdr(Via){via.received})"),
    ("pv.via2.host", "$(hdr(Via)[1]{via.host})"), ("pv.rb", "$(rb{s.select,0,:})"),
    ("pv.C", "$C(rg)x$C(xx)"), ("pv.time.Y", "$(time(%Y){s.len})"), ("pv.Ts.len", "$(Ts{s.len})"),
    ("pv.var.dyn", "$var($var(name))"), ("pv.hdr.dyn", "$hdr($var(hname))"),
    ("pv.cfg_line", "$cfg_line"), ("pv.Tf.len", "$(Tf{s.len})"), ("pv.TS.len", "$(TS{s.len})"),
    ("pv.time.fmt", "$(time(%Y-%m){s.len})"),
    ("pv.mf.after", "$mf"), ("pv.bf.after", "$bf"), ("pv.param.outside", "[$param(1)]"),
    ("pv.rc.start", "[$rc]"), ("pv.hdr.neg1", "$(hdr(X-List)[-1])"), ("pv.hdr.neg3", "[$(hdr(X-List)[-3])]"),
    ("pv.hdrcnt.i", "$hdrcnt(i)"), ("pv.hdr.full", "$hdr(Content-Type)"),
)


def _pv_extra_cases() -> list[Case]:
    setup = '$var(name) = "target"; $var(target) = "found"; $var(hname) = "X-Num";'
    return [Case(k, v, setup) for k, v in _PV_EXTRA]


def _assign_pv_cases() -> list[Case]:
    return [
        Case("set.ru", "$ru | $rU | $rd | $rp", '$ru = "sip:new@host.example:5099;x=1";'),
        Case("set.rU", "$ru", '$rU = "changed";'),
        Case("set.rd", "$ru", '$rd = "other.example";'),
        Case("set.rp", "$ru", "$rp = 5077;"),
        Case("set.du", "$du | $dd | $dp | $dP", '$du = "sip:10.0.0.5:5088;transport=tcp";'),
        Case("set.du.null", "[$du]", '$du = "sip:1.2.3.4"; $du = NULL;'),
        Case("set.ou.after", "$ou", '$ru = "sip:x@y";'),
        Case("set.var.type", "[$var(t)] [$(var(t){s.len})]", '$var(t) = "12"; $var(t) = $var(t) + 0;'),
        # $Tsm (the current second's microseconds) is an integer below 10^6; its digit count
        # changes with the instant, so the two servers are compared on the range, not the value
        _cond("pv.Tsm.int", "$var(t) >= 0 && $var(t) < 1000000", setup="$var(t) = $Tsm;"),
    ]


def _dialect_cases() -> list[Case]:
    """Cases written in the 1.x/2.x spelling pysips accepts: OpenSIPS runs their 3.x rewrite
    (dialect.py), so each checks one row of the documented mapping."""
    return [
        _cond("dialect.method", 'method == "MESSAGE"'), _cond("dialect.method.re", 'method =~ "^mess"'),
        _cond("dialect.uri", 'uri =~ "^sip:carol"'), _cond("dialect.from_uri", 'from_uri =~ "dave@"'),
        _cond("dialect.to_uri", 'to_uri == "sips:carol@example.com:5071"'),
        _cond("dialect.src_ip", "src_ip == 127.0.0.1"), _cond("dialect.src_ip.net", "src_ip == 127.0.0.0/8"),
        _cond("dialect.proto", "proto == UDP"), _cond("dialect.proto.tcp", "proto == TCP"),
        _cond("dialect.dst_port", "dst_port == 5060"), _cond("dialect.status", "status == NULL"),
        Case("dialect.pr", "$pr $proto $Ri"), Case("dialect.Rp.set", "$var(c)",
                                                   '$var(c) = "F"; if ($Rp > 0) $var(c) = "T";'),
        Case("dialect.avp.s", "$avp(s:old) $avp(old)", '$avp(s:old) = "one";'),
        Case("dialect.flag.bare", "[$var(c)]", '$var(c) = ""; setflag(BAREFLAG); '
             'if (isflagset(BAREFLAG)) $var(c) = "set";'),
        Case("dialect.flag.num", "[$var(c)]", '$var(c) = ""; setflag(9); resetflag(9); '
             'if (isflagset(9)) $var(c) = "set"; else $var(c) = "reset";'),
    ]


def _literal_string_cases() -> list[Case]:
    """Strings in expressions are literal in OpenSIPS: only function parameters expand `$x`."""
    return [
        _cond("lit.cmp", '$rm == "$rm"'), _cond("lit.regex", '$rm =~ "^$rm"'),
        Case("lit.assign", "[$var(s)]", '$var(s) = "dbl $rm";'),
        Case("lit.single", "[$var(s)]", "$var(s) = 'single $rm';"),
        Case("lit.concat", "[$var(s)]", '$var(s) = "a" + "$rm";'),
        Case("lit.avp", "[$avp(lq)]", '$avp(lq) = "x $rm";'),
        Case("lit.route", "[$var(pp)]", 'route(lit_params, "$rm", "$ci");'),
        Case("lit.switch", "[$var(c)]",
             '$var(t) = "$rm"; switch ($var(t)) { case "$rm": $var(c) = "lit"; break; '
             'default: $var(c) = "no"; }'),
        Case("lit.escapes", "$(var(s){s.len}) [$var(s)]", '$var(s) = "a\\tb\\\\c\\"d";'),
    ]


def _function_cases() -> list[Case]:
    """Values around module functions (sipmsgops, textops): return codes, what $hdr sees after
    header changes (OpenSIPS applies them when the message leaves)."""
    return [
        Case("fn.append_hf", "[$hdr(X-New)] [$hdrcnt(X-New)]", 'append_hf("X-New: one\\r\\n");'),
        Case("fn.remove_hf", "[$hdr(X-Num)] [$hdrcnt(X-Num)]", 'remove_hf("X-Num");'),
        _cond("fn.is_method", 'is_method("MESSAGE|INVITE")'),
        Case("fn.is_method.rc", "$rc $retcode", 'is_method("INVITE");'),
        _cond("fn.has_totag", "has_totag()"), _cond("fn.is_present_hf", 'is_present_hf("X-List")'),
        _cond("fn.search", 'search("X-Num: 4[0-9]")'),
        Case("fn.assign.false", "[$var(r)]", '$var(r) = is_method("INVITE");'),
        Case("fn.assign.true", "[$var(r)]", '$var(r) = is_method("MESSAGE");'),
        Case("fn.format", "[$hdr(X-Fmt)]", 'append_hf("X-Fmt: $rm $ci\\r\\n");'),
    ]


def _more_cases() -> list[Case]:
    """AVP copies and [append], transformations with variable arguments, chains, empty input."""
    return [
        Case("more.0", '[$(avp(x)[*])]',
             '$avp(y) = "1"; $avp(y) = "2"; $avp(x) = $avp(y);'),
        Case("more.1", '[$(avp(ap)[*])]',
             '$avp(ap) = "a"; $(avp(ap)[append]) = "z";'),
        Case("more.2", '[$(var(s){s.substr,$var(a),$var(b)})]',
             '$var(a) = 1; $var(b) = 3; $var(s) = "abcdef";'),
        Case("more.3", '[$(var(s){s.substr,0,-1})] [$(var(s){s.substr,-2,0})] [$(var(s){s.substr,2,-2})]',
             '$var(s) = "abcdef";'),
        Case("more.4", '[$(var(s){s.select,-2,,})] [$(var(s){s.select,9,,})]',
             '$var(s) = "a,b,c,d";'),
        Case("more.5", '[$(var(u){uri.param,$var(p)})] [$(var(u){uri.param,x})]',
             '$var(p) = "lr"; $var(u) = "sip:a@b;lr;x=1";'),
        Case("more.6", '[$(var(l){param.value,$var(n)})]',
             '$var(n) = "b"; $var(l) = "a=1;b=2";'),
        Case("more.7", '[$(var(s){s.encode.hexa}{s.decode.hexa})] [$(var(s){s.b64encode}{s.b64decode})]',
             '$var(s) = "Hello";'),
        Case("more.8", '[$(var(i){s.dec2hex})] [$(var(i){s.len})] [$(var(i){s.toupper})]',
             '$var(i) = 255;'),
        Case("more.9", '[$(var(i){s.int})] [$(var(i){s.dec2hex})]',
             '$var(i) = -5;'),
        Case("more.10", '[$(var(s){s.fill.left,0,5})] [$(var(s){s.fill.right,xy,5})] [$(var(s){s.width,1})]',
             '$var(s) = "ab";'),
        Case("more.11", '[$(var(s){uri.user}{s.toupper}{s.len})]',
             '$var(s) = "sip:alice@example.com";'),
        Case("more.12", "[$(var(s){uri.user})] [$(var(s){nameaddr.uri})] "
             "[$(var(s){param.count})] [$(var(s){csv.count})]",
             '$var(s) = "";'),
        Case("more.13", '[$(var(s){ip.isprivate})] [$(var(s){ip.family})] [$(var(s){ip.pton}{ip.family})]',
             '$var(s) = "10.0.0.1";'),
        Case("more.14", '[$(var(s){s.escape.common})] [$(var(s){s.tolower}{s.reverse})]',
             '$var(s) = "A b C";'),
    ]


def _int_text_cases() -> list[Case]:
    """{s.int} of a string that is not exactly a number: printed as the text, used as the number."""
    setup = '$var(it) = "12abc";'
    return [
        Case("sint.len", "$(var(it){s.int}{s.len})", setup),
        Case("sint.assign", "[$var(iu)]", f"{setup} $var(iu) = $(var(it){{s.int}});"),
        Case("sint.add", "[$var(iu)]", f"{setup} $var(iu) = $(var(it){{s.int}}) + 1;"),
        Case("sint.avp", "[$avp(iu)]", f"{setup} $avp(iu) = $(var(it){{s.int}});"),
        _cond("sint.cmp", "$(var(it){s.int}) == 12", setup),
        _cond("sint.cmpstr", '$(var(it){s.int}) == "12abc"', setup),
        Case("sint.md5", "$(var(it){s.int}{s.md5})", setup),
        Case("sint.concat", "[$var(iu)]", f'{setup} $var(iu) = "n=" + $(var(it){{s.int}});'),
    ]


def _name_cases() -> list[Case]:
    """Names given through another variable: $avp and $hdr resolve them, $var reads them literally."""
    setup = '$var(n) = "target"; $avp(target) = "avpval"; $var(target) = "varval";'
    return [
        Case("name.avp", "[$avp($var(n))]", setup),
        Case("name.var", "[$var($var(n))]", setup),
        Case("name.var.set", "[$var(target)] [$var($var(n))]", f'{setup} $var($var(n)) = "set-through";'),
        Case("name.hdrcnt", "[$hdrcnt($var(h))]", '$var(h) = "X-Num";'),
    ]


def _loop_cases() -> list[Case]:
    return [
        Case("foreach.avp", "[$var(out)]", '$avp(fe) = "x"; $avp(fe) = "y"; $avp(fe) = "z"; $var(out) = ""; '
             "for ($var(it) in $(avp(fe)[*])) $var(out) = $var(out) + $var(it);"),
        Case("foreach.hdr", "[$var(out)]", '$var(out) = ""; '
             "for ($var(it) in $(hdr(X-List)[*])) $var(out) = $var(out) + \"|\" + $var(it);"),
        Case("while.break", "$var(i)", "$var(i) = 0; while ($var(i) < 100) { $var(i) = $var(i) + 1; "
             "if ($var(i) == 7) break; }"),
        Case("while.rc", "$rc", "$var(i) = 0; while ($var(i) < 3) { $var(i) = $var(i) + 1; }"),
        Case("while.break.rc", "$rc", "$var(i) = 0; while ($var(i) < 3) { $var(i) = $var(i) + 1; break; }"),
        Case("route.switch.break.rc", "$rc", "route(switch_break);"),
        Case("route.switch.break.if", "$var(c)",
             'if (route(switch_break)) $var(c) = "T"; else $var(c) = "F";'),
    ]


# Log calls, compared as whole log records (level prefix included): `log.<id>` cases. Some print
# nothing at log_level=3 / xlog_level=L_NOTICE, on both servers alike.
LOG_CALLS: tuple[tuple[str, str], ...] = (
    ("err", 'xlog("L_ERR", "CASE log.err $rm\\n");'),
    ("warn", 'xlog("L_WARN", "CASE log.warn x\\n");'),
    ("notice", 'xlog("L_NOTICE", "CASE log.notice x\\n");'),
    ("info", 'xlog("L_INFO", "CASE log.info x\\n");'), ("dbg", 'xlog("L_DBG", "CASE log.dbg x\\n");'),
    ("crit", 'xlog("L_CRIT", "CASE log.crit x\\n");'), ("alert", 'xlog("L_ALERT", "CASE log.alert x\\n");'),
    ("xdbg", 'xdbg("CASE log.xdbg x\\n");'), ("log", 'log("CASE log.log x\\n");'),
    ("log1", 'log(1, "CASE log.log1 x\\n");'), ("logm1", 'log(-1, "CASE log.logm1 x\\n");'),
    ("one", 'xlog("CASE log.one x\\n");'), ("esc", 'xlog("CASE log.esc a\\tb\\\\c\\n");'),
)


def expression_cases() -> list[Case]:
    cases = (_str_transform_cases() + _uri_cases() + _param_cases() + _nameaddr_cases() + _via_cases()
             + _misc_transform_cases() + _arith_cases() + _compare_cases() + _regex_cases() + _null_cases()
             + _avp_cases() + _flag_cases() + _switch_cases() + _while_cases() + _route_cases()
             + _pv_extra_cases() + _assign_pv_cases() + _dialect_cases() + _loop_cases()
             + _literal_string_cases() + _function_cases() + _more_cases()
             + _int_text_cases() + _name_cases())
    ids = [c.id for c in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate case ids: {sorted(duplicates)}")
    return cases


# Helper routes the route cases call (3.x syntax that pysips reads too).
_HELPER_ROUTES = """
route[params] {
    $var(p) = $param(1) + "|" + $param(2) + "|" + $param(3);
}

route[ret] {
    return($param(1));
}

route[plain_return] {
    return;
}

route[no_return] {
    $var(nr) = 1;
}

route[lit_params] {
    $var(pp) = $param(1) + "|" + $param(2);
}

route[switch_break] {
    $var(sb) = 1;
    switch ($var(sb)) {
    case 1:
        $var(sbx) = "one";
        break;
    }
}

route[deeper] {
    $var(depth) = $var(depth) + 1;
    if ($param(1) > 1) {
        $var(next) = $param(1) - 1;
        route(deeper, $var(next));
    }
}
"""


def script() -> str:
    """The language script: per-message PVs on every message, expression cases on the carrier."""
    lines = ['loadmodule "sipmsgops.so"', 'loadmodule "textops.so"', "",
             "route {", "    route(message_pvs);", '    if ($hdr(X-Diff-Batch) == "expr") {',
             "        route(expressions);", "    }", '    xlog("DIFF-DONE\\n");', "    exit;", "}", "",
             "onreply_route {", "    route(message_pvs);", '    xlog("DIFF-DONE\\n");', "}", "",
             "route[message_pvs] {"]
    for case_id, pv in MESSAGE_PVS:
        lines.append(f'    xlog("CASE {case_id} {pv}\\n");')
    lines += ["}", "", "route[expressions] {"]
    for case in expression_cases():
        if case.setup:
            lines.append(f"    {case.setup}")
        lines.append(f'    xlog("CASE {case.id} {case.value}\\n");')
    lines += [f"    {call}" for _, call in LOG_CALLS]
    lines += ["}", _HELPER_ROUTES]
    return "\n".join(lines) + "\n"
