"""Configuration from the environment (CLAIMS_*), one place for every default."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
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
    # A running Prefect server that flow-running commands use when PREFECT_API_URL is unset and it answers
    # (where `claims serve` starts its own); "none" never looks. Without one, a command starts a temporary API.
    prefect_api_url: str | None = "http://127.0.0.1:4200/api"
    # `claims assess` hands its run to a running `claims serve` of the same database when there is one
    # (flows.gateway); false runs every flow in the command's own process.
    gateway: bool = True
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

    @field_validator("similar_suggest")
    @classmethod
    def _suggest_not_above_merge(cls, value: float, info: ValidationInfo) -> float:
        merge = info.data.get("similar_merge")
        if merge is not None and value > merge:
            raise ValueError(f"must not be above CLAIMS_SIMILAR_MERGE ({merge})")
        return value

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


def config_dir() -> Path:
    """The person's own files (sign-ins, where `claims serve` listens): $CLAIMS_CONFIG_DIR, else
    $XDG_CONFIG_HOME/claims. Read straight from the environment: it is needed before any setting."""
    explicit = os.environ.get("CLAIMS_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "claims"
