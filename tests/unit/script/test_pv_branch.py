"""Core branch pseudo-variables ($branch, $msg.branch.*), the other 3.6 core variables of pv_extra
and set_via_handling(), run from script text against parsed messages, as OpenSIPS 3.6 defines
them (pvar.c, core_cmds.c)."""

from __future__ import annotations

import logging

import pytest
from test_compile_support import INVITE, calls, load, run

from pysips.script.context import ProcessState
from pysips.script.oslog import SCRIPT_LOGGER
from pysips.script.pv_branch import q_text


def recorded(body: str, data: bytes = INVITE) -> list[object]:
    _, ctx = run(load("route {\n" + body + "\n}\n"), data)
    return [c[1] for c in calls(ctx)]


def test_q_text_prints_like_opensips() -> None:
    assert [q_text(q) for q in (None, 1.0, 0.0, 0.5, 0.123, 0.05)] == ["", "1", "0", "0.5", "0.123", "0.05"]


def test_msg_branch_counts_ruri_as_zero_and_defaults_to_last() -> None:
    got = recorded(
        't_rec("$msg.branch.last_idx");'
        't_rec("$msg.branch.uri");'  # only the R-URI: the last is branch 0
        'append_branch("sip:b1@h1");'
        '$msg.branch = "sip:b2@h2";'
        't_rec("$msg.branch.last_idx|$msg.branch.uri|$(msg.branch.uri[0])|$(msg.branch.uri[1])");'
        't_rec("$(msg.branch.uri[-1])|$(msg.branch.uri[5])");'
        't_rec("$(msg.branch.uri[*])");'
    )
    assert got == [
        "0",
        "sip:bob@remote.org",
        "2|sip:b2@h2|sip:bob@remote.org|sip:b1@h1",
        "sip:b2@h2|<null>",
        "sip:bob@remote.org, sip:b1@h1, sip:b2@h2",
    ]


def test_branch_2x_form_counts_appended_only_and_defaults_to_first() -> None:
    got = recorded(
        't_rec("$branch(uri)");'
        '$branch = "sip:b1@h1"; $branch = "sip:b2@h2";'
        't_rec("$branch|$branch(uri)|$(branch(uri)[1])|$(branch(uri)[-1])|$(branch(uri)[*])");'
        '$(branch(duri)[1]) = "sip:proxy:5080";'
        't_rec("$(branch(duri)[0])|$(branch(duri)[1])");'
    )
    assert got == [
        "<null>",
        "sip:b1@h1|sip:b1@h1|sip:b2@h2|sip:b2@h2|sip:b1@h1, sip:b2@h2",
        "<null>|sip:proxy:5080",
    ]


def test_msg_branch_writes_reach_ruri_branch_and_appended_ones() -> None:
    loaded = load(
        'route {\n'
        'append_branch("sip:b1@h1");'
        '$(msg.branch.uri[0]) = "sip:new@ruri";'
        '$(msg.branch.duri[0]) = "sip:out:5090";'
        '$msg.branch.q = 500;'  # the last branch: b1
        '$(msg.branch.q[0]) = 1000;'
        '$(msg.branch.path[1]) = "<sip:p1;lr>";'
        '$(msg.branch.uri[7]) = "sip:nowhere";'  # no such branch: error, nothing changes
        't_rec("$ru|$du|$(msg.branch.q[*])|$msg.branch.path");'
        '$(msg.branch.duri[0]) = NULL;'
        't_rec("$du");'
        '}\n'
    )
    _, ctx = run(loaded, INVITE)
    assert [c[1] for c in calls(ctx)] == ["sip:new@ruri|sip:out:5090|1, 0.5|<sip:p1;lr>", "<null>"]
    assert ctx.branches[0]["q"] == 0.5
    assert ctx.branches[0]["path"] == "<sip:p1;lr>"
    assert len(ctx.branches) == 1


def test_branch_flags_by_name() -> None:
    loaded = load(
        'route {\n'
        'setbflag("NAT"); setbflag("VOICEMAIL");'
        'append_branch("sip:b1@h1");'
        't_rec("$(msg.branch.flags[0])|$(msg.branch.flags[1])");'
        '$(msg.branch.flags[1]) = "VOICEMAIL unknown";'
        '$msg.branch.flag(NAT) = 1;'  # last branch (b1)
        '$(msg.branch.flag(VOICEMAIL)[0]) = 0;'  # the R-URI branch
        't_rec("$(msg.branch.flags[*])");'
        't_rec("$(msg.branch.flag(NAT)[0])|$(branch.flag(NAT)[1])|$(branch.flag(NAT)[-1])");'
        '}\n'
    )
    _, ctx = run(loaded, INVITE)
    # newest flag name first, space-separated, as OpenSIPS prints a flag list
    assert [c[1] for c in calls(ctx)] == [
        "VOICEMAIL NAT|",
        "NAT, VOICEMAIL NAT",
        # reads take the index within the appended branches' count (1 here) but test that
        # message branch: [0] is the R-URI branch, [1] is out of range, [-1] is [0]
        "true|<null>|true",  # OpenSIPS's pv_true: 1 that prints as "true"
    ]
    assert ctx.branches[0]["bflags"] == 0b11


def test_branch_attrs_per_branch() -> None:
    got = recorded(
        'append_branch("sip:b1@h1");'
        '$msg.branch.attr(tenant) = "acme";'
        '$(msg.branch.attr(tenant)[0]) = 7;'
        't_rec("$(msg.branch.attr(tenant)[0])|$(msg.branch.attr(tenant)[1])|$msg.branch.attr(other)");'
    )
    assert got == ["7|acme|<null>"]


def test_branch_field_name_is_checked_at_load() -> None:
    with pytest.raises(Exception, match="unsupported MSG BRANCH field"):
        load('route { t_rec("$branch(nope)"); }\n')


AUTH_INVITE = INVITE.replace(
    b"Content-Length: 0\r\n",
    b'Proxy-Authorization: Digest username="carol", realm="r.example", nonce="n", uri="sip:x",'
    b' response="0"\r\n'
    b'Diversion: <sip:fwd@example.com>;reason="user-busy";privacy=full;counter=1\r\n'
    b'P-Preferred-Identity: "Bob B" <sip:+15551234@pstn.example>\r\n'
    b"Content-Length: 0\r\n",
)


def test_au_dir_dip_ppi() -> None:
    got = recorded('t_rec("$Au|$dir|$dip|$pU|$pd|$pn|$msg.type|$msg.is_request");', AUTH_INVITE)
    assert got == ['carol@r.example|user-busy|full|+15551234|pstn.example|"Bob B"|request|true']
    # without credentials $Au is user@host of the From URI; no Diversion reads NULL
    assert recorded('t_rec("$Au|$dir");') == ["alice@example.com|<null>"]


def test_ru_q() -> None:
    # an integer in thousandths (-1: unspecified), where $msg.branch.q prints a qvalue
    assert recorded('t_rec("[$ru_q]"); $ru_q = 250; t_rec("$ru_q|$(msg.branch.q[0])");'
                    '$ru_q = 2000; t_rec("$ru_q");'
                    'if ($msg.flag(X) == 0 && $msg.flag(X) != "x") t_rec("false is 0");') == [
        "[-1]",
        "250|0.25",
        "1000",
        "false is 0",
    ]


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_xlog_level_gates_xlog_and_resets() -> None:
    loaded = load(
        'route {\n'
        't_rec("$xlog_level");'
        'xlog("L_INFO", "info-before\\n");'
        '$xlog_level = 3;'
        'xlog("L_INFO", "info-after\\n");'
        'xlog("L_DBG", "debug-hidden\\n");'
        't_rec("$xlog_level");'
        '$xlog_level = NULL;'
        't_rec("$xlog_level");'
        '}\n'
    )
    # log_level does not filter xlog: only $xlog_level does (OpenSIPS raises the process log
    # level to it while xlog prints)
    root = logging.getLogger("pysips")
    xlogger = logging.getLogger(SCRIPT_LOGGER)
    handler = _Lines()
    old_level = root.level
    root.setLevel(logging.ERROR)
    xlogger.addHandler(handler)
    try:
        _, ctx = run(loaded, INVITE, process=ProcessState())
    finally:
        xlogger.removeHandler(handler)
        root.setLevel(old_level)
    assert [c[1] for c in calls(ctx)] == ["2", "3", "2"]
    assert handler.lines == ["info-after"]


def test_xlog_level_default_from_script() -> None:
    loaded = load('route { t_rec("$xlog_level"); }\n', header=_header_with("xlog_level=4\n"))
    _, ctx = run(loaded, INVITE)
    assert [c[1] for c in calls(ctx)] == ["4"]


def _header_with(extra: str) -> str:
    from test_compile_support import HEADER

    return extra + HEADER


def test_msg_flag_by_name_and_ds() -> None:
    got = recorded(
        'setflag("ACC");'
        't_rec("$msg.flag(ACC)|$msg.flag(OTHER)");'
        '$msg.flag(OTHER) = 1; $msg.flag(ACC) = 0;'
        'if (isflagset("OTHER") && !isflagset("ACC")) t_rec("flags follow");'
        't_rec("[$ds]");'
        '$ru = "sip:new@h"; $ru_q = 700; append_branch("sip:b@h2", "0.3"); append_branch("sip:c@h3");'
        't_rec("$ds");'
    )
    assert got == [
        "true|false",
        "flags follow",
        "[<null>]",  # the R-URI was not changed and nothing was appended
        "Contact: <sip:new@h>;q=0.7, <sip:b@h2>;q=0.3, <sip:c@h3>",
    ]


def test_log_level_reads_and_changes_the_process_log_level() -> None:
    root = logging.getLogger("pysips")
    before = root.level
    root.setLevel(logging.WARNING)  # log_level=1
    try:
        got = recorded('t_rec("$log_level"); $log_level = 4; t_rec("$log_level"); $log_level = NULL;'
                       't_rec("$log_level");')
        assert got == ["1", "4", "1"]
        assert root.level == logging.WARNING
    finally:
        root.setLevel(before)


def test_set_via_handling_flags() -> None:
    from pysips.script.context import MSGFL_ADD_LOCAL_RPORT, MSGFL_FORCE_RPORT

    _, ctx = run(load('route { set_via_handling("force-rport, add-local-rport"); }\n'), INVITE)
    assert ctx.msg_flags & MSGFL_FORCE_RPORT and ctx.msg_flags & MSGFL_ADD_LOCAL_RPORT
    _, ctx = run(load('route { set_via_handling("force-rport"); }\n'), INVITE)
    assert ctx.msg_flags == MSGFL_FORCE_RPORT
    with pytest.raises(Exception, match="reply-to-via"):
        load('route { set_via_handling("reply-to-via"); }\n')
    with pytest.raises(Exception, match="Unknown flag"):
        load('route { set_via_handling("bogus"); }\n')


def test_hdr_name() -> None:
    assert recorded('t_rec("$hdr_name|$(hdr_name[1])|$(hdr_name[-1])|$(hdr_name[20])");') == [
        "Via|From|Content-Length|<null>"
    ]
    assert recorded('t_rec("$(hdr_name[*])");') == ["Via, From, To, Call-ID, CSeq, Content-Length"]
