"""The server config file: the language models, every way of getting it wrong, and what the
server makes of it (a brain per model; import warnings that fit the agent's brain)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support.fake_engines import fake_services
from vatel.cli.agents_import import node_problems
from vatel.cli.serve import with_llms
from vatel.server.config_file import ConfigError, ServerConfig, parse_config, read_config
from vatel.server.engines.llm_brain import LLMBrain, LLMEndpoint

pytestmark = pytest.mark.unit

FULL = """
[llms."ollama/llama3.2:1b"]
base_url = "http://127.0.0.1:11434/v1/"
model = "llama3.2:1b"
api_key_env = "MY_KEY"
connect_timeout = 2
first_token_timeout = 7.5
token_timeout = 3
max_tokens = 200
temperature = 0

[llms."vllm/qwen"]
base_url = "https://llm.example.org/v1"
"""


def parse(text: str, **environ: str) -> ServerConfig:
    return parse_config(text, "vatel.toml", environ)


def test_a_full_config() -> None:
    config = parse(FULL, MY_KEY="sk-1")
    assert config.llms == (
        LLMEndpoint(
            name="ollama/llama3.2:1b",
            base_url="http://127.0.0.1:11434/v1",
            model="llama3.2:1b",
            api_key="sk-1",
            connect_timeout=2.0,
            first_token_timeout=7.5,
            token_timeout=3.0,
            max_tokens=200,
            temperature=0.0,
        ),
        LLMEndpoint(name="vllm/qwen", base_url="https://llm.example.org/v1", model="qwen"),
    )
    assert config.llms[0].url == "http://127.0.0.1:11434/v1/chat/completions"


def test_an_empty_file_has_no_models() -> None:
    assert parse("") == ServerConfig()
    assert parse("[llms]\n") == ServerConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("llms = [", "not valid TOML"),
        ("[llm]\n", "unknown key 'llm' (known: llms)"),
        ("llms = 3\n", "llms must be a table"),
        ('[llms]\n"a/b" = 3\n', 'vatel.toml: [llms."a/b"] must be a table'),
        ('[llms."noslash"]\nbase_url = "http://h/v1"\n', 'the name must be "provider/model"'),
        ('[llms."a/b c"]\nbase_url = "http://h/v1"\n', 'the name must be "provider/model"'),
        ('[llms."vatel/mine"]\nbase_url = "http://h/v1"\n', "are the server's own"),
        ('[llms."a/b"]\nmodel = "m"\n', "base_url is required"),
        ('[llms."a/b"]\nbase_url = "http://h/v1"\nbase = 1\n', "unknown key 'base'"),
        ('[llms."a/b"]\nbase_url = 5\n', "base_url must be a string"),
        ('[llms."a/b"]\nbase_url = "localhost:11434"\n', "must be an http:// or https:// URL"),
        ('[llms."a/b"]\nbase_url = "ftp://h/v1"\n', "must be an http:// or https:// URL"),
        ('[llms."a/b"]\nbase_url = "http:///v1"\n', "must be an http:// or https:// URL"),
        ('[llms."a/b"]\nbase_url = "http://h:99999/v1"\n', "is not a URL"),
        ('[llms."a/b"]\nbase_url = "http://h/v1?x=1"\n', "must be a plain URL"),
        ('[llms."a/b"]\nbase_url = "http://h/v 1"\n', "must be a plain URL"),
        ('[llms."a/b"]\nbase_url = "http://h/v1"\nmodel = ""\n', "model must be a non-empty string"),
        ('[llms."a/b"]\nbase_url = "http://h/v1"\nmodel = 3\n', "model must be a non-empty string"),
        ('[llms."a/b"]\nbase_url = "http://h/v1"\napi_key_env = "NOT SET"\n', "must name an environment"),
        (
            '[llms."a/b"]\nbase_url = "http://h/v1"\napi_key_env = "UNSET_KEY"\n',
            "UNSET_KEY, which is not set",
        ),
        ('[llms."a/b"]\nbase_url = "http://h/v1"\ntoken_timeout = 0\n', "token_timeout must be"),
        ('[llms."a/b"]\nbase_url = "http://h/v1"\ntoken_timeout = "5"\n', "token_timeout must be"),
        ('[llms."a/b"]\nbase_url = "http://h/v1"\nconnect_timeout = true\n', "connect_timeout must be"),
        ('[llms."a/b"]\nbase_url = "http://h/v1"\nfirst_token_timeout = 1e9\n', "first_token_timeout must"),
        ('[llms."a/b"]\nbase_url = "http://h/v1"\nmax_tokens = 0\n', "max_tokens must be"),
        ('[llms."a/b"]\nbase_url = "http://h/v1"\nmax_tokens = 2.5\n', "max_tokens must be"),
        ('[llms."a/b"]\nbase_url = "http://h/v1"\ntemperature = 3\n', "temperature must be"),
        ('[llms."a/b"]\nbase_url = "http://h/v1"\ntemperature = "hot"\n', "temperature must be"),
    ],
)
def test_mistakes_are_one_clear_message(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(text)
    assert message in str(error.value)
    assert str(error.value).startswith("vatel.toml")
    assert "\n" not in str(error.value)


def test_an_empty_key_variable_counts_as_unset() -> None:
    with pytest.raises(ConfigError, match="EMPTY_KEY, which is not set"):
        parse('[llms."a/b"]\nbase_url = "http://h/v1"\napi_key_env = "EMPTY_KEY"\n', EMPTY_KEY="  ")


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        read_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="cannot read the config file"):
        read_config(tmp_path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_config(binary)
    good = tmp_path / "good.toml"
    good.write_text('[llms."a/b"]\nbase_url = "http://h/v1"\n')
    assert read_config(good, {}).llms[0].name == "a/b"


def test_import_reports_what_the_agents_brain_skips() -> None:
    nodes: list[dict[str, Any]] = [
        {"type": "tool", "name": "book table"},
        {"type": "rule", "when": "hours", "say": "Nine to five."},
    ]
    for_llm = node_problems("ollama/llama3.2", "", nodes)
    assert len(for_llm) == 1 and for_llm[0].startswith("node 0: a tool's name")
    for_rules = node_problems("vatel/scripted", "", nodes)
    assert any("node 0: type 'tool'" in problem for problem in for_rules)
    assert not any("node 1" in problem for problem in for_rules)


def test_configured_models_become_brains_after_the_scripted_one() -> None:
    services, _, _ = fake_services()
    config = parse('[llms."a/b"]\nbase_url = "http://h/v1"\n[llms."c/d"]\nbase_url = "http://h/v1"\n')
    live = with_llms(services, config.llms)
    assert list(live.brains) == ["vatel/scripted", "a/b", "c/d"]
    assert isinstance(live.brains["c/d"], LLMBrain) and live.brains["c/d"].endpoint == config.llms[1]
    assert live.brain_for("a/b").name == "a/b"
    assert live.brain_for("gone/model").name == "vatel/scripted"
    assert live.pool is services.pool
