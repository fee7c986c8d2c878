"""Validating a structured answer against the caller's pydantic model."""

from __future__ import annotations

from artificer.agents.providers.base import M, ProviderName, SchemaMismatch
from pydantic import ValidationError


def validate_object(text: str, schema: type[M], *, provider: ProviderName, retries: int) -> M:
    """Parse `text` (the model's JSON answer) into `schema`, or raise `SchemaMismatch`."""
    try:
        return schema.model_validate_json(text)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in err.errors()[:5]
        )
        raise SchemaMismatch(
            f"the answer does not fit {schema.__name__} ({problems}); try again or simplify the schema",
            provider=provider,
            retries=retries,
        ) from err
