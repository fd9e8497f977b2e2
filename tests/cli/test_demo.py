"""``kling-widget demo``: JupyterLab on loopback with the emulator in its environment."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kling_widget.cli import demo

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_env(port: int) -> dict[str, str]:
    """The environment of the JupyterLab process serving ``port`` (read from /proc)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            if f"--ServerApp.port={port}".encode() not in cmdline:
                continue
            raw = (proc / "environ").read_bytes()
        except OSError:
            continue
        return dict(item.decode().split("=", 1) for item in raw.split(b"\0") if b"=" in item)
    raise AssertionError(f"no JupyterLab process on port {port}")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_demo_serves_the_quickstart_with_the_emulator(tmp_path: Path, stop: int) -> None:
    """Served with the emulator; stopped by Ctrl-C or by SIGTERM (a process manager, a
    closed terminal), the demo stops its JupyterLab child too."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLING_")}
    env["KLING_API_KEY"] = "sk-real-looking-key-that-must-not-leak"  # replaced for the demo
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "config")
    env["KLING_WIDGET_PROJECTS"] = str(tmp_path / "projects")
    proc = subprocess.Popen(
        [*_launcher(stop), "-m", "kling_widget", "demo", "--no-browser", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 180
        url = emulator_url = None
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if line.startswith("Local Kling emulator: "):
                emulator_url = line.split(": ", 1)[1].strip()
            if line.startswith("JupyterLab: "):
                url = line.split(": ", 1)[1].strip()
        assert url and emulator_url, "\n".join(lines)
        assert url.startswith(f"http://127.0.0.1:{port}/lab/tree/notebooks/quickstart.ipynb?token=")
        token = url.split("token=", 1)[1]

        # The page and the notebook are served, on loopback, behind the token.
        assert httpx.get(url, timeout=30).status_code == 200
        contents = httpx.get(
            f"http://127.0.0.1:{port}/api/contents/notebooks/quickstart.ipynb",
            params={"token": token},
            timeout=30,
        )
        assert contents.status_code == 200 and contents.json()["type"] == "notebook"
        anonymous = httpx.get(f"http://127.0.0.1:{port}/api/contents", timeout=30)
        assert anonymous.status_code == 403

        # JupyterLab's kernels inherit the emulator's URL and its own throwaway key.
        lab_env = process_env(port)
        lab_pid = lab_process(port)
        assert lab_env["KLING_BASE_URL"] == emulator_url
        # The notebooks keep their projects outside the source checkout.
        assert lab_env["KLING_WIDGET_PROJECTS"] == str(tmp_path / "projects")
        assert lab_env["KLING_API_KEY"] != env["KLING_API_KEY"]
        info = httpx.get(f"{emulator_url}/emulator/info", timeout=30)
        assert info.status_code == 200
        listing = httpx.get(
            f"{emulator_url}/v1/videos/multi-elements",
            headers={"Authorization": f"Bearer {lab_env['KLING_API_KEY']}"},
            timeout=30,
        )
        assert listing.status_code == 200 and listing.json()["code"] == 0
    finally:
        proc.send_signal(stop)
        try:
            rest, errors = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            # JupyterLab may still hold the pipes: stop it too, or reading them never ends.
            with contextlib.suppress(AssertionError, ProcessLookupError):
                os.kill(lab_process(port), signal.SIGKILL)
            rest, errors = proc.communicate(timeout=60)
            raise AssertionError(f"the demo did not stop on {stop!r}: {errors[-3000:]}") from None
    assert proc.returncode == 0, errors[-3000:]
    printed = "\n".join(lines) + rest + errors
    assert "sk-real-looking-key-that-must-not-leak" not in printed
    assert lab_env["KLING_API_KEY"] not in printed
    # Stopping the demo stopped JupyterLab too (the process is gone, not just the port).
    assert not Path(f"/proc/{lab_pid}").exists() or _zombie(lab_pid)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5)


def _launcher(stop: int) -> list[str]:
    """The Python command line. For Ctrl-C the demo starts with SIGINT ignored, as a shell
    starts a background job (an ignored signal survives ``exec``): ``kill -INT`` must stop
    it all the same."""
    if stop != signal.SIGINT:
        return [sys.executable]
    code = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "os.execv(sys.executable, [sys.executable] + sys.argv[1:])"
    )
    return [sys.executable, "-c", code]


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


def lab_process(port: int) -> int:
    """The pid of the JupyterLab process serving ``port``."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"--ServerApp.port={port}".encode() in cmdline:
                return int(proc.name)
    raise AssertionError(f"no JupyterLab process on port {port}")


def test_packaged_notebooks_are_copied_without_overwriting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packaged = tmp_path / "pkg"
    packaged.mkdir()
    (packaged / "quickstart.ipynb").write_text("packaged quickstart")
    (packaged / "scripting.ipynb").write_text("packaged scripting")
    monkeypatch.setattr(demo, "repo_notebooks", lambda: None)
    monkeypatch.setattr(demo, "packaged_notebooks", lambda: packaged)
    target = tmp_path / "kling-widget-demo"
    target.mkdir()
    (target / "scripting.ipynb").write_text("the user's edited copy")

    home = demo.notebook_home(target)

    assert home.root == target.resolve() and home.quickstart == "quickstart.ipynb"
    assert (target / "quickstart.ipynb").read_text() == "packaged quickstart"
    assert (target / "scripting.ipynb").read_text() == "the user's edited copy"


def test_source_checkout_serves_its_own_notebooks() -> None:
    home = demo.notebook_home(Path("unused"))
    assert home.root == ROOT and home.quickstart == "notebooks/quickstart.ipynb"
    assert not Path("unused").exists()


def test_demo_environment_drops_real_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLING_ACCESS_KEY", "ak-real")
    monkeypatch.setenv("KLING_SECRET_KEY", "sk-real")
    env = demo.emulator_env("http://127.0.0.1:5555", "emu-key")
    assert env["KLING_BASE_URL"] == "http://127.0.0.1:5555"
    assert env["KLING_API_KEY"] == "emu-key"
    assert "KLING_ACCESS_KEY" not in env and "KLING_SECRET_KEY" not in env
