"""Who is calling: the configured local user on stdio, a verified bearer JWT on HTTP.

On HTTP the SDK's bearer middleware calls `JWTVerifier.verify_token`; a valid token becomes an
`AccessToken` whose `claims` are the JWT's claims, and the pipeline turns it into a `Caller` with
`caller_from_access_token`. Tokens are verified with PyJWT: HS256 with the shared secret (Supabase's JWT
secret) or any asymmetric algorithm against a JWKS URL. The token itself is never logged or stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import anyio
import jwt
from artificer.server.settings import Settings
from mcp.server.auth.provider import AccessToken

logger = logging.getLogger(__name__)

ASYMMETRIC_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "EdDSA"]


class IdentityError(Exception):
    """The caller cannot be identified; the message says what to configure."""


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: UUID
    claims: Mapping[str, Any] = field(default_factory=dict)
    transport: Literal["stdio", "http", "inprocess"] = "stdio"

    @property
    def rls_claims(self) -> dict[str, Any]:
        """The claims the caller's transactions run with (`request.jwt.claims`)."""
        claims = dict(self.claims)
        claims["sub"] = str(self.user_id)
        claims.setdefault("role", "authenticated")
        return claims


def local_caller(user_id: UUID, email: str | None = None) -> Caller:
    claims: dict[str, Any] = {"sub": str(user_id), "role": "authenticated"}
    if email:
        claims["email"] = email
    return Caller(user_id=user_id, claims=claims, transport="stdio")


def caller_from_access_token(token: AccessToken) -> Caller:
    claims = dict(token.claims or {})
    subject = token.subject or claims.get("sub")
    try:
        user_id = UUID(str(subject))
    except ValueError:
        raise IdentityError("the bearer token's `sub` is not a user id (uuid)") from None
    return Caller(user_id=user_id, claims=claims, transport="http")


@dataclass
class JWTVerifier:
    """`TokenVerifier` for the SDK's bearer middleware: HS256 secret and/or JWKS."""

    secret: str | None
    jwks_url: str | None
    audience: str | None
    leeway_seconds: int = 30
    _jwks: jwt.PyJWKClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> JWTVerifier:
        secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        if not secret and not settings.jwks_url:
            raise IdentityError(
                "the HTTP transport needs bearer-token verification: set ARTIFICER_JWT_SECRET "
                "(HS256, e.g. the Supabase JWT secret) or ARTIFICER_JWKS_URL"
            )
        return cls(secret=secret, jwks_url=settings.jwks_url, audience=settings.jwt_audience or None)

    def decode(self, token: str) -> dict[str, Any]:
        """The verified claims; raises `jwt.PyJWTError` for any invalid token. Blocking (JWKS fetch)."""
        header = jwt.get_unverified_header(token)
        options: jwt.types.Options = {"require": ["exp", "sub"], "verify_aud": self.audience is not None}
        if header.get("alg") == "HS256":
            if not self.secret:
                raise jwt.InvalidAlgorithmError("HS256 tokens are not accepted (no secret configured)")
            return jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                audience=self.audience,
                leeway=self.leeway_seconds,
                options=options,
            )
        if not self.jwks_url:
            raise jwt.InvalidAlgorithmError(
                f"{header.get('alg')} tokens are not accepted (no JWKS configured)"
            )
        if self._jwks is None:
            self._jwks = jwt.PyJWKClient(self.jwks_url, cache_keys=True, lifespan=3600)
        key = self._jwks.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=ASYMMETRIC_ALGORITHMS,
            audience=self.audience,
            leeway=self.leeway_seconds,
            options=options,
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            if self.jwks_url and jwt.get_unverified_header(token).get("alg") != "HS256":
                claims = await anyio.to_thread.run_sync(self.decode, token)
            else:
                claims = self.decode(token)
            UUID(str(claims["sub"]))
        except (jwt.PyJWTError, ValueError, KeyError) as error:
            logger.info("bearer token rejected: %s", type(error).__name__)
            return None
        exp = claims.get("exp")
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id") or claims["sub"]),
            scopes=str(claims.get("scope") or "").split(),
            expires_at=int(exp) if isinstance(exp, int | float) else None,
            subject=str(claims["sub"]),
            claims={k: v for k, v in claims.items() if k not in ("exp", "iat", "nbf")},
        )


def make_hs256_token(secret: str, user_id: UUID, *, audience: str = "authenticated", ttl: int = 3600) -> str:
    """A token the verifier accepts (for tests and local tooling)."""
    now = int(time.time())
    claims = {"sub": str(user_id), "aud": audience, "role": "authenticated", "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")
