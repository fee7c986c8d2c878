from __future__ import annotations

import copy
from decimal import Decimal

import asyncpg
import pytest
from artificer.storage import configs, github, models, users
from artificer.storage.configs import InvalidConfig
from artificer.storage.database import as_user

pytestmark = pytest.mark.anyio


async def test_load_provider_in_one_query(pool: asyncpg.Pool) -> None:
    loaded = await configs.load_provider(pool, "google")
    assert set(loaded.agents) == {
        "chat_model_agent",
        "provider_tools_agent",
        "document_agent",
        "python_agent",
        "mermaid_agent",
        "git_mcp_agent",
    }
    assert loaded.agents["document_agent"].key == "document_agent_google"
    assert loaded.agents["document_agent"].data["rateLimit"]["perMinute"] > 0
    assert loaded.app_settings["activeProvider"] == "google"
    assert "performance_settings" in loaded.logging_settings
    openai = await configs.load_provider(pool, "openai")
    assert all(row.key.endswith("_openai") for row in openai.agents.values())
    with pytest.raises(ValueError):
        await configs.load_provider(pool, "%")


async def test_put_config_valid_and_invalid(pool: asyncpg.Pool, make_user) -> None:
    admin = await make_user(role="admin")
    current = await configs.get_config(pool, "document_agent_google")
    assert current is not None
    changed = copy.deepcopy(current.data)
    changed["rateLimit"]["perMinute"] = 7
    saved = await configs.put_config(pool, "document_agent_google", changed, updated_by=admin)
    assert saved.data["rateLimit"]["perMinute"] == 7 and saved.updated_by == admin

    broken = copy.deepcopy(changed)
    broken["rateLimit"]["perMinute"] = "a lot"
    with pytest.raises(InvalidConfig) as raised:
        await configs.put_config(pool, "document_agent_google", broken)
    assert "perMinute" in raised.value.message
    with pytest.raises(InvalidConfig):
        await configs.put_config(pool, "no_such_agent_google", {"enabled": True})
    after = await configs.get_config(pool, "document_agent_google")
    assert after is not None and after.data == changed
    assert await configs.get_config(pool, "no_such_agent_google") is None


async def test_models_with_decimal_prices(pool: asyncpg.Pool) -> None:
    active = await models.active_models(pool, "google")
    assert active and active[0].is_default and all(m.is_active and m.provider == "google" for m in active)
    default = await models.default_model(pool, "google")
    assert default is not None and default.model_id == active[0].model_id
    flash = await models.get_model(pool, "gemini-2.0-flash")
    assert flash is not None
    assert flash.pricing.input_per_million == Decimal("0.075")
    assert flash.pricing.output_per_million == Decimal("0.30")
    assert flash.context_window == 1048576
    assert await models.get_model(pool, "no-such-model") is None
    inactive = await models.get_model(pool, "gemma-3")
    assert inactive is not None and inactive.model_id not in {m.model_id for m in active}


async def test_ensure_and_get_user(pool: asyncpg.Pool, make_user) -> None:
    import uuid

    local = uuid.uuid4()
    assert await users.ensure_user(pool, local, "me@example.test", create=False) is False
    assert await users.ensure_user(pool, local, "me@example.test") is True
    assert await users.ensure_user(pool, local, "me@example.test") is True  # idempotent
    user = await users.get_user(pool, local)
    assert user is not None and user.email == "me@example.test" and user.role == "user"
    admin = await users.get_user(pool, await make_user(role="admin"))
    assert admin is not None and admin.role == "admin"
    assert await users.get_user(pool, uuid.uuid4()) is None


async def test_github_repositories_per_user(pool: asyncpg.Pool, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    a = {"sub": str(alice), "role": "authenticated"}
    b = {"sub": str(bob), "role": "authenticated"}
    async with as_user(pool, a) as conn:
        repo = await github.add_repository(conn, owner="octo", name="hello")
        again = await github.add_repository(conn, owner="Octo", name="Hello", default_branch="dev")
        assert again.id == repo.id and again.default_branch == "dev"
        assert repo.url == "https://github.com/octo/hello" and repo.user_id == alice
        touched = await github.touch_repository(conn, repo.id)
        assert touched.last_accessed is not None
        with pytest.raises(ValueError):
            await github.add_repository(conn, owner="a/b", name="c")
    async with as_user(pool, b) as conn:
        assert await github.list_repositories(conn) == []
        with pytest.raises(github.RepositoryNotFound):
            await github.get_repository(conn, repo.id)
        with pytest.raises(github.RepositoryNotFound):
            await github.remove_repository(conn, repo.id)
    async with as_user(pool, a) as conn:
        await github.set_active(conn, repo.id, False)
        assert await github.list_repositories(conn) == []
        assert [r.id for r in await github.list_repositories(conn, active_only=False)] == [repo.id]
        await github.remove_repository(conn, repo.id)
        assert await github.list_repositories(conn, active_only=False) == []
