"""serialize_branches()/next_branches() (OpenSIPS core serialize.c semantics), from script text."""

from __future__ import annotations

from test_compile_support import INVITE, calls, load, run

SHOW = 't_rec("$rc|$ru|$(msg.branch.uri[*])|$du");'


def steps(body: str) -> list[object]:
    _, ctx = run(load("route {\n" + body + "\n}\n"), INVITE)
    return [c[1] for c in calls(ctx)]


def test_groups_by_q_highest_first_equal_q_in_order() -> None:
    got = steps(
        '$ru_q = 500;'
        'append_branch("sip:low@h", "0.1");'
        'append_branch("sip:top1@h", "1");'
        'append_msg_branch("sip:mid@h", "0.5");'
        'append_branch("sip:top2@h", "1");'
        'serialize_branches(1);'
        't_rec("$msg.branch.last_idx|$(avp(serial_branch)[*])");'
        'next_branches();' + SHOW +
        'next_branches();' + SHOW +
        'next_branches();' + SHOW +
        'if (!next_branches()) t_rec("done");'
    )
    assert str(got[0]).startswith("0|{")  # branches moved into the AVP, one per target
    # without a t_relay() in between (which takes the branches), the appended ones pile up, as
    # in OpenSIPS: next_branches() sets the R-URI branch and appends, it clears nothing
    assert got[1:] == [
        "1|sip:top1@h|sip:top1@h, sip:top2@h|<null>",
        "1|sip:bob@remote.org|sip:bob@remote.org, sip:top2@h, sip:mid@h|<null>",
        "2|sip:low@h|sip:low@h, sip:top2@h, sip:mid@h|<null>",
        "done",
    ]


def test_keep_order_makes_every_branch_its_own_step() -> None:
    got = steps(
        'append_branch("sip:a@h", "0.1");'
        'append_branch("sip:b@h", "0.9");'
        'serialize_branches(1, 1);'
        'next_branches();' + SHOW +
        'next_branches();' + SHOW +
        'next_branches();' + SHOW
    )
    assert got == [
        "1|sip:bob@remote.org|sip:bob@remote.org|<null>",
        "1|sip:a@h|sip:a@h|<null>",
        "2|sip:b@h|sip:b@h|<null>",
    ]


def test_same_q_everywhere_is_left_alone() -> None:
    got = steps(
        'append_branch("sip:a@h");'
        'serialize_branches(1);' + SHOW + 'if (!next_branches()) t_rec("nothing queued");'
    )
    assert got == ["1|sip:bob@remote.org|sip:bob@remote.org, sip:a@h|<null>", "nothing queued"]


def test_duri_path_and_flags_travel_with_the_branch() -> None:
    got = steps(
        'setbflag("NAT");'
        '$du = "sip:edge:5080";'
        '$ru_q = 100;'
        'append_branch("sip:b@h", "0.9");'
        '$(msg.branch.path[1]) = "<sip:p1.example;lr>,<sip:p2.example;lr>";'
        'serialize_branches(1);'
        'resetbflag("NAT"); $du = NULL;'
        'next_branches();' + SHOW + 't_rec("$msg.branch.path|$(msg.branch.flags[0])");'
        'next_branches();' + SHOW + 't_rec("$(msg.branch.path[0])|$(msg.branch.flags[0])");'
    )
    assert got == [
        "1|sip:b@h|sip:b@h|sip:p1.example;lr",
        "<sip:p1.example;lr>,<sip:p2.example;lr>|",
        "2|sip:bob@remote.org|sip:bob@remote.org|sip:edge:5080",
        "<null>|NAT",
    ]
