"""Opaque, tamper-safe cursors for the caller's artifact list (`resources/list`, the `artifacts` tool).

A cursor names a keyset position in the list (the `createdAt` and id of the last artifact of a page, the
list being ordered newest first) and the user it was issued to, signed with HMAC-SHA256. A cursor that
was altered, issued to another user, or signed by another key is refused (`InvalidCursor`), so a caller
can neither forge a position nor replay another caller's cursor.

The key is derived from `ARTIFICER_JWT_SECRET` when set (so every replica of an HTTP deployment accepts
every other replica's cursors), else it is random per process (a cursor then outlives neither a restart
nor a hop to another replica: the client is told to list again from the start).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from artificer.server.errors import Refused

_CONTEXT = b"artificer/cursor/v1"
_PROCESS_KEY = secrets.token_bytes(32)


class InvalidCursor(Refused):
    """A cursor this server did not issue to this caller (or no longer accepts)."""


@dataclass(frozen=True, slots=True)
class Position:
    """The last item of a page: the next page starts after it."""

    created_at: datetime
    id: UUID


def cursor_key(secret: str | None) -> bytes:
    """The HMAC key: derived from `secret` when given, else this process's random key."""
    if not secret:
        return _PROCESS_KEY
    return hmac.new(secret.encode(), _CONTEXT, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(key: bytes, user_id: UUID, position: Position) -> str:
    fields = {"u": str(user_id), "t": position.created_at.isoformat(), "i": str(position.id)}
    body = json.dumps(fields, separators=(",", ":")).encode()
    mac = hmac.new(key, body, hashlib.sha256).digest()[:16]
    return f"{_b64(body)}.{_b64(mac)}"


def decode_cursor(key: bytes, user_id: UUID, cursor: str) -> Position:
    """The position `cursor` names; `InvalidCursor` unless this key issued it to `user_id`."""
    invalid = InvalidCursor(
        "invalid cursor: pass a nextCursor from this server unchanged, or list from the start"
    )
    try:
        body_text, mac_text = cursor.split(".", 1)
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, UnicodeEncodeError):
        raise invalid from None
    expected = hmac.new(key, body, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(mac, expected):
        raise invalid
    try:
        data = json.loads(body)
        if data["u"] != str(user_id):
            raise invalid
        return Position(created_at=datetime.fromisoformat(data["t"]), id=UUID(data["i"]))
    except (ValueError, KeyError, TypeError):
        raise invalid from None
