"""The auth runtime of one process (process.modules["auth"]): nonce secret, replay index,
settings. auth_db and the pv_*_authorize functions reach the shared steps through it."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from pysips.script.context import MsgContext
from pysips.script.pv_base import PVAccessor

from .nonce import NonceCodec, NonceIndex

log = logging.getLogger("pysips.modules.auth")

SECRET_LEN = 32  # OpenSIPS 3.2+ wants exactly this many characters (an AES-256 key there)


@dataclass(slots=True)
class AuthConfig:
    secret: bytes
    nonce_expire: int = 30
    disable_nonce_check: bool = False
    realm_prefix: str = ""
    rpid_prefix: str = ""
    rpid_suffix: str = ";party=calling;id-type=subscriber;screen=yes"
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
        else AuthConfig.rpid_suffix,
        rpid_avp=str(rpid_avp) if rpid_avp else None,
        username_spec=params.get("username_spec"),
        password_spec=params.get("password_spec"),
        calculate_ha1=bool(params.get("calculate_ha1")),
    )


class AuthRuntime:
    __slots__ = ("codec", "config", "index")

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self.codec = NonceCodec(config.secret)
        self.index = NonceIndex()


def auth_of(ctx: MsgContext) -> AuthRuntime:
    runtime = ctx.process.modules.get("auth")
    if not isinstance(runtime, AuthRuntime):
        raise RuntimeError("the auth module is not initialised in this process")
    return runtime
