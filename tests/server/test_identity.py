"""Bearer JWT verification: HS256 with the shared secret, RS256 against a JWKS URL."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
from artificer.server.identity import JWTVerifier, caller_from_access_token, make_hs256_token
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
