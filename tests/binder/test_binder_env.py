"""The Binder build, reproduced: a fresh virtual environment made from ``binder/`` only.

Follows repo2docker's order: ``pip install -r binder/requirements.txt`` from the repository
root, then ``binder/postBuild``, then the notebook command run through ``binder/start``
(which starts the emulator in the background and ends with ``exec "$@"``). The command here
executes ``notebooks/quickstart.ipynb`` with nbclient in that environment's Python.

pip installs from its configured indexes and wheel cache, so the run takes as long as
resolving and unpacking JupyterLab's wheels; the test prints each step's duration.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "notebooks" / "nbharness.py"
# What a repo2docker build context would not have (caches, local results, the git store).
IGNORE = shutil.ignore_patterns(
    ".git",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".ipynb_checkpoints",
    "kling-projects",
    "*.egg-info",
    "build",
    "dist",
    ".venv",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def step(label: str, cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> None:
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    print(f"binder step {label!r}: {time.monotonic() - started:.1f} s")
    assert done.returncode == 0, f"{label} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_binder_files_build_an_environment_that_runs_the_quickstart(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=IGNORE)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bin_dir = venv / "bin"
    python = str(bin_dir / "python")

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KLING_", "PYTHON", "VIRTUAL_ENV", "JUPYTER", "CONDA"))
    }
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    # A user-site install would leak packages of this interpreter into the fresh one.
    env["PYTHONNOUSERSITE"] = "1"

    step(
        "pip install -r binder/requirements.txt",
        [python, "-m", "pip", "install", "--quiet", "-r", "binder/requirements.txt"],
        repo,
        env,
        900,
    )
    step("binder/postBuild", ["bash", "binder/postBuild"], repo, env, 900)

    # The package the environment imports is the repository copy, not this checkout.
    where = subprocess.run(
        [python, "-c", "import kling_widget; print(kling_widget.__file__)"],
        cwd=tmp_path,  # not the checkout, whose folder would shadow the install
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).resolve().is_relative_to(repo.resolve())

    # A last cell (in the copy only) reports which Python the kernel runs and what it imports.
    notebook = repo / "notebooks" / "quickstart.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import os, sys, kling_widget\n"
            "print('KERNEL', sys.prefix, kling_widget.__file__, os.environ['KLING_BASE_URL'])"
        )
    )
    nbformat.write(nb, notebook)

    port = free_port()
    log = tmp_path / "emulator.log"
    env["KLING_EMULATOR_PORT"] = str(port)
    env["KLING_EMULATOR_LOG"] = str(log)
    executed = tmp_path / "quickstart.out.ipynb"
    started = time.monotonic()
    # A new session, so the emulator that binder/start leaves in the background can be
    # stopped with the whole process group afterwards.
    proc = subprocess.Popen(
        [
            "binder/start",
            python,
            str(HARNESS),
            str(repo / "notebooks" / "quickstart.ipynb"),
            str(executed),
        ],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    print(f"binder step 'binder/start + quickstart': {time.monotonic() - started:.1f} s")
    assert proc.returncode == 0, output[-5000:]

    nb = nbformat.read(executed, as_version=4)
    shown = [
        o
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert shown, "the editor widget was not displayed"
    report = next(
        o["text"]
        for cell in nb.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("text", "").startswith("KERNEL")
    )
    _, prefix, package, base_url = report.split()
    assert Path(prefix).resolve() == venv.resolve()
    assert Path(package).resolve().is_relative_to(repo.resolve())
    assert base_url == f"http://127.0.0.1:{port}"
    # The notebook talked to the emulator binder/start launched on that port.
    emulator_log = log.read_text()
    assert f"127.0.0.1:{port}" in emulator_log
