"""``Emulator``: the local Kling server, its state and its route handlers."""

from __future__ import annotations

import base64
import binascii
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import jwt

from kling_widget import __version__
from kling_widget.api import validation as v
from kling_widget.emulator.auth import Authenticator
from kling_widget.emulator.clip import Clip
from kling_widget.emulator.clock import Clock, wall_clock
from kling_widget.emulator.envelope import BAD_REQUEST, NOT_FOUND, ApiError, invalid
from kling_widget.emulator.faults import FaultPlan
from kling_widget.emulator.fetch import Fetcher
from kling_widget.emulator.server import (
    FileReply,
    RecordedRequest,
    Request,
    Router,
    make_server,
    serve_in_thread,
)
from kling_widget.emulator.sessions import SelectionSession, SessionStore
from kling_widget.emulator.tasks import TaskRecord, TaskStore, new_id
from kling_widget.emulator.uploads import FileStore
from kling_widget.errors import KlingValidationError
from kling_widget.limits import (
    DURATION_FOR_BRACKET,
    JWT_LIFETIME_S,
    JWT_NOT_BEFORE_SKEW_S,
    PAGE_NUM_RANGE,
    PAGE_SIZE_RANGE,
    RESULT_LIFETIME_S,
)

if TYPE_CHECKING:
    from kling_widget.api.client import KlingClient

ME = "/v1/videos/multi-elements"
OMNI = "/v1/videos/omni-video"
# Clip durations within this many seconds of a bracket's end count as inside it.
DURATION_TOLERANCE_S = 0.05
REDACTED = "<redacted>"
MAX_RECORDED = 10_000


class Emulator:
    """A local Kling server on loopback (see ``docs/emulator.md``).

    ``with Emulator() as emu: client = emu.client()``. Keys are generated when none are
    given (an API key and an access/secret key pair, all accepted). ``clock`` is the
    business clock (sessions, tasks, result expiry), ``jwt_clock`` the clock JWTs are
    checked against (wall time by default).
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
        self.auth = Authenticator(
            api_key=api_key,
            access_key=access_key,
            secret_key=secret_key,
            jwt_clock=lambda: self.jwt_clock(),
        )
        self.requests: list[RecordedRequest] = []
        self._requests_lock = threading.Lock()
        self.router = Router()
        self._add_routes()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self.files: FileStore
        self.sessions: SessionStore
        self._tasks: TaskStore
        self._fetch: Fetcher

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
        self._tasks = TaskStore(
            self.clock, self.task_delays, self.concurrency_limit, self._webhook_secret
        )
        self._fetch = Fetcher(self.files)
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
        self._tasks.stop()
        for session in self.sessions.all():
            session.clip.close()
        self._server = None
        if self._own_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None

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

    def client(self, **kwargs: Any) -> KlingClient:
        """A ``KlingClient`` pointed at this emulator with its credentials."""
        from kling_widget.api.client import KlingClient

        self.start()
        if self._access_key is not None:
            return KlingClient(
                access_key=self._access_key,
                secret_key=self._secret_key,
                base_url=self.base_url,
                **kwargs,
            )
        return KlingClient(api_key=self._api_key, base_url=self.base_url, **kwargs)

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
            )
        body = resp.json()
        if resp.status_code != 200 or body.get("code") != 0:
            raise RuntimeError(f"upload of {src.name} failed: HTTP {resp.status_code} {body}")
        return str(body["data"]["url"])

    def tasks(self) -> list[TaskRecord]:
        """Every task the emulator holds (both kinds), oldest first."""
        return self._tasks.all()

    def record(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: Any,
    ) -> None:
        """Log a request (Authorization redacted)."""
        shown = {
            k: (REDACTED if k.lower() == "authorization" else val) for k, val in headers.items()
        }
        item = RecordedRequest(method, path, query, shown, body, time.time())
        with self._requests_lock:
            self.requests.append(item)
            if len(self.requests) > MAX_RECORDED:
                # A long-lived (shared) emulator keeps the most recent requests only.
                del self.requests[: len(self.requests) - MAX_RECORDED // 2]

    # -- routes ------------------------------------------------------------------------------

    def _add_routes(self) -> None:
        r = self.router
        r.add("POST", f"{ME}/init-selection", self._init_selection)
        r.add("POST", f"{ME}/add-selection", self._add_selection)
        r.add("POST", f"{ME}/delete-selection", self._delete_selection)
        r.add("POST", f"{ME}/clear-selection", self._clear_selection)
        r.add("POST", f"{ME}/preview-selection", self._preview_selection)
        r.add("POST", ME, self._create_multi)
        r.add("GET", ME, lambda req: self._list(req, "multi-elements"))
        r.add("GET", ME + r"/(?P<id>[^/]+)", lambda req: self._get(req, "multi-elements"))
        r.add("POST", OMNI, self._create_omni)
        r.add("GET", OMNI, lambda req: self._list(req, "omni-video"))
        r.add("GET", OMNI + r"/(?P<id>[^/]+)", lambda req: self._get(req, "omni-video"))
        r.add("POST", "/emulator/uploads", self._upload)
        r.add("GET", r"/emulator/files/(?P<id>[0-9a-f]+)/(?P<name>[^/]+)", self._file, auth=False)
        r.add("GET", "/emulator/info", self._info, auth=False)

    @staticmethod
    def _body(req: Request) -> dict[str, Any]:
        if not isinstance(req.json, dict):
            raise ApiError(BAD_REQUEST, "request body must be a JSON object")
        return req.json

    @staticmethod
    def _validate(check: Callable[[], Any]) -> Any:
        try:
            return check()
        except KlingValidationError as err:
            raise invalid(err.field, err.value, err.rule) from None

    def _info(self, req: Request) -> dict[str, Any]:
        return {"emulator": True, "version": __version__}

    def _upload(self, req: Request) -> dict[str, Any]:
        assert req.upload_path is not None
        stored = self.files.register(req.upload_path.parent.name, req.upload_path)
        return {
            "id": stored.file_id,
            "name": stored.name,
            "size": stored.size,
            "url": self.files.url(stored),
        }

    def _file(self, req: Request) -> FileReply:
        stored = self.files.get(req.params["id"], req.params["name"])
        if stored is None:
            raise ApiError(NOT_FOUND, "file not found (expired or unknown)")
        return FileReply(stored.path, stored.content_type)

    # -- Multi-Elements selection ------------------------------------------------------------

    def _init_selection(self, req: Request) -> dict[str, Any]:
        body = self._body(req)
        url = body.get("video_url")
        if isinstance(url, str) and url.startswith("file://"):
            # Kling takes public URLs only; the emulator also reads local files.
            if body.get("video_id") is not None:
                raise invalid("video_url", body, "give exactly one of video_id or video_url")
        else:
            self._validate(lambda: v.validate_init_selection(body))
        if body.get("video_url") is not None:
            field = "video_url"
            path, stored = self._fetch.local_file(field, str(body["video_url"]))
        else:
            field = "video_id"
            path, stored = self._video_by_id(str(body["video_id"]), body.get("task_id"))
        try:
            clip = Clip(path)
        except (OSError, ValueError) as exc:
            raise invalid(field, body[field], f"not a readable video ({exc})") from None
        violations = clip.source.check("multi-elements")
        if violations:
            clip.close()
            rules = "; ".join(f"{x.field} {x.value}: {x.rule}" for x in violations)
            raise invalid(field, body[field], f"the clip breaks the Multi-Elements limits: {rules}")
        if stored is None:
            file_id, dest = self.files.reserve(path.name)
            shutil.copyfile(path, dest)
            stored = self.files.register(file_id, dest)
            clip.close()
            clip = Clip(dest)
        clip.start_decoding()
        session = SelectionSession(new_id(), clip, self.clock(), self.files.url(stored))
        self.sessions.add(session)
        return {
            "status": 0,
            "session_id": session.session_id,
            "fps": clip.fps,
            "original_duration": round(clip.duration * 1000),
            "total_frame": clip.frame_count,
            "width": clip.width,
            "height": clip.height,
            "normalized_video": session.video_url,
            "final_unit_deduction": "0",
        }

    def _video_by_id(self, video_id: str, task_id: Any) -> tuple[Path, Any]:
        for task in self._tasks.all():
            if task_id is not None and task.task_id != str(task_id):
                continue
            for video in task.videos:
                if str(video.get("id")) == video_id:
                    stored = self.files.from_url(str(video.get("url")))
                    if stored is None:
                        raise invalid("video_id", video_id, "the video has expired (30 days)")
                    return stored.path, stored
        where = f" of task {task_id}" if task_id is not None else ""
        raise invalid("video_id", video_id, f"not a video{where} generated on this account")

    def _selection_args(
        self, req: Request
    ) -> tuple[SelectionSession, int, list[tuple[float, float]]]:
        body = self._body(req)
        self._validate(lambda: v.check_id("session_id", body.get("session_id")))
        session = self.sessions.get(body["session_id"])
        self._validate(lambda: v.validate_selection_body(body))
        frame = int(body["frame_index"])
        if frame >= session.clip.frame_count:
            raise invalid(
                "frame_index", frame, f"must be < total_frame ({session.clip.frame_count})"
            )
        points = [(float(p["x"]), float(p["y"])) for p in body["points"]]
        return session, frame, points

    def _selection_answer(
        self, session: SelectionSession, frame: int, masks: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "status": 0,
            "session_id": session.session_id,
            "final_unit_deduction": "0",
            "res": {"frame_index": frame, "rle_mask_list": masks},
        }

    def _add_selection(self, req: Request) -> dict[str, Any]:
        session, frame, points = self._selection_args(req)
        return self._selection_answer(session, frame, session.add(frame, points))

    def _delete_selection(self, req: Request) -> dict[str, Any]:
        session, frame, points = self._selection_args(req)
        return self._selection_answer(session, frame, session.delete(frame, points))

    def _session_of(self, req: Request) -> SelectionSession:
        body = self._body(req)
        self._validate(lambda: v.validate_session_body(body))
        return self.sessions.get(body["session_id"])

    def _clear_selection(self, req: Request) -> dict[str, Any]:
        session = self._session_of(req)
        session.clear()
        return {"status": 0, "session_id": session.session_id, "final_unit_deduction": "0"}

    def _preview_selection(self, req: Request) -> dict[str, Any]:
        from kling_widget.emulator.jobs import render_preview

        session = self._session_of(req)
        with session.lock:
            if session.preview is None or session.preview_version != session.version:
                version = session.version
                session.preview = render_preview(session, self.files)
                session.preview_version = version
            res = dict(session.preview)
        return {
            "status": 0,
            "session_id": session.session_id,
            "final_unit_deduction": "0",
            "res": res,
        }

    # -- tasks -------------------------------------------------------------------------------

    def _image_bytes(self, field: str, value: str) -> bytes:
        if v.is_url(value) or value.startswith("file://"):
            data = self._fetch.read_bytes(field, value)
            self._validate(lambda: v.check_image_bytes(field, data))
            return data
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise invalid(field, value, "not valid base64 image data") from None

    def _create_multi(self, req: Request) -> dict[str, Any]:
        from kling_widget.emulator.jobs import render_edit
        from kling_widget.emulator.omni import open_image

        body = self._body(req)
        if body.get("model_name") is None:
            raise invalid("model_name", None, "required: 'kling-v1-6'")
        self._validate(lambda: v.validate_create_task(body))
        session = self.sessions.get(body["session_id"])
        images = [
            open_image(self._image_bytes(f"image_list[{i}].image", item["image"]))
            for i, item in enumerate(body.get("image_list") or [])
        ]
        clip = session.clip
        expected = _duration_for(clip.duration)
        duration = body.get("duration")
        if duration is not None and duration != expected:
            raise invalid(
                "duration",
                duration,
                f"the clip lasts {clip.duration:g} s, so duration must be {expected!r}",
            )
        edit_mode = body["edit_mode"]
        anchors = session.anchors()
        version = session.version
        if edit_mode in ("swap", "removal") and not anchors:
            raise invalid(
                "edit_mode", edit_mode, "needs marked objects: add-selection before creating"
            )
        watermark = bool((body.get("watermark_info") or {}).get("enabled"))
        seconds = float(expected)
        units = f"{seconds * (0.8 if body.get('mode') == 'pro' else 0.5):g}"

        def job() -> list[dict[str, Any]]:
            out_id, out_path = self.files.reserve("result.mp4")
            wm = self.files.reserve("result_watermark.mp4") if watermark else None
            dur = render_edit(
                session, anchors, edit_mode, images, out_path, wm[1] if wm else None, version
            )
            result = self.files.register(out_id, out_path, RESULT_LIFETIME_S)
            video: dict[str, Any] = {
                "id": new_id(),
                "session_id": session.session_id,
                "url": self.files.url(result),
                "duration": f"{dur:.3f}".rstrip("0").rstrip("."),
            }
            if wm is not None:
                marked = self.files.register(wm[0], wm[1], RESULT_LIFETIME_S)
                video["watermark_url"] = self.files.url(marked)
            return [video]

        record = self._tasks.create(
            "multi-elements", body, job, session_id=session.session_id, units=units
        )
        return record.created_json()

    def _create_omni(self, req: Request) -> dict[str, Any]:
        from kling_widget.emulator import omni

        body = self._body(req)
        self._validate(lambda: v.validate_omni_video(body))
        prompt = str(body.get("prompt") or "")
        if body.get("multi_shot"):
            prompt = " / ".join(str(s.get("prompt", "")) for s in body.get("multi_prompt") or [])
        base_path: Path | None = None
        for i, item in enumerate(body.get("video_list") or []):
            field = f"video_list[{i}].video_url"
            path, _ = self._fetch.local_file(field, str(item["video_url"]))
            try:
                clip = Clip(path)
            except (OSError, ValueError) as exc:
                raise invalid(field, item["video_url"], f"not a readable video ({exc})") from None
            violations = clip.source.check("omni")
            clip.close()
            if violations:
                rules = "; ".join(f"{x.field} {x.value}: {x.rule}" for x in violations)
                raise invalid(field, item["video_url"], f"the clip breaks the Omni limits: {rules}")
            if item.get("refer_type", "base") == "base":
                base_path = path
        first = end = None
        for i, item in enumerate(body.get("image_list") or []):
            data = self._image_bytes(f"image_list[{i}].image_url", item["image_url"])
            if item.get("type") == "first_frame":
                first = omni.open_image(data)
            elif item.get("type") == "end_frame":
                end = omni.open_image(data)
        mode = str(body.get("mode") or "pro")
        seconds = omni.default_duration(body.get("duration"))
        size = omni.output_size(mode, body.get("aspect_ratio"), first)

        def job() -> list[dict[str, Any]]:
            out_id, out_path = self.files.reserve("omni.mp4")
            if base_path is not None:
                dur = omni.render_edit(base_path, prompt, out_path)
            else:
                dur = omni.render_generated(prompt, seconds, size, first, end, out_path)
            result = self.files.register(out_id, out_path, RESULT_LIFETIME_S)
            return [
                {
                    "id": new_id(),
                    "url": self.files.url(result),
                    "duration": f"{dur:.3f}".rstrip("0").rstrip("."),
                }
            ]

        record = self._tasks.create("omni-video", body, job, units="0")
        return record.created_json()

    def _get(self, req: Request, kind: str) -> dict[str, Any]:
        ident = req.params["id"]
        record = self._tasks.find(kind, ident)
        if record is None:
            raise ApiError(NOT_FOUND, f"task not found: {ident!r}")
        return record.to_json()

    def _list(self, req: Request, kind: str) -> list[dict[str, Any]]:
        page = _int_param(req.query, "pageNum", 1, PAGE_NUM_RANGE)
        size = _int_param(req.query, "pageSize", 30, PAGE_SIZE_RANGE)
        return [t.to_json() for t in self._tasks.page(kind, page, size)]


def _int_param(
    query: Mapping[str, list[str]], name: str, default: int, bounds: tuple[int, int]
) -> int:
    values = query.get(name)
    if not values:
        return default
    text = values[0]
    try:
        value = int(text)
    except ValueError:
        raise invalid(name, text, "must be an integer") from None
    lo, hi = bounds
    if not lo <= value <= hi:
        raise invalid(name, value, f"must be within [{lo}, {hi}]")
    return value


def _duration_for(seconds: float) -> str:
    for (lo, hi), label in DURATION_FOR_BRACKET.items():
        if lo - DURATION_TOLERANCE_S <= seconds <= hi + DURATION_TOLERANCE_S:
            return label
    # Clips outside the brackets are refused at init-selection; keep the nearest.
    return "5" if seconds < 6 else "10"
