"""``kling-widget demo``: JupyterLab on the quickstart notebook, backed by the local emulator.

Makes the sample clip, starts the emulator in this process (a loopback HTTP server in a
background thread), then runs JupyterLab as a child with ``KLING_BASE_URL`` and the emulator's
credentials in its environment, so every kernel it starts talks to the emulator. Prints the
URL and waits; Ctrl-C, SIGTERM (a process manager, a closed terminal: SIGHUP) stop both.
The notebooks' projects (``KLING_WIDGET_PROJECTS``) go to a folder outside the source
checkout, so a demo never leaves clicks where the tests (or git) would find them.

Notebooks: inside a source checkout (``pip install -e .``) the repository's ``notebooks/``
folder is served as is. From an installed wheel, the copies shipped in the package
(``kling_widget/notebooks``, put there by hatch's ``force-include``) are copied to
``./kling-widget-demo/`` first, never overwriting a notebook the user already has there.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from kling_widget.cli.common import EXIT_FAILURE, EXIT_OK, SECRET_ENV, CliUsageError, out

NAME = "demo"
HELP = (
    "Start JupyterLab on notebooks/quickstart.ipynb with the local Kling emulator "
    "(no key, no network) and print its URL."
)
QUICKSTART = "quickstart.ipynb"
DEFAULT_PORT = 8888
_STARTUP_TIMEOUT_S = 120.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kling-widget demo``."""
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"JupyterLab's port (default: {DEFAULT_PORT}, or the next free one)",
    )
    parser.add_argument(
        "--emulator-port", type=int, default=0, help="the emulator's port (default: a free one)"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="do not open a browser; just print the URL"
    )
    parser.add_argument(
        "--dir",
        default="kling-widget-demo",
        help="where packaged notebooks are copied when not running from a source checkout "
        "(default: ./kling-widget-demo)",
    )


@dataclass(frozen=True)
class NotebookHome:
    """Where JupyterLab is rooted and the quickstart notebook's path relative to it."""

    root: Path
    quickstart: str


def repo_notebooks() -> Path | None:
    """The source checkout's ``notebooks/`` folder, when this package runs from one."""
    package = Path(__file__).resolve().parent.parent
    repo = package.parent
    folder = repo / "notebooks"
    if (repo / "pyproject.toml").is_file() and (folder / QUICKSTART).is_file():
        return folder
    return None


def packaged_notebooks() -> Path | None:
    """The notebooks shipped inside an installed wheel (``kling_widget/notebooks``)."""
    folder = Path(__file__).resolve().parent.parent / "notebooks"
    return folder if (folder / QUICKSTART).is_file() else None


def notebook_home(copy_to: Path) -> NotebookHome:
    """Find the notebooks to serve; copy the packaged ones to ``copy_to`` when needed."""
    repo = repo_notebooks()
    if repo is not None:
        return NotebookHome(root=repo.parent, quickstart=f"notebooks/{QUICKSTART}")
    packaged = packaged_notebooks()
    if packaged is None:
        raise CliUsageError(
            "notebooks", None, "no notebooks found in the source checkout or the package"
        )
    copy_to.mkdir(parents=True, exist_ok=True)
    for nb in sorted(packaged.glob("*.ipynb")):
        target = copy_to / nb.name
        if not target.exists():  # the user's edited copy wins
            shutil.copyfile(nb, target)
    return NotebookHome(root=copy_to.resolve(), quickstart=QUICKSTART)


def free_port(start: int, host: str = "127.0.0.1", tries: int = 50) -> int:
    """The first port from ``start`` that can be bound on ``host``."""
    for port in range(start, start + tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise CliUsageError("--port", start, f"no free port in {start}..{start + tries - 1}")


def demo_projects() -> Path:
    """Where the demo's notebooks keep their projects: ``$KLING_WIDGET_PROJECTS`` when set,
    else a per-user folder in the temporary directory (never the source checkout)."""
    from kling_widget.journal import ROOT_ENV

    given = os.environ.get(ROOT_ENV)
    if given:
        return Path(given)
    user = os.getuid() if hasattr(os, "getuid") else os.getpid()
    return Path(tempfile.gettempdir()) / f"kling-widget-demo-{user}" / "kling-projects"


def emulator_env(base_url: str, api_key: str) -> dict[str, str]:
    """This process's environment pointed at the emulator; real credentials removed."""
    from kling_widget.journal import ROOT_ENV

    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    env["KLING_BASE_URL"] = base_url
    env["KLING_API_KEY"] = api_key
    env[ROOT_ENV] = str(demo_projects())
    return env


class Stopped(Exception):
    """SIGTERM or SIGHUP arrived: stop JupyterLab and the emulator, then exit."""


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Stopped` while the demo runs, and Ctrl-C into
    ``KeyboardInterrupt``, so the ``finally`` blocks that stop JupyterLab and the emulator
    always run.

    Ctrl-C gets its handler set here too: Python installs its own only when SIGINT was not
    ignored at start, and a shell starts a background job with SIGINT ignored, so a demo
    started that way would otherwise ignore ``kill -INT``."""

    def stop(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Stopped(signal.Signals(signum).name)

    wanted = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]
    previous = {sig: signal.signal(sig, stop) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_for_server(url: str, proc: subprocess.Popen[bytes]) -> bool:
    import httpx

    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    return False


def run(args: argparse.Namespace) -> int:
    """Start everything, print the URL, wait for Ctrl-C or JupyterLab's exit."""
    if importlib.util.find_spec("jupyterlab") is None:
        raise CliUsageError(
            "jupyterlab",
            None,
            'not installed: run python3 -m pip install "kling-widget[demo]"',
        )
    home = notebook_home(Path(args.dir))
    port = free_port(DEFAULT_PORT) if args.port is None else args.port

    from kling_widget.emulator import Emulator
    from kling_widget.media.samples import make_sample

    sample = make_sample("static")
    out(f"Sample clip: {sample.path}")

    api_key = secrets.token_urlsafe(24)
    with stop_on_signals():
        emulator = Emulator(api_key=api_key, port=args.emulator_port)
        emulator.start()
        try:
            out(f"Local Kling emulator: {emulator.base_url}")
            env = emulator_env(str(emulator.base_url), api_key)
            out(f"Projects: {env['KLING_WIDGET_PROJECTS']}")
            return _run_lab(args, home, port, env)
        except Stopped:
            return EXIT_OK
        finally:
            emulator.stop()


def _run_lab(args: argparse.Namespace, home: NotebookHome, port: int, env: dict[str, str]) -> int:
    token = secrets.token_hex(24)
    env["JUPYTER_TOKEN"] = token  # read by jupyter_server; keeps the token off the command line
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={home.root}",
        home.quickstart,
    ]
    if args.no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Containers and CI often run as root; the server still listens on loopback only,
        # behind a random token.
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, cwd=home.root, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        if not _wait_for_server(f"{base}/api/status?token={token}", proc):
            out("JupyterLab did not start (see its messages above)")
            return EXIT_FAILURE
        out(f"JupyterLab: {base}/lab/tree/{home.quickstart}?token={token}")
        out("Press Ctrl-C to stop JupyterLab and the emulator.")
        return _wait_interruptibly(proc) and EXIT_FAILURE
    except (KeyboardInterrupt, Stopped):
        return EXIT_OK
    finally:
        _stop(proc)


def _wait_interruptibly(proc: subprocess.Popen[bytes]) -> int:
    """``proc.wait()`` in short steps. The kernel may hand Ctrl-C or SIGTERM to one of the
    emulator's threads; Python then runs the handler only once the main thread comes back
    to the interpreter, which a bare ``waitpid`` never does while JupyterLab runs."""
    while True:
        try:
            return proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            continue


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop JupyterLab (it stops its kernels), forcefully if it does not within 15 s."""
    with _signals_ignored():
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def _signals_ignored() -> Iterator[None]:
    # A second Ctrl-C or SIGTERM must not cut the clean-up short and orphan JupyterLab.
    wanted = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
