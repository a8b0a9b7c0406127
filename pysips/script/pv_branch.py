"""Branch pseudo-variables: `$branch(...)`, `$msg.branch.*`, `$branch.flag(...)`, as OpenSIPS 3.x.

A request's destination set is the R-URI branch (index 0 of the `$msg.branch.*` family: the R-URI,
`$du`, the branch flags and socket of the message) followed by the branches appended by
`append_branch`/`lookup` (`ctx.branches`, dicts tm reads: uri, dst_uri, q, path, bflags,
force_socket, attrs).

Two indexings, as OpenSIPS keeps both:
- `$branch(field)` (the 2.x form) counts only the appended branches; no index means the first.
- `$msg.branch.field` counts the R-URI branch as 0; no index means the last branch. Writing an
  index past the end is an error; `$msg.branch = "sip:..."` and `$branch = "sip:..."` append.

q values are printed as OpenSIPS prints a qvalue ("1", "0", "0.5", "" when unset) and are written
as integers in thousandths (`$msg.branch.q = 500`). Flags read and write as a space-separated list
of branch flag names, newest flag first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pysips.script.ast import Pos
from pysips.script.context import RURI_ATTRS_KEY, RURI_PATH_KEY, RURI_Q_KEY
from pysips.script.pv_base import FIELD_DELIM, PVAccessor, PVError, as_str, log
from pysips.script.pv_core import current_ruri, split_socket
from pysips.sip.qvalue import q_text

if TYPE_CHECKING:
    from pysips.script.context import MsgContext, Value
    from pysips.script.flags import FlagRegistry

FIELDS = ("uri", "duri", "q", "path", "flags", "socket")

Index = int | str | PVAccessor | None


class PVBool(int):
    """OpenSIPS's pv_true/pv_false: the integer 1/0 that prints as "true"/"false"."""

    def __str__(self) -> str:
        return "true" if self else "false"

    __repr__ = __str__


TRUE = PVBool(1)
FALSE = PVBool(0)




class FlagNames:
    """Branch flag bits <-> the names the script declared (the registry is filled at load time)."""

    __slots__ = ("registry",)

    def __init__(self) -> None:
        self.registry: FlagRegistry | None = None

    def _table(self) -> dict[str, int]:
        from pysips.script.flags import FlagKind

        return {} if self.registry is None else self.registry.names(FlagKind.BRANCH)

    def to_text(self, mask: int) -> str:
        names = sorted(self._table().items(), key=lambda item: -item[1])
        return " ".join(name for name, bit in names if mask & (1 << bit))

    def to_mask(self, text: str) -> int:
        table = self._table()
        mask = 0
        for name in text.split(" "):
            bit = table.get(name)
            if bit is not None:
                mask |= 1 << bit
        return mask

    def bit(self, name: str) -> int:
        from pysips.script.flags import FlagKind

        if self.registry is None:
            raise ValueError("no flag registry")
        return self.registry.bit(FlagKind.BRANCH, name)


def _socket_text(sock: Any) -> Value:
    if sock is None:
        return None
    name = getattr(sock, "name", None)
    return name if isinstance(name, str) and name else str(sock)


def _find_socket(ctx: MsgContext, text: str) -> Any:
    where = split_socket(text)
    engine = ctx.process.core
    sock = engine.table.find(*where) if where is not None and engine is not None else None
    if sock is None:
        log.error("no socket found to match [%s]", text)
    return sock


class BranchSet:
    """The destination set of one message, indexed as `$msg.branch.*` does (0 = the R-URI)."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: MsgContext) -> None:
        self.ctx = ctx

    def size(self) -> int:
        return len(self.ctx.branches) + 1

    def field(self, idx: int, field: str, flags: FlagNames) -> Value:
        ctx = self.ctx
        if idx > 0:
            return dset_field(ctx.branches[idx - 1], field, flags)
        if field == "uri":
            return current_ruri(ctx)
        if field == "duri":
            return ctx.dst_uri or None
        if field == "q":
            return q_text(ctx.extra.get(RURI_Q_KEY))
        if field == "path":
            return ctx.extra.get(RURI_PATH_KEY) or None
        if field == "flags":
            return flags.to_text(ctx.bflags)
        return _socket_text(ctx.force_socket)

    def set_field(self, idx: int, field: str, value: Value, flags: FlagNames) -> bool:
        ctx = self.ctx
        if idx > 0:
            return set_dset_field(ctx, ctx.branches[idx - 1], field, value, flags)
        if field == "uri":
            if not isinstance(value, str) or not value:
                log.error("str value required to set the branch URI")
                return False
            ctx.new_ruri = value
        elif field == "duri":
            if isinstance(value, int):
                log.error("STR value required to set the branch DURI")
                return False
            ctx.dst_uri = value or None
        elif field == "q":
            q = _q_value(value)
            if q is False:
                return False
            ctx.extra[RURI_Q_KEY] = q
        elif field == "path":
            if isinstance(value, int):
                log.error("STR value required to set the branch PATH")
                return False
            if value:
                ctx.extra[RURI_PATH_KEY] = value
            else:
                ctx.extra.pop(RURI_PATH_KEY, None)
        elif field == "flags":
            if isinstance(value, int):
                log.error("string value required to set the branch FLAGS")
                return False
            ctx.bflags = 0 if value is None else flags.to_mask(value)
        else:
            if isinstance(value, int):
                log.error("STR value required to set the branch SOCKET")
                return False
            sock = None if value is None else _find_socket(ctx, value)
            if value is not None and sock is None:
                return False
            ctx.force_socket = sock
        return True

    def attrs(self, idx: int, create: bool) -> dict[str, Value] | None:
        ctx = self.ctx
        if idx > 0:
            branch = ctx.branches[idx - 1]
            found = branch.get("attrs")
            if found is None and create:
                found = branch["attrs"] = {}
            return found
        found = ctx.extra.get(RURI_ATTRS_KEY)
        if found is None and create:
            found = ctx.extra[RURI_ATTRS_KEY] = {}
        return found


def _q_value(value: Value) -> float | bool | None:
    """An integer q in thousandths -> the float tm keeps; NULL unsets; False for a bad value."""
    if value is None:
        return None
    if not isinstance(value, int):
        log.error("INT value required to set the branch Q")
        return False
    return max(0, min(1000, value)) / 1000


def dset_field(branch: dict[str, Any], field: str, flags: FlagNames) -> Value:
    if field == "uri":
        uri = branch.get("uri")
        return uri if isinstance(uri, str) else None
    if field == "duri":
        return branch.get("dst_uri") or None
    if field == "q":
        return q_text(branch.get("q"))
    if field == "path":
        return branch.get("path") or None
    if field == "flags":
        return flags.to_text(int(branch.get("bflags") or 0))
    return _socket_text(branch.get("force_socket"))


def set_dset_field(
    ctx: MsgContext, branch: dict[str, Any], field: str, value: Value, flags: FlagNames
) -> bool:
    if field == "uri":
        if not isinstance(value, str) or not value:
            log.error("str value required to set the branch URI")
            return False
        branch["uri"] = value
    elif field in ("duri", "path"):
        if isinstance(value, int):
            log.error("STR value required to set the branch %s", field.upper())
            return False
        branch["dst_uri" if field == "duri" else "path"] = value or None
    elif field == "q":
        q = _q_value(value)
        if q is False:
            return False
        branch["q"] = q
    elif field == "flags":
        if isinstance(value, int):
            log.error("string value required to set the branch FLAGS")
            return False
        branch["bflags"] = 0 if value is None else flags.to_mask(value)
    else:
        if isinstance(value, int):
            log.error("STR value required to set the branch SOCKET")
            return False
        sock = None if value is None else _find_socket(ctx, value)
        if value is not None and sock is None:
            return False
        branch["force_socket"] = sock
    return True


def append_branch(ctx: MsgContext, value: Value) -> None:
    """`$branch = uri` / `$msg.branch = uri`: a new branch with only a URI."""
    if not isinstance(value, str) or not value:
        log.error("str value required to create a new branch")
        return
    ctx.branches.append(
        {"uri": value, "dst_uri": None, "q": None, "path": None, "bflags": 0, "force_socket": None}
    )


def _resolve_index(index: Index, ctx: MsgContext) -> int | str | None:
    if isinstance(index, PVAccessor):
        value = index.get(ctx)
        if not isinstance(value, int):
            log.error("branch index is not an integer: %r", value)
            return None
        return value
    return index


def _join(values: list[Value]) -> Value:
    return FIELD_DELIM.join("" if v is None else as_str(v) for v in values)


class DsetFieldPV(PVAccessor):
    """`$branch`, `$branch(field)`, `$msg.branch` (reading): the appended branches only."""

    __slots__ = ("_append", "_field", "_flags", "_index")

    def __init__(self, name: str, field: str, flags: FlagNames, index: Index, append: bool) -> None:
        super().__init__(name, True)
        self._field = field
        self._flags = flags
        self._index = index
        self._append = append  # the nameless form: assignment adds a branch

    def indexed(self, index: int | str | PVAccessor) -> PVAccessor | None:
        return DsetFieldPV(f"$({self.name.lstrip('$')}[...])", self._field, self._flags, index, False)

    def get(self, ctx: MsgContext) -> Value:
        branches = ctx.branches
        if not branches:
            return None
        idx = _resolve_index(self._index, ctx)
        if idx == "*":
            return _join([dset_field(b, self._field, self._flags) for b in branches])
        if not isinstance(idx, int):
            idx = 0
        if idx < 0:
            idx += len(branches)
        if not 0 <= idx < len(branches):
            return None
        return dset_field(branches[idx], self._field, self._flags)

    def get_all(self, ctx: MsgContext) -> list[Value]:
        if self._index == "*":
            return [dset_field(b, self._field, self._flags) for b in ctx.branches]
        value = self.get(ctx)
        return [] if value is None else [value]

    def set(self, ctx: MsgContext, value: Value) -> None:
        if self._append:
            append_branch(ctx, value)
            return
        if ctx.msg is not None and not ctx.msg.is_request:
            return
        idx = _resolve_index(self._index, ctx)
        if idx == "*":
            log.error("SCRIPT BUG - * not allowed in branch assignment")
            return
        idx = 0 if idx is None else int(idx)
        if idx < 0:
            idx += len(ctx.branches)
        if not 0 <= idx < len(ctx.branches):
            log.error("inexisting branch assignment [%d/%d]", len(ctx.branches), idx)
            return
        set_dset_field(ctx, ctx.branches[idx], self._field, value, self._flags)


class MsgBranchFieldPV(PVAccessor):
    """`$msg.branch.<field>[idx]`: the R-URI branch is 0; no index means the last branch."""

    __slots__ = ("_field", "_flags", "_index")

    def __init__(self, name: str, field: str, flags: FlagNames, index: Index = None) -> None:
        super().__init__(name, True)
        self._field = field
        self._flags = flags
        self._index = index

    def indexed(self, index: int | str | PVAccessor) -> PVAccessor | None:
        return MsgBranchFieldPV(f"$({self.name.lstrip('$')}[...])", self._field, self._flags, index)

    def _position(self, ctx: MsgContext, size: int) -> int | str | None:
        idx = _resolve_index(self._index, ctx)
        if idx is None:
            return size - 1
        if idx == "*":
            return idx
        idx = int(idx)
        return idx + size if idx < 0 else idx

    def get(self, ctx: MsgContext) -> Value:
        if ctx.msg is None or not ctx.msg.is_request:
            return None
        bset = BranchSet(ctx)
        size = bset.size()
        idx = self._position(ctx, size)
        if idx == "*":
            return _join([bset.field(i, self._field, self._flags) for i in range(size)])
        if not isinstance(idx, int) or not 0 <= idx < size:
            return None
        return bset.field(idx, self._field, self._flags)

    def get_all(self, ctx: MsgContext) -> list[Value]:
        if self._index == "*" and ctx.msg is not None and ctx.msg.is_request:
            bset = BranchSet(ctx)
            return [bset.field(i, self._field, self._flags) for i in range(bset.size())]
        value = self.get(ctx)
        return [] if value is None else [value]

    def set(self, ctx: MsgContext, value: Value) -> None:
        if ctx.msg is None or not ctx.msg.is_request:
            return
        bset = BranchSet(ctx)
        size = bset.size()
        idx = self._position(ctx, size)
        if idx == "*":
            log.error("SCRIPT BUG - * not allowed in branch assignment")
            return
        if not isinstance(idx, int) or not 0 <= idx < size:
            log.error("inexisting branch assignment [%d/%s]", size, idx)
            return
        bset.set_field(idx, self._field, value, self._flags)


class MsgBranchAttrPV(PVAccessor):
    """`$msg.branch.attr(name)[idx]`: a named value carried by one branch (registrar's attr_avp
    fills it at lookup); no index means the last branch."""

    __slots__ = ("_attr", "_index")

    def __init__(self, name: str, attr: str, index: Index = None) -> None:
        super().__init__(name, True)
        self._attr = attr
        self._index = index

    def indexed(self, index: int | str | PVAccessor) -> PVAccessor | None:
        if index == "*":
            raise PVError("ALL index not supported for $msg.branch.attr")
        return MsgBranchAttrPV(self.name, self._attr, index)

    def _position(self, ctx: MsgContext) -> int | None:
        size = len(ctx.branches) + 1
        idx = _resolve_index(self._index, ctx)
        pos = size - 1 if idx is None else int(idx)
        if pos < 0:
            pos += size
        return pos if 0 <= pos < size else None

    def get(self, ctx: MsgContext) -> Value:
        idx = self._position(ctx)
        if idx is None:
            return None
        attrs = BranchSet(ctx).attrs(idx, False)
        return None if attrs is None else attrs.get(self._attr)

    def set(self, ctx: MsgContext, value: Value) -> None:
        idx = self._position(ctx)
        if idx is None:
            log.error("inexisting branch attribute assignment")
            return
        attrs = BranchSet(ctx).attrs(idx, True)
        assert attrs is not None
        if value is None:
            attrs.pop(self._attr, None)
        else:
            attrs[self._attr] = value


class BranchFlagPV(PVAccessor):
    """`$msg.branch.flag(name)[idx]` / `$branch.flag(name)`: true (1) or false (0).

    As OpenSIPS 3.6: writing counts the R-URI branch as 0 and defaults to the last branch; reading
    takes the index within the appended branches' count but tests that message branch (0 = R-URI),
    and is NULL when there are no appended branches."""

    __slots__ = ("_bit", "_index")

    def __init__(self, name: str, bit: int, index: Index = None) -> None:
        super().__init__(name, True)
        self._bit = bit
        self._index = index

    def indexed(self, index: int | str | PVAccessor) -> PVAccessor | None:
        if index == "*":
            raise PVError("* not allowed with $msg.branch.flag")
        return BranchFlagPV(self.name, self._bit, index)

    def _mask(self, ctx: MsgContext, idx: int) -> int:
        return ctx.bflags if idx == 0 else int(ctx.branches[idx - 1].get("bflags") or 0)

    def get(self, ctx: MsgContext) -> Value:
        size = len(ctx.branches)
        raw = _resolve_index(self._index, ctx)
        idx = 0 if raw is None else int(raw)
        if idx < 0:
            idx += size
        if not 0 <= idx < size:
            return None
        return TRUE if self._mask(ctx, idx) & (1 << self._bit) else FALSE

    def set(self, ctx: MsgContext, value: Value) -> None:
        if not isinstance(value, int):
            log.error("input for $branch.flag() found not to be an integer")
            return
        size = len(ctx.branches) + 1
        raw = _resolve_index(self._index, ctx)
        idx = size - 1 if raw is None else int(raw)
        if idx < 0:
            idx += size
        if not 0 <= idx < size:
            return
        bit = 1 << self._bit
        if idx == 0:
            ctx.bflags = ctx.bflags | bit if value else ctx.bflags & ~bit
        else:
            branch = ctx.branches[idx - 1]
            old = int(branch.get("bflags") or 0)
            branch["bflags"] = old | bit if value else old & ~bit


class LastIdxPV(PVAccessor):
    """`$msg.branch.last_idx`: the index of the last branch (0 when only the R-URI)."""

    def get(self, ctx: MsgContext) -> Value:
        return len(ctx.branches)


def branch_factories(flags: FlagNames) -> dict[str, Any]:
    """The branch pseudo-variable classes, sharing the script's branch flag names."""

    def field_of(name: str, subname: str | None, pos: Pos) -> str:
        key = (subname or "").strip().lower()
        if key not in FIELDS:
            raise PVError(f"unsupported MSG BRANCH field <{subname}> (uri duri q path flags socket)", pos)
        return key

    def branch(name: str, subname: str | None, pos: Pos) -> PVAccessor:
        if subname is None:
            return DsetFieldPV(f"${name}", "uri", flags, None, True)
        return DsetFieldPV(f"${name}({subname})", field_of(name, subname, pos), flags, None, False)

    def msg_branch(name: str, subname: str | None, pos: Pos) -> PVAccessor:
        if subname is not None:
            raise PVError(f"${name} takes no name in parentheses", pos)
        return DsetFieldPV(f"${name}", "uri", flags, None, True)

    def msg_field(field: str) -> Any:
        def factory(name: str, subname: str | None, pos: Pos) -> PVAccessor:
            if subname is not None:
                raise PVError(f"${name} takes no name in parentheses", pos)
            return MsgBranchFieldPV(f"${name}", field, flags)

        return factory

    def flag(name: str, subname: str | None, pos: Pos) -> PVAccessor:
        if not subname:
            raise PVError(f"${name} needs a branch flag name", pos)
        try:
            bit = flags.bit(subname.strip())
        except Exception as exc:  # FixupError: too many flags
            raise PVError(f"${name}({subname}): {exc}", pos) from None
        return BranchFlagPV(f"${name}({subname})", bit)

    def attr(name: str, subname: str | None, pos: Pos) -> PVAccessor:
        if not subname:
            raise PVError(f"${name} needs an attribute name", pos)
        return MsgBranchAttrPV(f"${name}({subname})", subname.strip())

    def last_idx(name: str, subname: str | None, pos: Pos) -> PVAccessor:
        if subname is not None:
            raise PVError(f"${name} takes no name in parentheses", pos)
        return LastIdxPV(f"${name}")

    table: dict[str, Any] = {
        "branch": branch,
        "branch.flag": flag,
        "msg.branch": msg_branch,
        "msg.branch.flag": flag,
        "msg.branch.attr": attr,
        "msg.branch.last_idx": last_idx,
    }
    for field in FIELDS:
        table[f"msg.branch.{field}"] = msg_field(field)
    return table
