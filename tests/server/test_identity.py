"""Bearer JWT verification: HS256 with the shared secret, RS256 against a JWKS URL."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import jwt
import pytest
from artificer.common.settings import Settings
from artificer.server.identity import (
    IdentityError,
    JWTVerifier,
    caller_from_access_token,
    make_hs256_token,
    resolve_local_user,
)
from artificer.storage.database import as_user
from cryptography.hazmat.primitives.asymmetric import rsa
from fakes.http import FakeHTTPServer, Reply

pytestmark = pytest.mark.anyio

SECRET = "s" * 40


async def test_hs256_accepts_a_valid_token_and_rejects_bad_ones() -> None:
    verifier = JWTVerifier(secret=SECRET, jwks_url=None, audience="authenticated")
    user = uuid.uuid4()
    token = await verifier.verify_token(make_hs256_token(SECRET, user))
    assert token is not None and token.subject == str(user)
    caller = caller_from_access_token(token)
    assert caller.user_id == user and caller.rls_claims["sub"] == str(user)
    assert await verifier.verify_token(make_hs256_token("x" * 40, user)) is None
    assert await verifier.verify_token(make_hs256_token(SECRET, user, audience="other")) is None
    assert await verifier.verify_token(make_hs256_token(SECRET, user, ttl=-120)) is None
    not_a_uuid = jwt.encode({"sub": "bob", "aud": "authenticated", "exp": time.time() + 60}, SECRET)
    assert await verifier.verify_token(not_a_uuid) is None
    assert await verifier.verify_token("garbage") is None


async def test_rs256_against_jwks() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update(kid="k1", use="sig", alg="RS256")
    server = FakeHTTPServer(lambda request: Reply.of_json({"keys": [public]})).start()
    try:
        verifier = JWTVerifier(secret=None, jwks_url=f"{server.url}/jwks.json", audience="authenticated")
        user = uuid.uuid4()
        claims = {
            "sub": str(user),
            "aud": "authenticated",
            "exp": int(time.time()) + 60,
            "role": "authenticated",
        }
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
        verified = await verifier.verify_token(token)
        assert verified is not None and verified.subject == str(user)
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": "k1"})
        assert await verifier.verify_token(forged) is None
        # HS256 tokens are refused when no secret is configured
        assert await verifier.verify_token(make_hs256_token(SECRET, user)) is None
    finally:
        server.stop()


def _rsa_jwk(kid: str) -> tuple[rsa.RSAPrivateKey, dict]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update(kid=kid, use="sig", alg="RS256")
    return key, public


def _claims(user: uuid.UUID, **extra) -> dict:
    return {"sub": str(user), "aud": "authenticated", "exp": int(time.time()) + 60, **extra}


async def test_alg_none_and_missing_exp_are_refused() -> None:
    verifier = JWTVerifier(secret=SECRET, jwks_url=None, audience="authenticated")
    user = uuid.uuid4()
    unsigned = jwt.encode(_claims(user), None, algorithm="none")
    assert await verifier.verify_token(unsigned) is None
    no_exp = {k: v for k, v in _claims(user).items() if k != "exp"}
    assert await verifier.verify_token(jwt.encode(no_exp, SECRET, algorithm="HS256")) is None
    no_aud = {k: v for k, v in _claims(user).items() if k != "aud"}
    assert await verifier.verify_token(jwt.encode(no_aud, SECRET, algorithm="HS256")) is None
    assert await verifier.verify_token(jwt.encode(_claims(user), SECRET, algorithm="HS256")) is not None


async def test_issuer_is_checked_when_configured() -> None:
    issuer = "https://auth.example.test/auth/v1"
    verifier = JWTVerifier(secret=SECRET, jwks_url=None, audience="authenticated", issuer=issuer)
    user = uuid.uuid4()
    assert await verifier.verify_token(make_hs256_token(SECRET, user, issuer=issuer)) is not None
    assert await verifier.verify_token(make_hs256_token(SECRET, user, issuer=issuer + "/")) is not None
    assert await verifier.verify_token(make_hs256_token(SECRET, user, issuer="https://evil.test")) is None
    assert await verifier.verify_token(make_hs256_token(SECRET, user)) is None  # no iss at all


async def test_empty_audience_is_refused_at_startup() -> None:
    settings = Settings(_env_file=None, jwt_secret=SECRET, jwt_audience="")  # type: ignore[call-arg]
    with pytest.raises(IdentityError, match="ARTIFICER_JWT_AUDIENCE"):
        JWTVerifier.from_settings(settings)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, jwt_secret=SECRET, auth_issuer_url="https://auth.example.test/auth/v1"
    )
    verifier = JWTVerifier.from_settings(settings)
    assert verifier.audience == "authenticated" and verifier.issuer == "https://auth.example.test/auth/v1"


async def test_unknown_key_ids_do_not_refetch_the_jwks_within_the_interval() -> None:
    key, public = _rsa_jwk("k1")
    served = [public]
    server = FakeHTTPServer(lambda request: Reply.of_json({"keys": list(served)})).start()
    try:
        verifier = JWTVerifier(secret=None, jwks_url=f"{server.url}/jwks.json", audience="authenticated")
        user = uuid.uuid4()
        good = jwt.encode(_claims(user), key, algorithm="RS256", headers={"kid": "k1"})
        assert await verifier.verify_token(good) is not None
        assert len(server.requests) == 1
        stranger, _ = _rsa_jwk("k-unknown")
        for n in range(5):
            forged = jwt.encode(_claims(user), stranger, algorithm="RS256", headers={"kid": f"unknown-{n}"})
            assert await verifier.verify_token(forged) is None
        # the set was fetched less than an interval ago: unknown key ids cause no fetch at all
        assert len(server.requests) == 1, "unknown key ids must trigger at most one fetch per interval"
        assert await verifier.verify_token(good) is not None  # the known key still verifies, from cache
        assert len(server.requests) == 1
        # once the interval has passed, one more fetch is allowed (a rotated key is picked up)
        verifier.refresh_interval_seconds = 0.0
        rotated, rotated_public = _rsa_jwk("k2")
        served.append(rotated_public)
        token = jwt.encode(_claims(user), rotated, algorithm="RS256", headers={"kid": "k2"})
        assert await verifier.verify_token(token) is not None
        assert len(server.requests) == 2
        # an algorithm outside the configured ones never causes a fetch
        hs = jwt.encode(_claims(user), "k" * 48, algorithm="HS384")
        assert await verifier.verify_token(hs) is None
        assert len(server.requests) == 2
    finally:
        server.stop()


async def test_stdio_user_carries_its_app_metadata_role(pool, make_user) -> None:
    admin = await make_user(role="admin")
    plain = await make_user(role="user")
    roles = {}
    for user in (admin, plain):
        settings = Settings(_env_file=None, user_id=str(user))  # type: ignore[call-arg]
        caller = await resolve_local_user(pool, settings, embedded=False)
        assert caller.user_id == user and caller.transport == "stdio"
        async with as_user(pool, caller.rls_claims) as conn:
            roles[user] = await conn.fetchval("select public.get_user_role()")
    assert roles == {admin: "admin", plain: "user"}
    with pytest.raises(IdentityError, match="not a user"):
        missing = Settings(_env_file=None, user_id=str(uuid.uuid4()))  # type: ignore[call-arg]
        await resolve_local_user(pool, missing, embedded=False)


def test_the_stdio_server_does_not_load_pyjwt() -> None:
    """PyJWT (and the `cryptography` backends it loads) serves HTTP only: a stdio start-up skips it."""
    code = "import sys, artificer.server.cli, artificer.server.app; print('jwt' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
