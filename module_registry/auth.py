"""JWT bearer tokens: minting them, and turning a request's token into a principal."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, cast

import jwt

from module_registry.errors import Unauthorized

Role = Literal["admin", "publisher", "member"]
ROLES: tuple[Role, ...] = ("admin", "publisher", "member")
CLAIMS = ("sub", "role", "company_id", "exp")


@dataclass(frozen=True)
class Principal:
    """Who is asking: the token's subject, role and company."""

    subject: str
    role: Role
    company_id: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def mint(
    secret: str,
    role: Role,
    company_id: str,
    subject: str = "cli",
    ttl: float = 3600,
    algorithm: str = "HS256",
) -> str:
    """A signed token for ``role`` in ``company_id``, valid ``ttl`` seconds."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    claims = {"sub": subject, "role": role, "company_id": company_id, "exp": int(time.time() + ttl)}
    return jwt.encode(claims, secret, algorithm=algorithm)


def principal(header: str | None, secret: str, algorithm: str) -> Principal:
    """The principal an ``Authorization: Bearer`` header proves; 401 when it proves nothing."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <JWT>'")
    try:
        claims = jwt.decode(token.strip(), secret, algorithms=[algorithm], options={"require": list(CLAIMS)})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the token has expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"the token is not valid: {type(exc).__name__}") from exc
    role, company = claims.get("role"), claims.get("company_id")
    if role not in ROLES or not isinstance(company, str) or not company:
        raise Unauthorized("the token's role or company_id claim is not valid")
    return Principal(subject=str(claims["sub"]), role=cast(Role, role), company_id=company)
