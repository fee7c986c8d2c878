"""Driver failures as storage's own typed errors (`common.records`): callers above storage never see
asyncpg's exceptions or text."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import asyncpg
from artificer.common.records import DatabaseUnavailable, StorageError, UnknownUser

UNKNOWN_USER = "the caller's user id is not in this database's auth.users"
UNAVAILABLE = "the database is temporarily unavailable"


def is_unknown_user(error: BaseException) -> bool:
    """The `validate_user_id` trigger (or a foreign key) refused a row: the user is not in `auth.users`."""
    return isinstance(error, asyncpg.ForeignKeyViolationError) and "auth.users" in str(error)


def is_unavailable(error: BaseException) -> bool:
    """The database cannot serve right now: down, restarting, connections gone, pool exhausted."""
    if isinstance(error, asyncpg.ObjectNotInPrerequisiteStateError):
        return "accepting connections" in str(error)  # the database refuses connections for now
    return isinstance(
        error,
        OSError
        | TimeoutError
        | asyncpg.InterfaceError
        | asyncpg.InternalClientError  # a connection the server dropped mid-protocol
        | asyncpg.PostgresConnectionError
        | asyncpg.OperatorInterventionError
        | asyncpg.InsufficientResourcesError,
    )


def translate(error: BaseException) -> StorageError | None:
    """The typed error for a driver failure, or None for one storage has no name for."""
    if isinstance(error, StorageError):
        return error
    if is_unknown_user(error):
        return UnknownUser(UNKNOWN_USER)
    if is_unavailable(error):
        return DatabaseUnavailable(UNAVAILABLE)
    return None


@contextlib.contextmanager
def typed_errors() -> Iterator[None]:
    """Raise driver failures inside the block as `UnknownUser` / `DatabaseUnavailable`; anything else
    (a bug, a constraint storage did not expect) passes through unchanged."""
    try:
        yield
    except StorageError:
        raise
    except Exception as error:
        typed = translate(error)
        if typed is None:
            raise
        raise typed from error
