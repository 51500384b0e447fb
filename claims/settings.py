"""Configuration from the environment (CLAIMS_*), one place for every default."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from claims.domain.markings import Scale
    from claims.domain.policy import Policy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLAIMS_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///claims.db"
    policy_file: Path | None = None
    token: str | None = None  # CLAIMS_TOKEN: a personal or service token for automation
    token_hours: float = 12  # lifetime of a `claims login` token
    session_idle_hours: float = 8  # a dashboard session ends after this long without use
    batch_size: int = 5000
    inbox: Path = Path("inbox")
    # The claims HTTP API (claims.api, run by `claims serve`). With `api_url` set, the CLI sends its use cases
    # there (claims.cli.remote) instead of running them in-process; https only, and the server must prove
    # it holds the key of `api_cert` (default: the certificate `claims serve` made on this machine) before
    # any token is sent.
    api_url: str | None = Field(None, pattern=r"^https://[^/?#\s]+/?$")
    api_cert: Path | None = None  # the pinned certificate (or CA bundle) the API server must prove
    api_host: str = "127.0.0.1"  # where `claims serve` listens for the API (0.0.0.0: every interface)
    api_port: int = Field(8443, ge=1, le=65535)
    api_tls_dir: Path | None = None  # its certificate and key (made once, key 0600); default <config dir>/tls
    api_max_body_mib: float = Field(64, gt=0)  # a larger request body is refused (413) before it is read
    api_body_timeout: float = Field(30, gt=0)  # seconds a request body may take to arrive (then 408)
    api_header_timeout: float = Field(10, gt=0)  # seconds a connection may take to send its request head
    api_concurrency: int = Field(16, ge=1)  # requests handled at once; more wait, at most `api_queue_seconds`
    api_queue_seconds: float = Field(10, gt=0)
    api_max_connections: int = Field(2048, ge=1)  # open connections, idle or not; beyond them: 503
    key_dir: Path | None = None  # the instance key and audit checkpoints; default ~/.config/claims
    # How long a writer queues behind another before it gives up with exit 5 (each lock wait; issue 21.11).
    write_wait_seconds: float = Field(30, gt=0, le=3600)
    checkpoint_minutes: float = 60  # `claims serve` signs the audit chain head this often (0: never)
    report_max_mib: float = 20  # a report file larger than this is refused before it is read (issue 17)
    # Similar claims (claims.services.similar): a combined score at or above `merge` offers "same claim",
    # from `suggest` up to it "related". Measured on tests/data/similar_pairs.yaml (README, Similar claims).
    similar_merge: float = Field(0.80, ge=0, le=1)
    similar_suggest: float = Field(0.45, ge=0, le=1)
    # "wordllama" (the embedding model its package ships) or "lexical" (rapidfuzz, no model).
    similar_model: str = Field("wordllama", pattern="^(wordllama|lexical)$")

    # Notifications (issue 18). The Apprise URLs of the people's channels, by name, as JSON:
    # CLAIMS_NOTIFY_SECRETS='{"mia-mail": "mailtos://user:pass@mail.example.org?to=mia@example.org"}'.
    # A channel in the database names one of these; the URL (with its passwords and tokens) stays here.
    notify_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    notify_retry_seconds: float = Field(60, gt=0)  # first retry after this long, doubling each time
    notify_max_attempts: int = Field(6, ge=1)  # then the delivery is dead: shown to admins, retried by hand
    notify_batch: int = Field(2000, ge=1)  # events the notifier reads per transaction
    digest_hour: int = Field(7, ge=0, le=23)  # the daily digest's hour (UTC) under `claims serve`

    # Need to know (issue 20, claims.domain.markings). The marking scale, lowest first, as JSON
    # (CLAIMS_MARKINGS='["OFFICIAL", "OFFICIAL-SENSITIVE"]'); empty means TLP 2.0. A new case is
    # marked `default_marking` unless its author says otherwise.
    markings: list[str] = Field(default_factory=list)
    default_marking: str | None = None  # default: TLP:AMBER on the TLP scale, else the scale's lowest

    @field_validator("similar_suggest")
    @classmethod
    def _suggest_not_above_merge(cls, value: float, info: ValidationInfo) -> float:
        merge = info.data.get("similar_merge")
        if merge is not None and value > merge:
            raise ValueError(f"must not be above CLAIMS_SIMILAR_MERGE ({merge})")
        return value

    @field_validator("markings")
    @classmethod
    def _a_scale(cls, value: list[str]) -> list[str]:
        from claims.domain.markings import parse_scale

        parse_scale(value)  # names twice, or empty names: refused here, in one line
        if any(not level.strip() or len(level.strip()) > 40 for level in value):
            raise ValueError("each marking is 1 to 40 characters")
        return value

    @field_validator("default_marking")
    @classmethod
    def _on_the_scale(cls, value: str | None, info: ValidationInfo) -> str | None:
        from claims.domain.markings import parse_scale

        return (
            None
            if value is None
            else parse_scale(info.data.get("markings")).parse(value, field="CLAIMS_DEFAULT_MARKING")
        )

    def scale(self) -> Scale:
        from claims.domain.markings import parse_scale

        return parse_scale(self.markings)

    def new_case_marking(self) -> str:
        from claims.domain.markings import DEFAULT_MARKING

        scale = self.scale()
        if self.default_marking:
            return self.default_marking
        return DEFAULT_MARKING if DEFAULT_MARKING in scale.levels else scale.bottom

    def policy(self) -> Policy:
        from claims.domain.policy import default_policy, load_policy  # here: `claims list` reads no policy

        return load_policy(self.policy_file) if self.policy_file else default_policy()


SECRET_FIELDS = frozenset({"token"})


def _shown(name: str, value: object) -> object:
    """A setting as `claims config show` prints it: secrets masked, a database URL without its password."""
    if value is None:
        return None
    if name in SECRET_FIELDS:
        return "***"
    if name == "database_url":
        from sqlalchemy.engine import make_url

        try:
            return make_url(str(value)).render_as_string(hide_password=True)
        except Exception:
            return "***"
    return str(value) if isinstance(value, Path) else value


def explain() -> dict[str, dict[str, object]]:
    """Each setting's value and where it came from: the environment, the .env file (its full path), or the default.

    A `.env` in the current folder changed the policy silently (issue 21.3); this says so.
    """
    from dotenv import dotenv_values

    settings = get_settings()
    env_file = Path(str(Settings.model_config.get("env_file") or ".env")).resolve()
    from_file = {k.upper(): v for k, v in dotenv_values(env_file).items()} if env_file.is_file() else {}
    environ = {k.upper(): v for k, v in os.environ.items()}
    out: dict[str, dict[str, object]] = {}
    for name in Settings.model_fields:
        var = f"CLAIMS_{name.upper()}"
        if var in environ:
            source = f"environment {var}"
        elif var in from_file:
            source = f".env file {env_file}"
        else:
            source = "default"
        out[name] = {"value": _shown(name, getattr(settings, name)), "source": source}
    return out


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def tls_dir() -> Path:
    """Where `claims serve` keeps the API's certificate and key (and where a client on the same machine pins it)."""
    return get_settings().api_tls_dir or config_dir() / "tls"


def config_dir() -> Path:
    """The person's own files (sign-ins, where `claims serve` listens): $CLAIMS_CONFIG_DIR, else
    $XDG_CONFIG_HOME/claims. Read straight from the environment: it is needed before any setting."""
    explicit = os.environ.get("CLAIMS_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "claims"
