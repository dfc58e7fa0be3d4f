"""open_client / resolve_api_url: where the URL and the token come from, and what is refused."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest

import lmsctl.client
from lmsctl.cli.context import embedded_sandbox
from lmsctl.client.factory import SandboxConnection, open_client, resolve_api_url, sandbox_api_url
from lmsctl.client.lms import LmsClient
from lmsctl.errors import ConfigError
from lmsctl.model import ProjectConfig
from lmsctl.sandbox import DEMO_DISTRICT_ID
from tests.support.client import TOKEN, run

CONFIG = ProjectConfig(api_url="https://from-config.test/v3.1")


def test_api_url_comes_from_the_option_then_the_environment_then_lmsctl_yaml(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LMSCTL_API_URL", raising=False)
    assert resolve_api_url(None, CONFIG) == "https://from-config.test/v3.1"
    monkeypatch.setenv("LMSCTL_API_URL", "https://from-env.test/v3.1/")
    assert resolve_api_url(None, CONFIG) == "https://from-env.test/v3.1"
    assert resolve_api_url("https://from-cli.test/v3.1", CONFIG) == "https://from-cli.test/v3.1"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/v3.1", "http://localhost:9/v3.1", "http://[::1]:8080/v3.1"]
)
def test_plain_http_is_allowed_to_this_machine(url: str) -> None:
    assert resolve_api_url(url, CONFIG) == url
    run(LmsClient(url, TOKEN).aclose())


@pytest.mark.parametrize("url", ["http://api.clever.com/v3.1", "http://10.0.0.5/v3.1"])
def test_plain_http_to_another_machine_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="unencrypted"):
        resolve_api_url(url, CONFIG)
    with pytest.raises(ConfigError, match="unencrypted"):
        LmsClient(url, TOKEN)


@pytest.mark.parametrize("url", ["ftp://api.clever.com/v3.1", "api.clever.com", "https://"])
def test_a_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="not an http"):
        resolve_api_url(url, CONFIG)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_token_says_how_to_set_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("CLEVER_TOKEN", raising=False)
    else:
        monkeypatch.setenv("CLEVER_TOKEN", value)
    with pytest.raises(ConfigError) as info:
        open_client(config=CONFIG, root=tmp_path, sandbox=False, sandbox_db=None, api_url=None)
    assert "CLEVER_TOKEN is not set" in str(info.value)
    assert "export CLEVER_TOKEN=" in str(info.value)


def test_the_token_comes_from_the_environment_and_stays_out_of_repr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CLEVER_TOKEN", TOKEN)
    monkeypatch.delenv("LMSCTL_API_URL", raising=False)
    client = open_client(config=CONFIG, root=tmp_path, sandbox=False, sandbox_db=None, api_url=None)
    assert client.base_url == "https://from-config.test/v3.1"
    assert TOKEN not in repr(client)
    run(client.aclose())


def test_the_sandbox_client_keeps_its_db_under_dot_lmsctl(tmp_path: Path) -> None:
    client = open_client(
        config=CONFIG,
        root=tmp_path,
        sandbox=True,
        sandbox_db=None,
        api_url=None,
        open_sandbox=embedded_sandbox,
    )
    assert client.base_url == sandbox_api_url()

    async def go() -> None:
        async with client:
            assert (await client.get_my_district())["id"] == DEMO_DISTRICT_ID

    run(go())
    assert (tmp_path / ".lmsctl" / "sandbox.db").is_file()


def test_the_sandbox_db_can_be_named(tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "s.db"
    client = open_client(
        config=CONFIG,
        root=tmp_path,
        sandbox=True,
        sandbox_db=str(db),
        api_url=None,
        open_sandbox=embedded_sandbox,
    )
    run(client.aclose())
    assert db.parent.is_dir()
    assert not (tmp_path / ".lmsctl").exists()


def test_the_sandbox_client_uses_the_connection_its_caller_passes(tmp_path: Path) -> None:
    opened: list[Path] = []

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer passed-token"
        return httpx.Response(200, json={"data": [{"data": {"id": "d-1", "name": "Passed"}}]})

    def opener(db: Path) -> SandboxConnection:
        opened.append(db)
        return SandboxConnection("passed-token", httpx.MockTransport(answer))

    client = open_client(
        config=CONFIG,
        root=tmp_path,
        sandbox=True,
        sandbox_db=None,
        api_url=None,
        open_sandbox=opener,
    )

    async def go() -> None:
        async with client:
            assert (await client.get_my_district())["id"] == "d-1"

    run(go())
    assert opened == [tmp_path / ".lmsctl" / "sandbox.db"]


def test_a_sandbox_client_without_a_way_to_the_sandbox_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="embedded sandbox is not available"):
        open_client(config=CONFIG, root=tmp_path, sandbox=True, sandbox_db=None, api_url=None)


def test_the_client_package_never_imports_the_sandbox() -> None:
    """The sandbox sits above the client in lmsctl's layers: the CLI hands its transport in."""
    package = Path(lmsctl.client.__file__).parent
    for source in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            assert not any(n.startswith("lmsctl.sandbox") for n in names), source.name


@pytest.mark.parametrize("bad", ["", "tok en", "tok\nen", "tokén", "tok\x00en"])
def test_a_malformed_token_is_refused_without_being_shown(bad: str) -> None:
    with pytest.raises(ConfigError, match="characters a bearer token cannot have") as info:
        LmsClient("https://api.example.test/v3.1", bad)
    assert info.value.__cause__ is None
    if bad:
        assert bad not in str(info.value)
