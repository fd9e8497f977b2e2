"""Servers, a browser and notebook pages for the browser tests, the screenshot scripts and
the playback benchmark: JupyterLab 4, Notebook 7 and Voila on loopback, Debian's Chromium.

Everything the callers share lives here (the server commands, starting and stopping a
server, launching Chromium, opening a notebook and running all its cells, waiting for a
condition); each test file keeps its own workflow. Servers serve a temporary folder given
by the caller; nothing is read from or written to the checkout.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
T = TypeVar("T")

# The pixel (RGBA) at (x, y) of a canvas, and how many sampled pixels are not transparent.
PIXEL_JS = """(el, [x, y]) => {
    const ctx = el.getContext('2d');
    return Array.from(ctx.getImageData(Math.floor(x), Math.floor(y), 1, 1).data);
}"""

FILLED_JS = """(el) => {
    const ctx = el.getContext('2d');
    const d = ctx.getImageData(0, 0, el.width, el.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4 * 97) if (d[i] > 0) n++;
    return n;
}"""


# --- servers --------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lab_command(port: int, root: Path, work: Path, token: str) -> list[str]:
    """JupyterLab 4 serving ``root`` (its settings and workspaces under ``work``)."""
    return [
        sys.executable,
        "-m",
        "jupyterlab",
        *_server_args(port, root, token),
        f"--LabApp.workspaces_dir={work / 'workspaces'}",
        f"--LabApp.user_settings_dir={work / 'settings'}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]


def notebook7_command(port: int, root: Path, work: Path, token: str) -> list[str]:
    """Notebook 7 serving ``root`` (its settings and workspaces under ``work``)."""
    return [
        sys.executable,
        "-m",
        "notebook",
        *_server_args(port, root, token),
        f"--JupyterNotebookApp.workspaces_dir={work / 'workspaces'}",
        f"--JupyterNotebookApp.user_settings_dir={work / 'settings'}",
    ]


def voila_command(port: int, root: Path) -> list[str]:
    """Voila serving the notebooks of ``root``."""
    return [
        sys.executable,
        "-m",
        "voila",
        str(root),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--show_tracebacks=True",
    ]


def _server_args(port: int, root: Path, token: str) -> list[str]:
    return [
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]


def kernel_env(work: Path, extra: dict[str, str]) -> dict[str, str]:
    """The server's (and so the kernels') environment: no ``KLING_*`` or token from the
    caller's shell, Jupyter's folders under ``work``, the checkout importable, ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLING_")}
    env.pop("JUPYTER_TOKEN", None)
    env.update(
        {
            "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
            "JUPYTER_CONFIG_DIR": str(work / "config"),
            "JUPYTER_DATA_DIR": str(work / "data"),
            "PYTHONPATH": os.pathsep.join(
                [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            **extra,
        }
    )
    return env


@contextlib.contextmanager
def server(
    cmd: list[str], env: dict[str, str], cwd: Path, status_url: str, log: Path
) -> Iterator[None]:
    """Run a Jupyter/Voila server until the block ends; waits for ``status_url``."""
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "voila" not in cmd[2]:
        cmd = [*cmd, "--allow-root"]  # containers and CI run as root; still loopback + token
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(status_url, timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"server did not answer {status_url}:\n{log.read_text()[-4000:]}"
                )
            time.sleep(0.3)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def serving(
    front_end: str, root: Path, work: Path, env: dict[str, str], token: str
) -> Iterator[str]:
    """``"lab"``, ``"notebook7"`` or ``"voila"`` serving ``root`` until the block ends;
    yields its base URL (its log in ``work``)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    if front_end == "voila":
        cmd, status = voila_command(port, root), f"{base}/"
    else:
        make = lab_command if front_end == "lab" else notebook7_command
        cmd, status = make(port, root, work, token), f"{base}/api/status?token={token}"
    with server(cmd, env, root, status, work / f"{front_end}.log"):
        yield base


# --- the browser and the page ---------------------------------------------------------


def open_browser(p: Any) -> Any:
    """Debian's headless Chromium through Playwright ``p`` (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        raise AssertionError(
            f"{CHROMIUM} is missing: install Debian's chromium (scripts/test.sh does)"
        )
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def poll(fn: Callable[[], T], timeout: float, what: str, interval: float = 0.25) -> T:
    """``fn()`` until it is truthy (returned), or fail after ``timeout`` s naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def settle_lab(page: Any, seconds: float = 6.0) -> None:
    """Answer JupyterLab's start-up prompts (kernel choice, news) as a person would."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for sel in (
            ".jp-Dialog button.jp-mod-accept",
            ".jp-Notification-Toast-Close",
            ".jp-toast-button >> text=No",
        ):
            el = page.query_selector(sel)
            if el is not None and el.is_visible():
                with contextlib.suppress(PlaywrightError):
                    el.click(timeout=5_000)
                deadline = max(deadline, time.monotonic() + 1.5)
        time.sleep(0.25)


def open_and_run(page: Any, base: str, notebook: str, token: str, front_end: str = "lab") -> None:
    """Open ``notebook`` in JupyterLab (``"lab"``) or Notebook 7 (``"notebook7"``) and run
    every cell through the front end's own Run menu, as a person would."""
    page.set_default_navigation_timeout(180_000)
    page.set_default_timeout(120_000)
    if front_end == "lab":
        url, idle = f"{base}/lab/tree/{notebook}", ".jp-Notebook-ExecutionIndicator"
        idle += "[data-status='idle']"
    else:
        url, idle = f"{base}/notebooks/{notebook}", ".jp-NotebookKernelStatus-idle"
        idle += ", [data-status='idle']"
    page.goto(f"{url}?token={token}", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    settle_lab(page)
    page.wait_for_selector(idle, timeout=120_000, state="attached")
    settle_lab(page, 2.0)
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")


def save_failure(page: Any, dest: Path) -> None:
    """What the page looked like when a test failed (into the test's tmp folder)."""
    try:
        page.screenshot(path=str(dest / "failure.png"))
        (dest / "failure.txt").write_text(page.inner_text("body"))
        print(f"failure screenshot: {dest / 'failure.png'}", file=sys.stderr)
    except Exception as exc:  # the browser may be gone; keep the original error
        print(f"could not save the failure screenshot: {exc}", file=sys.stderr)
