"""uac_auth: the credentials pysips answers digest challenges with (OpenSIPS 3.6 uac_auth).

`modparam("uac_auth", "credential", "user:realm:password")` (any number; a password "0x" + the
HA1 in hex is used as HA1), or per call the three AVPs named by `auth_username_avp`,
`auth_realm_avp` and `auth_password_avp`, which win when their realm is the challenged one.
uac's uac_auth() and uac_registrant use them through the UAC_CREDENTIALS service."""

from __future__ import annotations

import logging
from typing import Any

from pysips.core.services import UAC_CREDENTIALS, UacCredential
from pysips.script.context import MsgContext
from pysips.script.errors import FixupError
from pysips.script.exports import ModuleExports, ModuleInitContext, ParamExport, ParamType
from pysips.script.pv_base import PVAccessor
from pysips.script.pvparam import compile_param_pv

log = logging.getLogger("pysips.modules.uac_auth")


def parse_credential(text: str) -> UacCredential:
    """"user:realm:password": the user and the realm stop at ':' (the password may hold one);
    none of the three may be empty or hold blanks."""
    value = str(text).strip()
    user, sep, rest = value.partition(":")
    realm, sep2, password = rest.partition(":")
    user, realm, password = user.strip(), realm.strip(), password.strip()
    if not sep or not sep2 or not user or not realm or not password \
            or any(c.isspace() for c in user + realm + password):
        raise FixupError(f"credential: parse error in <{value}>: expected user:realm:password")
    return UacCredential(user, realm, password)


class Credentials:
    """UacCredentialService: the AVPs first (when configured and naming the realm), then the
    `credential` list, last given first as OpenSIPS keeps them."""

    def __init__(self, static: list[UacCredential],
                 avps: tuple[PVAccessor, PVAccessor, PVAccessor] | None) -> None:
        self.static = static
        self.avps = avps  # (username, realm, password)

    def lookup(self, ctx: MsgContext | None, realm: str) -> UacCredential | None:
        if ctx is not None and self.avps is not None:
            found = self._from_avps(ctx, realm)
            if found is not None:
                return found
        for cred in self.static:
            if cred.realm == realm:
                return cred
        return None

    def _from_avps(self, ctx: MsgContext, realm: str) -> UacCredential | None:
        assert self.avps is not None
        user_pv, realm_pv, password_pv = self.avps
        values = [pv.get(ctx) for pv in (realm_pv, user_pv, password_pv)]
        # OpenSIPS takes string AVPs only, and the realm must be the challenged one
        if not all(isinstance(v, str) and v for v in values) or values[0] != realm:
            return None
        return UacCredential(str(values[1]), realm, str(values[2]))


def _check_credential(value: Any) -> UacCredential:
    return parse_credential(str(value))


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> Credentials:
    names = [params.get(f"auth_{what}_avp") for what in ("username", "realm", "password")]
    avps: tuple[PVAccessor, PVAccessor, PVAccessor] | None = None
    if any(names):
        if not all(names):
            raise FixupError("partial definition of auth AVP!")
        compiled = [compile_param_pv(str(n), f"auth_{w}_avp", ictx.pv_registry)
                    for n, w in zip(names, ("username", "realm", "password"), strict=True)]
        avps = (compiled[0], compiled[1], compiled[2])
    static = list(reversed(params.get("credential") or []))
    runtime = Credentials(static, avps)
    ictx.provide(UAC_CREDENTIALS, runtime)
    return runtime


exports = ModuleExports(
    "uac_auth",
    params=(
        ParamExport("credential", ParamType.STR, multi=True, check=_check_credential,
                    doc="user:realm:password (password plain, or 0x + HA1)"),
        ParamExport("auth_username_avp", ParamType.STR, None, doc="AVP holding the user name"),
        ParamExport("auth_realm_avp", ParamType.STR, None, doc="AVP holding the realm"),
        ParamExport("auth_password_avp", ParamType.STR, None, doc="AVP holding the password (or 0x + HA1)"),
    ),
    provides=(UAC_CREDENTIALS,),
    init=_init,
    doc="credentials for answering digest challenges (uac_auth(), uac_registrant)",
)
