"""Hostile bearer tokens against a real HTTP server: every one is refused with 401 before any MCP handling.

Two servers on 127.0.0.1: one verifying with a JWKS only, one with a JWKS and the HS256 secret. A valid
token of each kind gets through (so a 401 below is the token's fault, not the server's).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fakes.gemini import FakeGemini
from fakes.http import FakeHTTPServer, Reply
from http_harness import initialize_status, running_http
from mcp_harness import JWT_SECRET, make_settings

pytestmark = pytest.mark.anyio


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_by_hand(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 JWT signed with any bytes (PyJWT refuses PEM keys as HMAC secrets: an attacker does not)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _rsa_jwk(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update(kid=kid, use="sig", alg="RS256")
    return key, public


async def test_hostile_tokens_get_401_over_http(database_url: str, make_user, gemini: FakeGemini) -> None:
    user = await make_user()
    key1, jwk1 = _rsa_jwk("k1")
    key2, jwk2 = _rsa_jwk("k2")
    stranger, _ = _rsa_jwk("k-unknown")
    jwks = FakeHTTPServer(lambda request: Reply.of_json({"keys": [jwk1, jwk2]})).start()
    now = int(time.time())
    claims = {"sub": str(user), "aud": "authenticated", "role": "authenticated", "iat": now, "exp": now + 300}

    def rs(payload: dict[str, Any] | None = None, *, key: Any = key1, **headers: Any) -> str:
        return jwt.encode(payload or claims, key, algorithm="RS256", headers={"kid": "k1", **headers})

    def hs(payload: dict[str, Any] | None = None, **headers: Any) -> str:
        return jwt.encode(payload or claims, JWT_SECRET, algorithm="HS256", headers=headers or None)

    public_pem = key1.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    confused = hs256_by_hand({"alg": "HS256", "typ": "JWT", "kid": "k1"}, claims, public_pem)
    confused_jwk = hs256_by_hand({"alg": "HS256", "kid": "k1"}, claims, json.dumps(jwk1).encode())
    unsigned = jwt.encode(claims, None, algorithm="none")
    unsigned_with_kid = jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})
    padding = {**claims, "pad": "x" * 12_000}  # under uvicorn's header limit: it reaches the verifier
    hostile = {
        "alg none": unsigned,
        "alg none with a kid": unsigned_with_kid,
        "alg None (capitalised)": jwt.encode(claims, None, algorithm="none").replace(
            _b64(b'{"alg":"none","typ":"JWT"}'), _b64(b'{"alg":"None","typ":"JWT"}')
        ),
        "HS256 signed with the JWKS public key (PEM)": confused,
        "HS256 signed with the JWKS public key (JWK json)": confused_jwk,
        "nbf in the future": rs({**claims, "nbf": now + 3600}),
        "nbf in the future (HS256)": hs({**claims, "nbf": now + 3600}),
        "unknown kid": rs(key=stranger, kid="k-unknown"),
        "kid of a different key": rs(key=key2, kid="k1"),
        "kid absent, signed by a stranger": jwt.encode(claims, stranger, algorithm="RS256"),
        "oversized RS256": rs(padding),
        "oversized HS256": hs(padding),
        "typ JWE": rs(typ="JWE"),
        "typ dpop+jwt": rs(typ="dpop+jwt"),
        "typ logout+jwt (HS256)": hs(typ="logout+jwt"),
        "typ refresh": hs(typ="refresh"),
    }
    accepted = {
        "RS256 typ JWT": rs(),
        "RS256 typ absent": jwt.encode(claims, key1, algorithm="RS256", headers={"kid": "k1", "typ": None}),
        "RS256 typ at+jwt": rs(typ="at+jwt"),
        "RS256 typ application/at+jwt": rs(typ="application/at+jwt"),
        "RS256 kid k2": rs(key=key2, kid="k2"),
    }
    try:
        jwks_only = make_settings(database_url, None, gemini, jwt_secret=None, jwks_url=f"{jwks.url}/jwks")
        both = make_settings(database_url, None, gemini, jwks_url=f"{jwks.url}/jwks")
        for settings, also_accepted in ((jwks_only, {}), (both, {"HS256": hs(), "HS256 jwt": hs(typ="jwt")})):
            async with running_http(settings) as base:
                for name, token in {**accepted, **also_accepted}.items():
                    assert await initialize_status(base, token) == 200, name
                refused = {name: await initialize_status(base, token) for name, token in hostile.items()}
                assert {n: s for n, s in refused.items() if s != 401} == {}
                assert await initialize_status(base, rs()) == 200, "a valid token after the hostile ones"
    finally:
        jwks.stop()
