# Settings come from SIMULACRA_* variables, .env and simulacra.toml: models added there become lanes, .env may
# also hold API keys for litellm, and every mistake is named in one `error:` line.

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.processes import one_error_line

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.model
@pytest.mark.slow
def test_a_server_added_in_simulacra_toml_is_a_lane(cli: Run, tmp_path: Path, openai_server: str) -> None:
    (tmp_path / "simulacra.toml").write_text(
        f'[[models]]\nname = "server"\nkind = "chat"\nlitellm = "openai/smollm2"\napi_base = "{openai_server}"\n'
    )

    result = cli(tmp_path, "ask", "What is the capital of France?", "--lane", "server", "--json", "--max-tokens", "8")

    assert result.returncode == 0, result.stderr
    (lane,) = json.loads(result.stdout)["lanes"]
    assert lane["status"] == "complete" and lane["text"].strip()


def test_an_unknown_key_in_simulacra_toml_is_named(cli: Run, tmp_path: Path) -> None:
    (tmp_path / "simulacra.toml").write_text('[[models]]\nname = "x"\nlitellm = "openai/x"\ncolour = "red"\n')

    assert "colour" in one_error_line(cli(tmp_path, "list"))


def test_a_simulacra_toml_that_is_not_toml_is_one_clear_error(cli: Run, tmp_path: Path) -> None:
    (tmp_path / "simulacra.toml").write_text("[[models\nname = 1\n")

    assert "simulacra.toml" in one_error_line(cli(tmp_path, "list"))


def test_api_keys_in_dotenv_sit_beside_the_settings(cli: Run, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-not-a-real-key-0000\nSIMULACRA_N_CTX=512\n")

    result = cli(tmp_path, "list", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_a_setting_in_dotenv_is_read_and_a_misspelt_one_is_named(cli: Run, tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("SIMULACRA_N_CTX=100\n")
    assert "n_ctx" in one_error_line(cli(tmp_path, "list"))

    dotenv.write_text("SIMULACRA_NCTX=512\n")
    assert "simulacra_nctx" in one_error_line(cli(tmp_path, "list")).lower()


def test_invalid_settings_are_one_clear_error(cli: Run, tmp_path: Path) -> None:
    assert "n_ctx" in one_error_line(cli(tmp_path, "list", SIMULACRA_N_CTX="lots"))
