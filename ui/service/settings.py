"""One settings object (SIMULACRA_* environment variables, .env, simulacra.toml), passed down as arguments."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from simulator.registry import ModelEntry, Registry
from simulator.remote_apis import RemoteApi
from simulator.watchdog import Timeouts
from storage.annotations import check_reviewer
from ui.service.conversations.turn_lease import LEASE_S


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "simulacra"


class ModelConfig(BaseModel):
    """A model the user adds in simulacra.toml: a GGUF file, a litellm model string with its server, or a base
    model on an inference server (`api` and `api_base`; `model` is its name there when the server has several).
    `api_key_env` names the variable holding that server's key; the key itself never enters the settings."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    kind: Literal["simulator", "chat"] = "simulator"
    path: Path | None = None
    litellm: str | None = None
    api: RemoteApi | None = None
    api_base: str | None = Field(default=None, pattern=r"^https?://\S+$")
    model: str | None = Field(default=None, min_length=1)
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # How many requests a run keeps in flight on this model's server (vLLM: its --max-num-seqs). Unset: what the
    # server reports (llama-server's slots), else simulator.registry.DEFAULT_CONCURRENCY.
    max_concurrency: int | None = Field(default=None, ge=1, le=1024)

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        sources = [name for name in ("path", "litellm", "api") if getattr(self, name) is not None]
        if len(sources) != 1:
            raise ValueError(
                f"model '{self.name}': give exactly one of `path` (a GGUF file), `litellm` (a litellm model string)"
                " or `api` with `api_base` (a base model on an inference server)"
            )
        if self.kind == "simulator" and self.litellm is not None:
            raise ValueError(f"model '{self.name}': a simulator needs a GGUF `path`, or `api` and `api_base`")
        if self.api is not None and (self.kind != "simulator" or not self.api_base):
            raise ValueError(f"model '{self.name}': `api` is for a simulator on a server: set kind and `api_base`")
        if self.model is not None and self.api is None:
            raise ValueError(f"model '{self.name}': `model` names the model on an `api` server")
        if self.max_concurrency is not None and not (self.api_base or self.litellm):
            raise ValueError(
                f"model '{self.name}': `max_concurrency` is for a model on a server (in-process runs one at a time)"
            )
        if self.api_key_env and not self.api_base:
            # Without a server of the user's own, litellm reads the provider's variable (ANTHROPIC_API_KEY, ...).
            raise ValueError(f"model '{self.name}': `api_key_env` names the key for the server at `api_base`; set both")
        return self

    def entry(self) -> ModelEntry:
        path = self.path.expanduser() if self.path else None
        chat_litellm = f"local/{self.name}" if self.kind == "chat" and path else None
        return ModelEntry(
            name=self.name,
            kind=self.kind,
            path=(lambda: path) if path else None,
            litellm=self.litellm or chat_litellm,
            api_base=self.api_base,
            description=str(path) if path else (self.litellm or f"{self.api} at {self.api_base}"),
            api_key_env=self.api_key_env,
            api=self.api,
            model=self.model,
            max_concurrency=self.max_concurrency,
        )


class _SettingsInDotEnv(DotEnvSettingsSource):
    """.env also holds the API keys litellm reads (OPENAI_API_KEY, ...): only SIMULACRA_* lines are settings,
    and an unknown one among those is still an error (`extra="forbid"`), so a typo is named."""

    def __call__(self) -> dict[str, Any]:
        prefix = self.env_prefix.lower()
        fields = self.settings_cls.model_fields
        return {k: v for k, v in super().__call__().items() if k in fields or k.lower().startswith(prefix)}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SIMULACRA_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    masks_dir: Path | None = None
    n_ctx: int = Field(default=2048, ge=256, le=131072)
    threads: int | None = Field(default=None, ge=1)
    host: str = "127.0.0.1"
    port: int = 8501
    default_lanes: list[str] = Field(default_factory=lambda: ["base@raw", "base@assistant", "chat"])
    models: list[ModelConfig] = Field(default_factory=list)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    # Asked of every browser session; required when the app listens beyond this machine (ui.service.access).
    # A SecretStr: it shows as ********** in any repr, log or error message.
    password: SecretStr | None = None
    # The name annotations are signed with (the CLI's --reviewer and the web sidebar start from it).
    reviewer: str | None = None
    # Seconds a turn's lease on its conversation outlives its holder's last heartbeat (SIMULACRA_TURN_LEASE_S):
    # how long a killed `ask` or app keeps others from starting a turn there.
    turn_lease_s: float = Field(default=LEASE_S, ge=1, le=3600)

    @field_validator("password")
    @classmethod
    def _password_not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            raise ValueError("the password is empty: unset SIMULACRA_PASSWORD or give it a value")
        return value

    @field_validator("reviewer")
    @classmethod
    def _reviewer_name(cls, value: str | None) -> str | None:
        return None if value is None else check_reviewer(value)  # InvalidValue is a ValueError

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("SIMULACRA_CONFIG", "simulacra.toml"))
        return (
            init_settings,
            env_settings,
            _SettingsInDotEnv(settings_cls),
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'simulacra.db'}"

    @property
    def resolved_masks_dir(self) -> Path:
        return self.masks_dir or self.data_dir / "masks"

    def registry(self) -> Registry:
        return Registry(
            n_ctx=self.n_ctx, n_threads=self.threads, extra=[m.entry() for m in self.models], timeouts=self.timeouts
        )


def load_dotenv_keys() -> None:
    """Put .env's API keys into the environment for litellm, without overriding what is already set."""
    from dotenv import load_dotenv

    load_dotenv(Path(".env"), override=False)
