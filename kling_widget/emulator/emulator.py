"""``Emulator``: the local Kling server: its keys, lifecycle, request log and the ``Backend``
its HTTP layer calls.

The route handlers live in ``multi_elements_routes``, ``omni_routes`` and ``task_routes``
and share a ``State`` built at ``start()``; the HTTP layer (``server``) sees the emulator
only through the ``Backend`` protocol. Imports only sibling modules, ``kling_widget.limits``
and PyJWT; never the api's client (callers build a client from ``client_options()``).
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import jwt

from kling_widget.emulator.auth import Authenticator
from kling_widget.emulator.callbacks import CallbackSender
from kling_widget.emulator.clock import Clock, wall_clock
from kling_widget.emulator.faults import Fault, FaultPlan
from kling_widget.emulator.fetch import Fetcher
from kling_widget.emulator.multi_elements_routes import MultiElementsRoutes
from kling_widget.emulator.omni_routes import OmniRoutes
from kling_widget.emulator.routing import JsonValue, RecordedRequest, Route, Router
from kling_widget.emulator.server import BodyLimits, make_server, serve_in_thread
from kling_widget.emulator.session_store import SessionStore
from kling_widget.emulator.state import State
from kling_widget.emulator.task_routes import TaskRoutes
from kling_widget.emulator.tasks import TaskRecord, TaskStore
from kling_widget.emulator.uploads import FileStore
from kling_widget.limits import JWT_LIFETIME_S, JWT_NOT_BEFORE_SKEW_S

REDACTED = "<redacted>"
MAX_RECORDED = 10_000
# The request log keeps strings up to this many characters; longer ones (base64 images)
# are kept as a marker with their length, so a long-lived emulator's log stays small.
MAX_RECORDED_CHARS = 64 * 1024
# How long stop() waits for the sessions' background decoding and tracking to end.
BACKGROUND_JOIN_S = 60.0


class Emulator:
    """A local Kling server on loopback (see ``docs/emulator.md``).

    ``with Emulator() as emu: client = KlingClient(**emu.client_options())``. Keys are
    generated when none are given (an API key and an access/secret key pair, all accepted).
    ``clock`` is the business clock (sessions, tasks, result expiry), ``jwt_clock`` the
    clock JWTs are checked against (wall time by default). ``callback_shape`` is ``"old"``
    (the task object) or ``"new"`` (``id``/``status``/``outputs``); ``body_limits`` caps
    request bodies.
    """

    def __init__(
        self,
        api_key: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        port: int = 0,
        clock: Clock | None = None,
        faults: FaultPlan | None = None,
        task_delays: tuple[float, float] = (0.3, 0.7),
        concurrency_limit: int = 5,
        data_dir: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        jwt_clock: Clock | None = None,
        webhook_secret: str | None = None,
        callback_shape: str = "old",
        body_limits: BodyLimits | None = None,
    ) -> None:
        if (access_key is None) != (secret_key is None):
            raise ValueError("access_key and secret_key: give both or neither")
        if api_key is None and access_key is None:
            api_key = secrets.token_urlsafe(24)
            access_key = secrets.token_urlsafe(16)
            secret_key = secrets.token_urlsafe(32)
        self._api_key = api_key
        self._access_key = access_key
        self._secret_key = secret_key
        self.host = host
        self.port = port
        self.clock: Clock = clock or wall_clock
        self.jwt_clock: Clock = jwt_clock or wall_clock
        self.faults = faults or FaultPlan()
        self.task_delays = task_delays
        self.concurrency_limit = concurrency_limit
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._webhook_secret = webhook_secret
        self._callback_shape = callback_shape
        self._body_limits = body_limits or BodyLimits()
        self.auth = Authenticator(
            api_key=api_key,
            access_key=access_key,
            secret_key=secret_key,
            jwt_clock=lambda: self.jwt_clock(),
        )
        self.requests: list[RecordedRequest] = []
        self._requests_lock = threading.Lock()
        self._router = Router()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self.files: FileStore
        self.sessions: SessionStore
        self._tasks: TaskStore
        self._callbacks: CallbackSender
        # Checked now so a bad shape fails at construction, not at start().
        CallbackSender(callback_shape).stop()

    def __repr__(self) -> str:
        state = self.base_url if self._server is not None else "stopped"
        return f"Emulator({state})"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind a loopback port and serve in background threads."""
        if self._server is not None:
            return self
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="kling-emulator-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.files = FileStore(self.data_dir / "files", self.clock)
        self.sessions = SessionStore(self.clock)
        self._callbacks = CallbackSender(self._callback_shape, self._webhook_secret)
        self._tasks = TaskStore(
            self.clock, self.task_delays, self.concurrency_limit, self._callbacks.notify
        )
        state = State(
            clock=self.clock,
            files=self.files,
            sessions=self.sessions,
            tasks=self._tasks,
            fetch=Fetcher(self.files, self._body_limits.max_upload_bytes),
        )
        self._router = Router()
        for routes in (MultiElementsRoutes(state), OmniRoutes(state), TaskRoutes(state)):
            routes.register(self._router)
        self._server = make_server(self, self.host, self.port)
        self.port = int(self._server.server_address[1])
        self.files.base_url = self.base_url
        self._stop.clear()
        self._thread = serve_in_thread(self._server)
        self._ticker = threading.Thread(target=self._tick, name="emulator-ticker", daemon=True)
        self._ticker.start()
        return self

    def stop(self) -> None:
        """Stop serving and remove a data directory the emulator created."""
        if self._server is None:
            return
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        deadline = time.monotonic() + BACKGROUND_JOIN_S
        # The render under way is cancelled and waited for before its session's clip is
        # closed and the data folder it writes into is removed.
        self._tasks.stop(BACKGROUND_JOIN_S)
        self._callbacks.stop()
        self._close_sessions(deadline)
        self._server = None
        if self._own_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None

    def _close_sessions(self, deadline: float) -> None:
        """Stop every session's background work and close its clip.

        All sessions share one ``deadline`` (``time.monotonic``); a session whose threads
        have not ended by then keeps its clip open rather than closing it under them.
        """
        for session in self.sessions.all():
            session.close(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tick(self) -> None:
        while not self._stop.wait(0.05):
            self._tasks.tick()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    # -- the Backend of the HTTP layer ---------------------------------------------------------

    @property
    def body_limits(self) -> BodyLimits:
        """The caps on request bodies."""
        return self._body_limits

    def route(self, method: str, path: str) -> Route:
        """The route for a request (``ApiError`` 404 when there is none)."""
        return self._router.match(method, path)

    def authenticate(self, authorization: str | None) -> None:
        """Check an ``Authorization`` header (``ApiError`` 401 when refused)."""
        self.auth.check(authorization)

    def fault_for(self, method: str, path: str) -> tuple[float, Fault | None]:
        """What the fault plan says for this request."""
        return self.faults.decide(method, path)

    def upload_target(self, name: str) -> Path:
        """A fresh path in the file store for an upload named ``name``."""
        return self.files.reserve(name)[1]

    def discard_upload(self, path: Path) -> None:
        """Delete a refused or failed upload."""
        self.files.discard(path.parent.name)

    def record(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: JsonValue,
    ) -> None:
        """Log a request (Authorization redacted)."""
        shown = {
            k: (REDACTED if k.lower() == "authorization" else val) for k, val in headers.items()
        }
        item = RecordedRequest(method, path, query, shown, _shortened(body), time.time())
        with self._requests_lock:
            self.requests.append(item)
            if len(self.requests) > MAX_RECORDED:
                # A long-lived (shared) emulator keeps the most recent requests only.
                del self.requests[: len(self.requests) - MAX_RECORDED // 2]

    # -- for callers and tests ---------------------------------------------------------------

    @property
    def api_key(self) -> str | None:
        """The API key this emulator accepts (None if it only takes JWTs)."""
        return self._api_key

    @property
    def access_key(self) -> str | None:
        """The access key JWTs must carry as ``iss``."""
        return self._access_key

    @property
    def secret_key(self) -> str | None:
        """The secret key JWTs are signed with."""
        return self._secret_key

    def client_options(self) -> dict[str, str]:
        """Keyword arguments for ``KlingClient`` pointed at this emulator (starts it).

        The access/secret key pair (JWT) when the emulator has one, else the API key.
        """
        self.start()
        if self._access_key is not None and self._secret_key is not None:
            return {
                "access_key": self._access_key,
                "secret_key": self._secret_key,
                "base_url": self.base_url,
            }
        assert self._api_key is not None
        return {"api_key": self._api_key, "base_url": self.base_url}

    def bearer_token(self) -> str:
        """A valid bearer token (the API key, or a fresh JWT)."""
        if self._api_key is not None:
            return self._api_key
        assert self._access_key is not None and self._secret_key is not None
        now = self.jwt_clock()
        claims = {
            "iss": self._access_key,
            "exp": int(now + JWT_LIFETIME_S),
            "nbf": int(now - JWT_NOT_BEFORE_SKEW_S),
        }
        return jwt.encode(claims, self._secret_key, algorithm="HS256")

    def upload(self, path: str | Path) -> str:
        """Upload a local file through ``POST /emulator/uploads``; returns the URL it is at."""
        self.start()
        src = Path(path)
        with src.open("rb") as fh:
            resp = httpx.post(
                f"{self.base_url}/emulator/uploads",
                params={"filename": src.name},
                content=fh.read(),
                headers={"Authorization": f"Bearer {self.bearer_token()}"},
                timeout=120.0,
                trust_env=False,
            )
        body = resp.json()
        if resp.status_code != 200 or body.get("code") != 0:
            raise RuntimeError(f"upload of {src.name} failed: HTTP {resp.status_code} {body}")
        return str(body["data"]["url"])

    def tasks(self) -> list[TaskRecord]:
        """Every task the emulator holds (both kinds), oldest first."""
        return self._tasks.all()


def _shortened(value: JsonValue) -> JsonValue:
    """``value`` with every string over ``MAX_RECORDED_CHARS`` replaced by a marker."""
    if isinstance(value, str) and len(value) > MAX_RECORDED_CHARS:
        return f"<{len(value)} characters, starting {value[:32]!r}>"
    if isinstance(value, dict):
        return {k: _shortened(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shortened(v) for v in value]
    return value
