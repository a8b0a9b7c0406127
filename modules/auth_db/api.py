"""What auth_db uses of the auth module (its DIGEST_AUTH service), and the return codes both share
(OpenSIPS's auth_result_t)."""

from __future__ import annotations

from typing import Protocol

from pysips.core.services import DIGEST_AUTH
from pysips.script.context import MsgContext

USER_UNKNOWN = -1
INVALID_PASSWORD = -2
ERROR = 0
AUTHORIZED = 1
DO_AUTHORIZATION = 2


class CredentialsView(Protocol):
    @property
    def user(self) -> str: ...

    @property
    def domain(self) -> str: ...

    @property
    def family(self) -> str: ...

    def param(self, name: str) -> str: ...


class AuthApi(Protocol):
    def pre_auth(
        self, ctx: MsgContext, realm: str, header: str
    ) -> tuple[int, CredentialsView | None, str]: ...

    def session_ha1(self, cred: CredentialsView, value: str, hashed: bool, realm: str) -> str | None: ...

    def check_response(self, cred: CredentialsView, method: str, body: bytes, ha1_hex: str) -> bool: ...

    def reply(self, ctx: MsgContext, code: int, reason: str) -> bool: ...


def auth_api_of(ctx: MsgContext) -> AuthApi:
    runtime = ctx.process.services.get(DIGEST_AUTH)
    if runtime is None:
        raise RuntimeError("auth_db needs the auth module")
    api: AuthApi = runtime  # type: ignore[assignment]  # the service's credentials are CredentialsView
    return api
