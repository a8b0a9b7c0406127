"""The 1.x/2.x -> 3.x dialect mapping: how the differential rig rewrites a script for OpenSIPS 3.6.

pysips accepts the older spellings found in real scripts; OpenSIPS 3.6 refuses them. When a script
under test uses one, the rig gives OpenSIPS the 3.x form (`to_opensips_3`), so both servers run
the same logic. Each rule below is one row of the documented mapping (docs/compatibility.md lists
them; `python3 -m tests.differential.dialect` prints the table, and a test keeps the page in step).
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pysips.script.loader import ModuleFinder


@dataclass(frozen=True, slots=True)
class Rule:
    old: str  # the older spelling, as the documentation shows it
    new: str  # its 3.x form ("(line removed)" when 3.x has no such setting)
    note: str  # why, in a few words
    pattern: re.Pattern[str]
    replacement: str | Callable[[re.Match[str]], str]

    def apply(self, text: str) -> str:
        return self.pattern.sub(self.replacement, text)


def _global(old: str, new: str | None, note: str) -> Rule:
    """A global parameter `old = value` renamed to `new` (or dropped when new is None)."""
    pattern = re.compile(rf"^(\s*){re.escape(old)}(\s*=)", re.MULTILINE)
    if new is None:
        pattern = re.compile(rf"^\s*{re.escape(old)}\s*=.*$", re.MULTILINE)
        return Rule(f"`{old}=`", "(line removed)", note, pattern, "")
    return Rule(f"`{old}=`", f"`{new}=`", note, pattern, rf"\g<1>{new}\g<2>")


# The 2.x keyword operands of conditions and the pseudo-variable 3.x reads instead.
_KEYWORDS = {
    "from_uri": "$fu", "to_uri": "$tu", "uri": "$ru", "method": "$rm", "src_ip": "$si",
    "src_port": "$sp", "dst_ip": "$Ri", "dst_port": "$Rp", "proto": "$pr", "status": "$rs",
    "af": "$af", "retcode": "$rc", "msg:len": "$ml",
}
_SOCKET_FIELD = {"pr": "proto", "proto": "proto", "Ri": "ip", "Rp": "port", "af": "af"}
# is_myself() takes a host (OpenSIPS 3.x check_self), not a URI: "sip:a@b" is never ours
_MYSELF_PV = {"uri": "$rd", "from_uri": "$fd", "to_uri": "$td", "src_ip": "$si"}


def _myself(match: re.Match[str]) -> str:
    negate = "!" if match.group(2) == "!=" else ""
    return f'{negate}is_myself("{_MYSELF_PV[match.group(1)]}")'


_TLS_DOMAIN_PARAM = re.compile(r'(modparam\s*\(\s*"tls_mgm"\s*,\s*"[a-z_]+"\s*,\s*")(?!\[)([^"]*"\s*\))')


def _tls_default_domain(script: str) -> str:
    """2.x set tls_mgm's certificate/key/... without a domain; 3.x wants `[domain]value` and the
    domain declared: give them a declared `default` server domain."""
    first = _TLS_DOMAIN_PARAM.search(script)
    if first is None:
        return script
    script = _TLS_DOMAIN_PARAM.sub(r"\g<1>[default]\g<2>", script)
    declare = 'modparam("tls_mgm", "server_domain", "default")\n'
    return script[: first.start()] + declare + script[first.start():]


def _registrar_flags() -> Any:
    """The registrar's own flag parsing (one implementation of the 2.x letters)."""
    assert ModuleFinder().find("registrar") is not None
    return importlib.import_module("pysips_modules.registrar.flags")


def _reg_flags(match: re.Match[str]) -> str:
    flags = _registrar_flags()
    function, raw = match.group(1), match.group(3)
    if function == "save":
        if not flags.save_letters_used(raw):
            return match.group(0)
        named = flags.save_flags_3x(flags.parse_save_flags(raw))
    else:
        if not flags.lookup_letters_used(raw):
            return match.group(0)
        named = flags.lookup_flags_3x(flags.parse_lookup_flags(raw))
    return f'{match.group(1)}({match.group(2)}"{named}"'


_TLS_LIBRARY = re.compile(r'^\s*loadmodule\s+"tls_(?:openssl|wolfssl)(?:\.so)?"', re.MULTILINE)
_TLS_MGM = re.compile(r'^(\s*loadmodule\s+"tls_mgm(?:\.so)?")', re.MULTILINE)


def _tls_library(script: str) -> str:
    """3.x tls_mgm needs a TLS library module (2.x had OpenSSL built in)."""
    if _TLS_LIBRARY.search(script):
        return script
    return _TLS_MGM.sub(r'loadmodule "tls_openssl.so"\n\g<1>', script, count=1)


def _keyword(match: re.Match[str]) -> str:
    return _KEYWORDS[match.group(1)]


_KEYWORD_NAMES = "|".join(sorted((re.escape(k) for k in _KEYWORDS), key=len, reverse=True))

RULES: tuple[Rule, ...] = (
    _global("debug", "log_level", "renamed in 3.0"),
    _global("children", "udp_workers", "renamed in 3.0"),
    _global("tcp_children", "tcp_workers", "renamed in 3.0"),
    _global("tcp_listen_backlog", "tcp_socket_backlog", "renamed in 3.0"),
    _global("fork", None, "3.x always forks; the rig runs it with -F"),
    _global("disable_tcp", None, "3.x opens TCP only for `socket=tcp:` lines"),
    _global("disable_tls", None, "3.x opens TLS only for `socket=tls:` lines"),
    _global("port", None, "3.x takes the port from each `socket=`"),
    _global("uid", None, "3.x takes the user from `-u` only"),
    _global("gid", None, "3.x takes the group from `-g` only"),
    _global("mem_group", None, "gone in 3.x"),
    Rule('`loadmodule "uri.so"` and its `modparam`s', "(lines removed)",
         "3.x has no uri module: has_totag(), is_user() ... moved to sipmsgops",
         re.compile(r'^\s*(?:loadmodule\s+"uri(?:\.so)?"|modparam\s*\(\s*"uri"\s*,.*\))\s*$',
                    re.MULTILINE), ""),
    Rule('`modparam("tm", "fr_timer", N)`', '`modparam("tm", "fr_timeout", N)`', "renamed in 2.0",
         re.compile(r'(modparam\s*\(\s*"tm"\s*,\s*")fr_timer(")'), r"\g<1>fr_timeout\g<2>"),
    Rule('`modparam("tm", "fr_inv_timer", N)`', '`modparam("tm", "fr_inv_timeout", N)`', "renamed in 2.0",
         re.compile(r'(modparam\s*\(\s*"tm"\s*,\s*")fr_inv_timer(")'), r"\g<1>fr_inv_timeout\g<2>"),
    Rule("`$avp(s:name)` `$avp(i:N)`", "`$avp(name)` `$avp(N)`", "1.x AVP name prefixes are gone",
         re.compile(r"\$avp\([si]:"), "$avp("),
    Rule("`setflag(NAT)` `isbflagset(7)` (a bare name or number)", '`setflag("NAT")` `isbflagset("7")`',
         "3.x flag functions take a string (a flag name)",
         re.compile(r"\b((?:re)?setb?flag|isb?flagset)\(\s*([A-Za-z0-9_]+)\s*\)"), r'\g<1>("\g<2>")'),
    Rule('`sl_send_reply("404", ...)` `mf_process_maxfwd_header("10")` (a quoted number)',
         "`sl_send_reply(404, ...)` `mf_process_maxfwd_header(10)`",
         "3.x integer parameters take a number or a variable, not a string",
         re.compile(r'\b(sl_send_reply|send_reply|t_reply|sl_reply|mf_process_maxfwd_header|'
                    r'maxfwd_process|t_reply_with_body)\(\s*"(-?\d+)"'), r"\g<1>(\g<2>"),
    Rule("`uri==myself` `from_uri!=myself` `to_uri==myself` `src_ip==myself`",
         '`is_myself("$rd")` `!is_myself("$fd")` ...',
         "3.x has no `myself` keyword; is_myself() ignores an absent port",
         re.compile(r"(?<![\w$.])(from_uri|to_uri|src_ip|uri)\s*(==|!=)\s*myself\b"), _myself),
    Rule("`method==\"INVITE\"` `src_ip` `dst_port` `proto` `status` ... as operands",
         "`$rm` `$si` `$rs` ... (`$socket_in(..)` for dst_ip, dst_port, proto, af)",
         "3.x reads these through pseudo-variables only",
         re.compile(rf"(?<![\w$.:\"])({_KEYWORD_NAMES})(?=\s*(?:==|!=|=~|!~|>=|<=|>|<))"), _keyword),
    Rule("`$pr` `$proto` `$Ri` `$Rp` `$af`", "`$socket_in(proto)` `$socket_in(ip)` `$socket_in(port)` ...",
         "3.x reads the receiving socket through $socket_in only",
         re.compile(r"\$(proto|pr|Ri|Rp|af)(?![\w.(])"),
         lambda m: f"$socket_in({_SOCKET_FIELD[m.group(1)]})"),
    Rule('`lookup("location", "m")` `save("location", "c1")` (letters)',
         '`lookup("location", "method-filtering")` `save("location", "max-contacts=1")`',
         "3.x registrar flags are names; letters stop it at start-up",
         re.compile(r'\b(save|lookup)\((\s*"[^"]*"\s*,\s*)"([^"$]*)"'), _reg_flags),
    Rule("`proto == WS` (a bare protocol name)", '`$socket_in(proto) == "WS"`',
         "3.x compares with a string; a bare word is a syntax error",
         re.compile(r"(\$socket_in\(proto\)\s*(?:==|!=)\s*)(UDP|TCP|TLS|SCTP|WSS|WS)\b", re.IGNORECASE),
         r'\g<1>"\g<2>"'),
)


def to_opensips_3(script: str) -> str:
    """The script with every older spelling of RULES replaced by its OpenSIPS 3.x form."""
    for rule in RULES:
        script = rule.apply(script)
    return _tls_library(_tls_default_domain(script))


def markdown_table() -> str:
    rows = ["| 1.x/2.x spelling | OpenSIPS 3.x form | note |", "| --- | --- | --- |"]
    rows += [f"| {rule.old} | {rule.new} | {rule.note} |" for rule in RULES]
    rows.append('| `modparam("tls_mgm", "certificate", "/path")` (no domain) | '
                '`modparam("tls_mgm", "certificate", "[default]/path")` and a `server_domain` "default" | '
                "3.x tls_mgm settings name their TLS domain |")
    rows.append('| `loadmodule "tls_mgm.so"` alone | `loadmodule "tls_openssl.so"` before it | '
                "3.x tls_mgm needs a TLS library module; it does not start without one |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")
