"""Pipeline overhead: a bare no-op MCP tool vs a full `document_agent` create, over the same transport.

    uv run python bench/bench_pipeline.py [--calls 200] [--database-url postgresql://…] [--store-commit async]

One run measures, against a fake Gemini that answers at once (tests/fakes, real google-genai SDK):
- in-process (`Client(server)`) and stdio (`artificer serve` subprocess) per-call latency of
  1. `noop`: a bare low-level MCP tool that returns a constant,
  2. `noop+llm`: the same bare tool making the same provider call as create (no pipeline, no database),
  3. `document_agent create`: identity → config → rate limit → run → store → log;
- the ratios create/noop and create/(noop+llm) (the pipeline's own share), the three series timed
  round-robin so that they see the same machine load, and the wall time of the two statements;
- database round trips per call, counted at the driver (every statement an asyncpg connection sends;
  hot path = statements sent while calls run, minus the log writer's batched COPY), in-process and in
  the stdio server (`artificer serve`'s code, run by this file with the same counter installed);
- each target, MET or NOT MET, and when the bare-tool target cannot be reached because the provider
  call alone exceeds it, the numbers that show it.

`--store-commit async` runs the same with the document store committing without waiting for the WAL
flush (`documents.store_version(durable=False)`), to show what the durable commit costs; the default is what
the pipeline does. The statements alone, before and after sql/0031, are in bench/bench_statements.py.

Without --database-url a scratch database is created on ARTIFICER_TEST_DATABASE_URL (or
postgresql://postgres@127.0.0.1:5432/postgres), migrated, and dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import mcp_types as types
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

THIS_FILE = Path(__file__).resolve()
ROOT = THIS_FILE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from artificer.agents.providers.base import LLMRequest  # noqa: E402
from artificer.common.settings import Settings  # noqa: E402
from artificer.server.app import build_server, make_provider  # noqa: E402
from artificer.storage import documents, rate_limits  # noqa: E402
from artificer.storage.migrations import migrate  # noqa: E402
from fakes.gemini import FakeGemini  # noqa: E402
from fakes.llm import Turn  # noqa: E402

ADMIN_URL = os.environ.get("ARTIFICER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ANSWER = "# Bench\n\nA short document."


# --- the bare servers ---------------------------------------------------------------------------------


def bare_server(settings: Settings | None = None) -> Server[Any]:
    """`noop` returns a constant; `noop_llm` makes the provider call create makes, and nothing else.

    The request is the one create sends (system prompt and filled template from admin_config, thinking
    on as model_config says), passed in BENCH_SYSTEM / BENCH_PROMPT.
    """
    provider = make_provider("google", settings) if settings is not None else None
    noop_tool = types.Tool(name="noop", input_schema={"type": "object", "properties": {}})
    llm_tool = types.Tool(name="noop_llm", input_schema={"type": "object", "properties": {}})

    async def on_list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[noop_tool, llm_tool])

    async def on_call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name == "noop_llm" and provider is not None:
            request = LLMRequest(
                model="gemini-2.0-flash",
                prompt=os.environ.get("BENCH_PROMPT", "Create a document."),
                system=os.environ.get("BENCH_SYSTEM", "You write."),
                temperature=0.7,
                thinking=True,
            )
            async with provider.stream(request) as stream:
                async for delta in stream:
                    await ctx.session.report_progress(float(len(delta.text)), None, "writing")
                text = stream.result.text
            return types.CallToolResult(content=[types.TextContent(type="text", text=text)])
        return types.CallToolResult(content=[types.TextContent(type="text", text="ok")])

    return Server("bare", on_list_tools=on_list_tools, on_call_tool=on_call_tool)


async def serve_bare_stdio() -> None:
    settings = Settings()
    server = bare_server(settings)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


STORE_COMMIT_ENV = "BENCH_STORE_COMMIT"


def use_store_commit(mode: str) -> None:
    """`async`: every `documents.store_version` of this process commits without waiting for the WAL flush."""
    if mode != "async":
        return
    original = documents.store_version

    async def store_version(*args: Any, **kwargs: Any) -> Any:
        return await original(*args, **{**kwargs, "durable": False})

    documents.store_version = store_version


def serve_counted_stdio(counts_file: str) -> None:
    """`artificer serve` (stdio), counting the statements its asyncpg connections send from the first
    agent tool call on; at exit the counts and the number of calls go to `counts_file` as JSON."""
    from artificer.server import app

    use_store_commit(os.environ.get(STORE_COMMIT_ENV, "durable"))
    settings = Settings()
    logging.basicConfig(stream=sys.stderr, level=settings.log_level.upper())
    ROUND_TRIPS.install()
    original = app.run_agent_tool
    tool_calls = 0

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal tool_calls
        tool_calls += 1
        ROUND_TRIPS.active = True
        return await original(*args, **kwargs)

    app.run_agent_tool = counted
    try:
        anyio.run(app.serve_stdio, settings)
    finally:
        Path(counts_file).write_text(json.dumps({"calls": tool_calls, "counts": dict(ROUND_TRIPS.counts)}))


# --- round-trip counting ------------------------------------------------------------------------------


class RoundTrips:
    """Counts statements sent by every asyncpg connection of this process, by kind."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.active = False

    def record(self, query: str) -> None:
        if not self.active:
            return
        q = " ".join(query.split()).lower()
        if "artificer_rate_limit" in q:
            kind = "rate limit"
        elif "artificer_save_document_version" in q:
            kind = "store document"
        elif q.startswith("copy") or q.startswith("insert into agent_activity") or "usage_logs" in q:
            kind = "log writer (batched, off the call)"
        elif "pg_advisory_unlock_all" in q or q.startswith("reset all"):
            kind = "pool reset on release"
        elif q == "select 1":
            kind = "listener keep-alive"
        else:
            kind = q[:60]
        self.counts[kind] += 1

    def install(self) -> None:
        counter = self
        original_execute = asyncpg.connection.Connection._execute
        original_simple = asyncpg.connection.Connection.execute
        original_copy = asyncpg.connection.Connection.copy_records_to_table

        async def _execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            counter.record(query)
            return await original_execute(self, query, *args, **kwargs)

        async def execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            if not args:  # the simple-query path; with args it goes through _execute
                counter.record(query)
            return await original_simple(self, query, *args, **kwargs)

        async def copy_records_to_table(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
            counter.record("copy " + table_name)
            return await original_copy(self, table_name, *args, **kwargs)

        asyncpg.connection.Connection._execute = _execute
        asyncpg.connection.Connection.execute = execute
        asyncpg.connection.Connection.copy_records_to_table = copy_records_to_table


ROUND_TRIPS = RoundTrips()


# --- timing -------------------------------------------------------------------------------------------

Series = dict[str, list[float]]


class PhaseTimes:
    """Wall time of the pipeline's two database statements, per create (wrapped at the module level)."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {"rate limit": [], "store": []}
        self.active = False

    def install(self) -> None:
        self._wrap(rate_limits, "check_and_count", "rate limit")
        self._wrap(documents, "store_version", "store")

    def _wrap(self, module: Any, name: str, label: str) -> None:
        original = getattr(module, name)
        times = self

        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                if times.active:
                    times.samples[label].append((time.perf_counter() - start) * 1000)

        setattr(module, name, timed)


PHASES = PhaseTimes()


async def interleaved(calls: dict[str, Callable[[], Awaitable[Any]]], n: int, warmup: int = 10) -> Series:
    """Time the calls round-robin (a, b, c, a, b, c …) so that every series sees the same machine load."""
    for _ in range(warmup):
        for call in calls.values():
            await call()
    samples: Series = {name: [] for name in calls}
    for _ in range(n):
        for name, call in calls.items():
            counting = name == CREATE
            ROUND_TRIPS.active = PHASES.active = counting
            start = time.perf_counter()
            await call()
            samples[name].append((time.perf_counter() - start) * 1000)
            ROUND_TRIPS.active = PHASES.active = False
    return samples


def summary(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=20)
    return f"median {statistics.median(samples):6.2f} ms  p95 {q[18]:6.2f} ms"


async def checked(client: Client, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    result = await client.call_tool(name, arguments)
    if result.is_error:
        raise RuntimeError(f"{name} failed: {result.content[0].text}")  # type: ignore[union-attr]
    return result


@asynccontextmanager
async def scratch_database(url: str | None) -> AsyncIterator[str]:
    if url:
        yield url
        return
    name = f"artificer_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'create database "{name}"')
    dsn = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        yield dsn
    finally:
        await admin.execute(f'drop database if exists "{name}" with (force)')
        await admin.close()


NOOP, NOOP_LLM, CREATE = "noop", "noop+llm", "document_agent create"
TARGET_RATIO = 1.3
TARGET_ROUND_TRIPS = 2.0


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def hot_path(counts: Mapping[str, int]) -> int:
    """Statements sent while calls run, without the log writer's batches and the listener's keep-alive."""
    return sum(v for k, v in counts.items() if "log writer" not in k and "keep-alive" not in k)


def report(results: dict[str, Series], calls: int, stdio: Mapping[str, Any], documents_written: int) -> None:
    medians = {t: {name: statistics.median(s) for name, s in series.items()} for t, series in results.items()}
    for transport, series in results.items():
        m = medians[transport]
        print(f"== {transport} (medians of {calls} interleaved calls each)")
        for name, samples in series.items():
            print(f"  {name:24s} {summary(samples)}")
        print(f"  create / noop             {m[CREATE] / m[NOOP]:6.2f}x")
        print(f"  create / noop+llm         {m[CREATE] / m[NOOP_LLM]:6.2f}x")
        print(
            f"  noop+llm / noop           {m[NOOP_LLM] / m[NOOP]:6.2f}x   (provider call alone, no pipeline)"
        )
        print(f"  pipeline's own share      {m[CREATE] - m[NOOP_LLM]:6.2f} ms  (create - noop+llm)\n")

    m = medians["in-process"]
    db = {label: statistics.median(s) for label, s in PHASES.samples.items() if s}
    print("== where the in-process create's extra time goes (medians)")
    for label, value in db.items():
        print(f"  {label + ' statement (incl. pool checkout)':40s} {value:6.2f} ms")
    rest = m[CREATE] - m[NOOP_LLM] - sum(db.values())
    print(f"  {'the rest (validation, logging, result)':40s} {rest:6.2f} ms\n")

    stdio_calls = max(1, int(stdio["calls"]))
    per_call = {
        "in-process": hot_path(ROUND_TRIPS.counts) / calls,
        "stdio": hot_path(stdio["counts"]) / stdio_calls,
    }
    print("== database round trips per create (counted at the driver)")
    for transport, counts, n in (
        ("in-process", ROUND_TRIPS.counts, calls),
        ("stdio", stdio["counts"], stdio_calls),
    ):
        print(f"  {transport} ({n} creates)")
        for kind, count in sorted(counts.items(), key=lambda kv: -kv[1]):
            print(f"    {kind:38s} {count / n:6.2f}")
        print(f"    {'hot path total':38s} {per_call[transport]:6.2f}")
    print(f"  documents written: {documents_written}\n")
    hot_per_call = max(per_call.values())

    s = medians["stdio"]
    floor = s[NOOP_LLM] / s[NOOP]
    print("== targets")
    print(
        f"  pipeline <= {TARGET_RATIO}x the bare tool over stdio: create/noop = {s[CREATE] / s[NOOP]:.2f}x "
        f"-> {verdict(s[CREATE] / s[NOOP] <= TARGET_RATIO)}"
    )
    if floor > TARGET_RATIO:
        print(
            f"    not reachable against the bare no-op: the same provider call through the real SDK and the "
            f"fake server, with no pipeline at all, already takes {s[NOOP_LLM]:.2f} ms = {floor:.2f}x the "
            f"no-op's {s[NOOP]:.2f} ms"
        )
    budget = s[NOOP_LLM] * (TARGET_RATIO - 1)
    print(
        f"  against the same provider call: create/(noop+llm) = {s[CREATE] / s[NOOP_LLM]:.2f}x over stdio, "
        f"{m[CREATE] / m[NOOP_LLM]:.2f}x in-process -> {verdict(s[CREATE] / s[NOOP_LLM] <= TARGET_RATIO)} "
        f"(budget {budget:.2f} ms over stdio for the pipeline, used {s[CREATE] - s[NOOP_LLM]:.2f} ms)"
    )
    print(
        f"  <= {TARGET_ROUND_TRIPS:.0f} database round trips on the hot path: {hot_per_call:.2f} "
        f"-> {verdict(hot_per_call <= TARGET_ROUND_TRIPS)}"
    )


async def main(calls: int, database_url: str | None, store_commit: str) -> None:
    os.environ[STORE_COMMIT_ENV] = store_commit
    use_store_commit(store_commit)
    gemini = FakeGemini().start()
    gemini.repeat = Turn(text=ANSWER)
    async with scratch_database(database_url) as dsn:
        conn = await asyncpg.connect(dsn)
        user = uuid.uuid4()
        await conn.execute(
            "insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data, "
            "created_at, updated_at) values ($1, 'authenticated', 'authenticated', 'bench@example.test', "
            """'{"role": "user"}', '{}', now(), now())""",
            user,
        )
        await conn.execute(
            "update admin_config set config_data = jsonb_set(config_data, '{rateLimit}', "
            """'{"perMinute": 1000, "perHour": 10000, "perDay": 100000}') """
            "where config_key = 'document_agent_google'"
        )
        create_config = await conn.fetchval(
            "select config_data -> 'tools' -> 'create' from admin_config "
            "where config_key = 'document_agent_google'"
        )
        create_config = json.loads(create_config) if isinstance(create_config, str) else create_config
        os.environ["BENCH_SYSTEM"] = create_config["systemPrompt"]
        os.environ["BENCH_PROMPT"] = (
            create_config["userPromptTemplate"].replace("{title}", "Bench").replace("{instruction}", "Bench")
        )
        env = {
            "DATABASE_URL": dsn,
            "ARTIFICER_USER_ID": str(user),
            "GOOGLE_API_KEY": "bench",
            "GOOGLE_BASE_URL": gemini.url,
            "ARTIFICER_PROVIDER_MAX_RETRIES": "0",
            "ARTIFICER_LOG_LEVEL": "WARNING",
        }
        settings = Settings(
            _env_file=None,
            database_url=dsn,
            user_id=str(user),
            google_api_key="bench",
            google_base_url=gemini.url,
            provider_max_retries=0,
        )
        create = {"operation": "create", "instruction": "Bench"}
        print(
            f"fake Gemini at {gemini.url}; {calls} calls per series after 10 warm-up rounds; "
            f"document store commit: {store_commit}\n"
        )
        results: dict[str, Series] = {}

        # --- in-process -------------------------------------------------------------------------
        ROUND_TRIPS.install()
        PHASES.install()
        async with Client(bare_server(settings)) as bare, Client(build_server(settings)) as full:
            results["in-process"] = await interleaved(
                {
                    NOOP: lambda: checked(bare, "noop", {}),
                    NOOP_LLM: lambda: checked(bare, "noop_llm", {}),
                    CREATE: lambda: checked(full, "document_agent", create),
                },
                calls,
            )

        # --- stdio ------------------------------------------------------------------------------
        bare_params = StdioServerParameters(
            command=sys.executable,
            args=[str(THIS_FILE), "--bare-stdio-server"],
            env={**os.environ, **env},
        )
        counts_file = Path(tempfile.mkdtemp(prefix="artificer-bench-")) / "stdio-counts.json"
        full_params = StdioServerParameters(
            command=sys.executable,
            args=[str(THIS_FILE), "--counted-stdio-server", str(counts_file)],
            env={**os.environ, **env},
        )
        async with Client(bare_params, mode="legacy") as bare, Client(full_params, mode="legacy") as full:
            results["stdio"] = await interleaved(
                {
                    NOOP: lambda: checked(bare, "noop", {}),
                    NOOP_LLM: lambda: checked(bare, "noop_llm", {}),
                    CREATE: lambda: checked(full, "document_agent", create),
                },
                calls,
            )
        documents_written = await conn.fetchval('select count(*) from "Document"')
        await conn.close()
    gemini.stop()
    for _ in range(50):  # the server writes its counts when it exits
        if counts_file.exists():
            break
        await anyio.sleep(0.1)
    stdio = json.loads(counts_file.read_text()) if counts_file.exists() else {"calls": 0, "counts": {}}
    report(results, calls, stdio, documents_written)


if __name__ == "__main__":
    if "--bare-stdio-server" in sys.argv:
        anyio.run(serve_bare_stdio)
        sys.exit(0)
    if "--counted-stdio-server" in sys.argv:
        serve_counted_stdio(sys.argv[sys.argv.index("--counted-stdio-server") + 1])
        sys.exit(0)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--database-url")
    parser.add_argument("--store-commit", choices=("durable", "async"), default="durable")
    options = parser.parse_args()
    anyio.run(main, options.calls, options.database_url, options.store_commit)
