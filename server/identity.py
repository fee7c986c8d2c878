"""Who is calling: the configured local user on stdio, a verified bearer JWT on HTTP.

On HTTP the SDK's bearer middleware calls `JWTVerifier.verify_token`; a valid token becomes an
`AccessToken` whose `claims` are the JWT's claims, and the pipeline turns it into a `Caller` with
`caller_from_access_token`. Tokens are verified with PyJWT: HS256 with the shared secret (Supabase's JWT
secret) or any asymmetric algorithm against a JWKS URL. The token itself is never logged or stored.
PyJWT (and the `cryptography` it loads) is imported when a verifier is made: stdio never pays for it.

On stdio the caller is the local user, `resolve_local_user`: ARTIFICER_USER_ID, or the embedded
database's one user.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

import anyio
from artificer.common.settings import Settings
from artificer.storage import users
from mcp.server.auth.provider import AccessToken

if TYPE_CHECKING:
    import jwt

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


def local_caller(
    user_id: UUID, email: str | None = None, app_metadata: Mapping[str, Any] | None = None
) -> Caller:
    """The stdio user. `app_metadata` is the user's `raw_app_meta_data` (server-controlled: the role an
    admin has), carried in the claims as a Supabase token carries it, so `get_user_role()` sees it."""
    claims: dict[str, Any] = {"sub": str(user_id), "role": "authenticated"}
    if email:
        claims["email"] = email
    if app_metadata:
        claims["app_metadata"] = dict(app_metadata)
    return Caller(user_id=user_id, claims=claims, transport="stdio")


async def resolve_local_user(pool: Any, settings: Settings, *, embedded: bool) -> Caller:
    """The stdio user: ARTIFICER_USER_ID (created when missing on the embedded default)."""
    if settings.user_id:
        try:
            user_id = UUID(settings.user_id)
        except ValueError:
            raise IdentityError(f"ARTIFICER_USER_ID is not a uuid: {settings.user_id!r}") from None
    elif embedded:
        user_id = UUID(int=1)  # the one local user of the embedded database
    else:
        raise IdentityError(
            "set ARTIFICER_USER_ID to your auth.users id: "
            "with DATABASE_URL the stdio server acts as that user"
        )
    exists = await users.ensure_user(pool, user_id, settings.user_email, create=embedded)
    user = await users.get_user(pool, user_id) if exists else None
    if user is None:
        raise IdentityError(f"ARTIFICER_USER_ID {user_id} is not a user in auth.users of this database")
    return local_caller(user_id, settings.user_email or user.email, user.app_metadata)


def caller_from_access_token(token: AccessToken) -> Caller:
    claims = dict(token.claims or {})
    subject = token.subject or claims.get("sub")
    try:
        user_id = UUID(str(subject))
    except ValueError:
        raise IdentityError("the bearer token's `sub` is not a user id (uuid)") from None
    return Caller(user_id=user_id, claims=claims, transport="http")


MAX_TOKEN_LENGTH = 8192
"""Longest bearer token accepted, in characters. Supabase access tokens are well under 2 KB; a bigger one is
refused before it is parsed, so a client cannot make the server decode, hash and verify megabytes."""

ACCEPTED_TOKEN_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})
"""The JOSE `typ` headers of access tokens (RFC 7519, RFC 9068), compared case-insensitively; a token
without `typ` is accepted too (Supabase sets `JWT`). Any other type (`dpop+jwt`, `logout+jwt`, `JWE` …) is
another kind of token that must not be usable as an access token."""


def token_header(token: str) -> dict[str, Any]:
    """The unverified header of a token the verifier will look at: not oversized, of an access-token
    `typ`. Raises `jwt.DecodeError` otherwise."""
    import jwt

    if len(token) > MAX_TOKEN_LENGTH:
        raise jwt.DecodeError(f"the token is longer than {MAX_TOKEN_LENGTH} characters")
    header = jwt.get_unverified_header(token)
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in ACCEPTED_TOKEN_TYPES):
        raise jwt.DecodeError("the token's `typ` is not an access token's")
    return header


JWKS_REFRESH_INTERVAL_SECONDS = 60.0
"""Least time between two JWKS fetches made because a token named a key id the cached set lacks (or
because the last fetch failed): an unauthenticated client must not make the server fetch per request."""


@dataclass
class JWTVerifier:
    """`TokenVerifier` for the SDK's bearer middleware: HS256 secret and/or JWKS.

    Every token must carry `exp` and `sub` and the configured audience; when `issuer` is set, `iss` must be
    it. The algorithm is fixed by the configuration (HS256 with the secret, asymmetric ones with the JWKS),
    so `none` and algorithm confusion are refused.
    """

    secret: str | None
    jwks_url: str | None
    audience: str
    issuer: str | None = None
    leeway_seconds: int = 30
    refresh_interval_seconds: float = JWKS_REFRESH_INTERVAL_SECONDS
    _jwks: jwt.PyJWKClient | None = None
    _last_fetch: float = -float("inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        import jwt  # noqa: F401 — loaded with the first verifier (HTTP start-up), never on stdio

        if not self.audience or not self.audience.strip():
            raise IdentityError(
                "ARTIFICER_JWT_AUDIENCE is empty: set it to the `aud` your tokens carry "
                "(Supabase: authenticated); tokens are never accepted without an audience check"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> JWTVerifier:
        secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        if not secret and not settings.jwks_url:
            raise IdentityError(
                "the HTTP transport needs bearer-token verification: set ARTIFICER_JWT_SECRET "
                "(HS256, e.g. the Supabase JWT secret) or ARTIFICER_JWKS_URL"
            )
        return cls(
            secret=secret,
            jwks_url=settings.jwks_url,
            audience=settings.jwt_audience,
            issuer=settings.auth_issuer_url or None,
        )

    def _options(self) -> jwt.types.Options:
        required = ["exp", "sub", "aud"] + (["iss"] if self.issuer else [])
        return {"require": required, "verify_aud": True, "verify_iss": self.issuer is not None}

    def _issuers(self) -> list[str] | None:
        if not self.issuer:
            return None
        base = str(self.issuer).rstrip("/")
        return [base, base + "/"]

    def _signing_key(self, kid: Any) -> jwt.PyJWK:
        """The JWKS key named `kid`. The set is cached; a key id it lacks triggers at most one fetch per
        `refresh_interval_seconds` (so do failed fetches), whatever the number of requests."""
        import jwt

        assert self.jwks_url is not None
        with self._lock:
            if self._jwks is None:
                self._jwks = jwt.PyJWKClient(
                    self.jwks_url, cache_keys=False, lifespan=3600, cooldown_duration=0
                )
            client = self._jwks
            cache = client.jwk_set_cache
            cached = cache.get() if cache is not None else None
            keys = [k for k in cached.keys if k.public_key_use in ("sig", None)] if cached else None
            key = client.match_kid(keys, kid) if keys else None
            if key is None:
                now = time.monotonic()
                if now - self._last_fetch < self.refresh_interval_seconds:
                    raise jwt.InvalidKeyError(
                        "the token's key id is not in the JWKS"
                        if keys is not None
                        else "the JWKS could not be fetched; trying again later"
                    )
                self._last_fetch = now
                key = client.match_kid(client.get_signing_keys(refresh=True), kid)
            if key is None:
                raise jwt.InvalidKeyError("the token's key id is not in the JWKS")
            return key

    def decode(self, token: str) -> dict[str, Any]:
        """The verified claims; raises `jwt.PyJWTError` for any invalid token. Blocking (JWKS fetch)."""
        import jwt

        header = token_header(token)
        alg = header.get("alg")
        if alg == "HS256":
            if not self.secret:
                raise jwt.InvalidAlgorithmError("HS256 tokens are not accepted (no secret configured)")
            key: Any = self.secret
            algorithms = ["HS256"]
        elif alg in ASYMMETRIC_ALGORITHMS:
            if not self.jwks_url:
                raise jwt.InvalidAlgorithmError(f"{alg} tokens are not accepted (no JWKS configured)")
            key = self._signing_key(header.get("kid")).key
            algorithms = ASYMMETRIC_ALGORITHMS
        else:
            raise jwt.InvalidAlgorithmError(f"{alg!r} tokens are not accepted")
        return jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=self.audience,
            issuer=self._issuers(),
            leeway=self.leeway_seconds,
            options=self._options(),
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        import jwt

        try:
            if self.jwks_url and token_header(token).get("alg") != "HS256":
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


def make_hs256_token(
    secret: str,
    user_id: UUID,
    *,
    audience: str = "authenticated",
    ttl: int = 3600,
    issuer: str | None = None,
) -> str:
    """A token the verifier accepts (for tests and local tooling)."""
    import jwt

    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "aud": audience,
        "role": "authenticated",
        "iat": now,
        "exp": now + ttl,
    }
    if issuer is not None:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm="HS256")
