"""connect.py: the default client and the uploader, with and without credentials."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from kling_widget.api.client import KlingClient
from kling_widget.emulator import Emulator
from kling_widget.errors import KlingAuthError
from kling_widget.workflow import connect

ENV = ("KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY", "KLING_BASE_URL")


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_no_credentials_gives_the_shared_emulator(
    no_env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    client, notice = connect.default_client()
    assert "local Kling emulator" in notice
    assert capsys.readouterr().err.strip() == notice
    shared = connect.shared_emulator()
    assert client.base_url == shared.base_url
    again, _ = connect.default_client(quiet=True)
    assert again.base_url == client.base_url
    assert capsys.readouterr().err == ""
    assert client.list_tasks() is not None
    upload = connect.uploader_for(client)
    assert upload is not None
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"\x00\x01" * 1000)
    url = upload(src)
    assert url.startswith(shared.base_url) and httpx.get(url).content == src.read_bytes()


def test_environment_credentials_pointing_at_an_emulator(
    no_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with Emulator(api_key="env-key-0123456789", data_dir=tmp_path) as emu:
        monkeypatch.setenv("KLING_API_KEY", "env-key-0123456789")
        monkeypatch.setenv("KLING_BASE_URL", emu.base_url)
        client, notice = connect.default_client(quiet=True)
        assert client.base_url == emu.base_url
        assert emu.base_url in notice and "emulator" in notice
        assert client.list_tasks() == []
        assert connect.uploader_for(client) is not None


def test_a_real_looking_api_gets_no_uploader(no_env: None) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = KlingClient(api_key="k" * 20, base_url=f"http://127.0.0.1:{port}")
    assert connect.uploader_for(client) is None


def test_upload_errors_are_clear(no_env: None, tmp_path: Path) -> None:
    with Emulator(data_dir=tmp_path / "e") as emu:
        bad = KlingClient(api_key="not-the-key-000000", base_url=emu.base_url)
        upload = connect.uploader_for(bad)
        assert upload is not None
        src = tmp_path / "a.mp4"
        src.write_bytes(b"x")
        with pytest.raises(KlingAuthError, match="HTTP 401"):
            upload(src)
