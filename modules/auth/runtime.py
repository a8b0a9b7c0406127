"""The auth runtime of one process (process.modules["auth"]): nonce secret, replay index,
settings. auth_db and the pv_*_authorize functions reach the shared steps through it."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pysips.script.context import MsgContext
from pysips.script.module_runtime import module_runtime
from pysips.script.pv_base import PVAccessor
from pysips.script.pv_vars import avp_key

from .nonce import NonceCodec, NonceIndex
from .reply import send_reply

if TYPE_CHECKING:
    from .credentials import Credentials

log = logging.getLogger("pysips.modules.auth")

DEFAULT_RPID_SUFFIX = ";party=calling;id-type=subscriber;screen=yes"
SECRET_LEN = 32  # OpenSIPS 3.2+ wants exactly this many characters (an AES-256 key there)


@dataclass(slots=True)
class AuthConfig:
    secret: bytes
    nonce_expire: int = 30
    disable_nonce_check: bool = False
    realm_prefix: str = ""
    rpid_prefix: str = ""
    rpid_suffix: str = DEFAULT_RPID_SUFFIX
    rpid_avp: str | None = "rpid"  # AVP key; None disables the RPID functions
    username_spec: PVAccessor | None = None
    password_spec: PVAccessor | None = None
    calculate_ha1: bool = False


def config_from(params: dict[str, Any]) -> AuthConfig:
    secret = params.get("secret")
    if secret:
        if len(str(secret)) != SECRET_LEN:
            log.warning("auth: secret is %d characters long; OpenSIPS 3.2+ requires exactly %d",
                        len(str(secret)), SECRET_LEN)
        key = str(secret).encode()
    else:
        key = os.urandom(SECRET_LEN)
    rpid_avp = params.get("rpid_avp")
    return AuthConfig(
        secret=key,
        nonce_expire=max(1, int(params.get("nonce_expire") or 30)),
        disable_nonce_check=bool(params.get("disable_nonce_check")),
        realm_prefix=str(params.get("realm_prefix") or ""),
        rpid_prefix=str(params.get("rpid_prefix") or ""),
        rpid_suffix=str(params["rpid_suffix"]) if params.get("rpid_suffix") is not None
        else DEFAULT_RPID_SUFFIX,
        rpid_avp=avp_key(str(rpid_avp)) if rpid_avp else None,
        username_spec=params.get("username_spec"),
        password_spec=params.get("password_spec"),
        calculate_ha1=bool(params.get("calculate_ha1")),
    )


class AuthRuntime:
    """Also the API of the backends (auth_db): pre_auth, session_ha1, check_response, reply."""

    __slots__ = ("codec", "config", "index")

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self.codec = NonceCodec(config.secret)
        self.index = NonceIndex()

    def pre_auth(self, ctx: MsgContext, realm: str, header: str) -> tuple[int, Credentials | None, str]:
        return pre_auth(self, ctx, realm, header)

    @staticmethod
    def session_ha1(cred: Credentials, value: str, hashed: bool, realm: str) -> str | None:
        return session_ha1(cred, value, hashed, realm)

    @staticmethod
    def check_response(cred: Credentials, method: str, body: bytes, ha1_hex: str) -> bool:
        return check_response(cred, method, body, ha1_hex)

    @staticmethod
    def reply(ctx: MsgContext, code: int, reason: str) -> bool:
        return send_reply(ctx, code, reason)


def pre_auth(
    auth: AuthRuntime, ctx: MsgContext, realm: str, header: str
) -> tuple[int, Credentials | None, str]:
    from .credentials import pre_auth as run

    return run(auth, ctx, realm, header)


def session_ha1(cred: Credentials, value: str, hashed: bool, realm: str) -> str | None:
    from .credentials import session_ha1 as run

    return run(cred, value, hashed, realm)


def check_response(cred: Credentials, method: str, body: bytes, ha1_hex: str) -> bool:
    from .credentials import check_response as run

    return run(cred, method, body, ha1_hex)


def auth_of(ctx: MsgContext) -> AuthRuntime:
    return module_runtime(ctx.process, "auth", AuthRuntime)
