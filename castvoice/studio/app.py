"""The studio's routes: the page, and a JSON API under /studio/api that calls `castvoice.app`, mounted on the
HTTP service so that one process serves both and loads each model once (`create_studio`)."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask

from castvoice.app import chat, dataset, lines, open_workspace, speakers, voices
from castvoice.app.ingest import check_inputs
from castvoice.errors import CastvoiceError
from castvoice.service.app import create_app, streamed
from castvoice.service.audio import AUDIO_FORMATS, encode, pcm16
from castvoice.service.errors import ApiError
from castvoice.service.settings import Settings
from castvoice.studio.projects import INPUTS, Projects
from castvoice.workspace import Workspace

STATIC = Path(__file__).parent / "static"
TOKEN_COOKIE = "castvoice_studio_token"
WAV = AUDIO_FORMATS["wav"]


def create_studio(settings: Settings, projects: Projects) -> FastAPI:
    """The HTTP service with the studio's page and API added; ingests left running by a stopped server resume."""
    app = create_app(settings)
    engine, work = app.state.engine, app.state.work
    chats = ChatSessions()

    def authorized(request: Request) -> None:
        if settings.token is None:
            return
        given = request.headers.get("authorization", "").removeprefix("Bearer ") or request.cookies.get(TOKEN_COOKIE, "")
        if not hmac.compare_digest(given.encode(), settings.token.encode()):
            raise ApiError(401, "this studio needs its token: open the address it printed at start (…/?token=…)",
                           "invalid_api_key")

    api = APIRouter(prefix="/studio/api", dependencies=[Depends(authorized)])

    async def in_workspace(project: str, do: Callable[[Workspace], Any]) -> Any:
        """Run `do` on the project's workspace in a worker thread (SQLite connections stay in one thread)."""
        def call():
            ws = open_workspace(projects.workspace(project))
            try:
                return do(ws)
            finally:
                ws.close()

        return await asyncio.to_thread(call)

    # -- projects ------------------------------------------------------------------

    @api.get("/projects")
    async def list_projects() -> dict:
        found = []
        for name in projects.names():
            job = projects.job(name)
            found.append({"name": name, "ready": _is_ready(projects, name), "job": job.as_dict() if job else None})
        return {"projects": found, "can_create": projects.can_create, "media": projects.media_files(),
                "max_upload_bytes": settings.max_upload_bytes}

    @api.post("/projects")
    async def new_project(
        name: Annotated[str, Form()],
        movie: Annotated[UploadFile | None, File()] = None,
        movie_name: Annotated[str | None, Form()] = None,
        subs: Annotated[UploadFile | None, File()] = None,
        script: Annotated[UploadFile | None, File()] = None,
    ) -> dict:
        if (movie is None or not movie.filename) == (not movie_name):
            raise CastvoiceError("choose a movie: upload one, or pick one lying in the projects folder")
        chosen = projects.media_file(movie_name) if movie_name else None
        root = projects.new_project(name)
        try:
            movie_path = chosen or await _save_upload(movie, root / INPUTS)
            subs_path = await _save_upload(subs, root / INPUTS) if subs is not None and subs.filename else None
            script_path = await _save_upload(script, root / INPUTS) if script is not None and script.filename else None
            await asyncio.to_thread(check_inputs, movie_path, subs_path, script_path)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)  # bad input leaves nothing behind
            raise
        return projects.start_ingest(root.name, movie_path, subs_path, script_path).as_dict()

    @api.get("/projects/{project}/job")
    async def ingest_job(project: str) -> dict:
        job = projects.job(project)
        return {**(job.as_dict() if job else {"state": "none"}), "ready": _is_ready(projects, project)}

    @api.post("/projects/{project}/cancel")
    async def cancel(project: str) -> dict:
        return projects.cancel_ingest(project).as_dict()

    @api.post("/projects/{project}/resume")
    async def resume(project: str) -> dict:
        return projects.resume_ingest(project).as_dict()

    # -- characters and speakers -------------------------------------------------

    @api.get("/p/{project}/characters")
    async def characters(project: str) -> dict:
        def read(ws: Workspace) -> dict:
            return {"characters": [asdict(c) for c in lines.characters(ws)],
                    "speakers": [{**asdict(s), "sample": None} for s in speakers.speakers(ws)]}

        return await in_workspace(project, read)

    @api.get("/p/{project}/speakers/{label}/sample")
    async def speaker_sample(project: str, label: str) -> Response:
        def find(ws: Workspace) -> Path:
            if label not in {s.label for s in speakers.speakers(ws)}:
                raise CastvoiceError(f"no speaker {label!r}")
            return ws.speaker_sample(label)

        return FileResponse(await in_workspace(project, find), media_type=WAV.media_type)

    @api.post("/p/{project}/speakers/{label}/name")
    async def name_speaker(project: str, label: str, name: Annotated[str, Body(embed=True)]) -> dict:
        named = await in_workspace(project, lambda ws: speakers.name_speaker(ws, label, name))
        return {"named": named}

    @api.post("/p/{project}/enroll")
    async def enroll(project: str, name: Annotated[str, Body()], line_id: Annotated[int, Body()]) -> dict:
        def find(ws: Workspace) -> list:
            example = lines.line(ws, line_id)
            return speakers.enroll(ws, name, [(example.start, example.end)])

        matches = await in_workspace(project, find)
        return {"matches": [asdict(m) for m in matches], "named": sum(m.named for m in matches)}

    # -- lines ---------------------------------------------------------------------

    @api.get("/p/{project}/lines")
    async def all_lines(project: str) -> dict:
        return {"lines": [asdict(line) for line in await in_workspace(project, lambda ws: lines.lines(ws, None))]}

    @api.get("/p/{project}/lines/{line_id}/audio")
    async def line_audio(project: str, line_id: int) -> Response:
        samples, rate = await in_workspace(project, lambda ws: lines.line_audio(ws, line_id))
        return Response(encode(samples, rate, WAV), media_type=WAV.media_type)

    @api.post("/p/{project}/lines/{line_id}")
    async def edit_line(project: str, line_id: int, text: Annotated[str | None, Body()] = None,
                        was: Annotated[str | None, Body()] = None, character: Annotated[str | None, Body()] = None,
                        unname: Annotated[bool, Body()] = False) -> dict:
        def edit(ws: Workspace):
            found = lines.line(ws, line_id)
            if text is not None:
                found = lines.edit_text(ws, line_id, text, was)
            if character or unname:
                found = lines.assign(ws, line_id, None if unname else character)
            return found

        return asdict(await in_workspace(project, edit))

    # -- dataset -------------------------------------------------------------------

    cleaning: dict[tuple[str, str], dict] = {}  # the progress of clips being built, by project and character

    async def with_progress(project: str, name: str, do: Callable[[Workspace], Any]) -> Any:
        """`in_workspace`, with the progress of the work kept for `dataset_progress` until it ends."""
        from castvoice.progress import reporting

        key = (project, name.lower())
        tasks = cleaning[key] = {}

        def run(ws: Workspace) -> Any:
            with reporting(lambda event: tasks.__setitem__(event.task, event.as_dict())):
                return do(ws)

        try:
            return await in_workspace(project, run)
        finally:
            if cleaning.get(key) is tasks:
                del cleaning[key]

    @api.get("/p/{project}/dataset/{name}")
    async def clips(project: str, name: str) -> dict:
        def build(ws: Workspace) -> dict:
            found = dataset.clean(ws, name)
            return _dataset_view(project, found, dataset.settings(ws, name))

        return await with_progress(project, name, build)

    @api.get("/p/{project}/dataset/{name}/progress")
    async def dataset_progress(project: str, name: str) -> dict:
        """How far the building of a character's clips has come (no tasks: nothing is being built)."""
        return {"tasks": dict(cleaning.get((project, name.lower()), {}))}

    @api.post("/p/{project}/dataset/{name}/checks")
    async def apply_checks(project: str, name: str, checks: Annotated[dict[str, float], Body(embed=True)]) -> dict:
        def rebuild(ws: Workspace) -> dict:
            before = dataset.settings(ws, name)
            allowed = {k: float(v) for k, v in checks.items() if k in asdict(before.checks) and k != "asr_model"}
            chosen = replace(before, checks=replace(before.checks, **allowed))
            return _dataset_view(project, dataset.clean(ws, name, chosen), chosen)

        return await with_progress(project, name, rebuild)

    @api.get("/p/{project}/clips/{label}/audio")
    async def clip_audio(project: str, label: str) -> Response:
        return FileResponse(await in_workspace(project, lambda ws: dataset.clip_audio(ws, label)))

    @api.post("/p/{project}/clips/{label}")
    async def decide(project: str, label: str, decision: Annotated[str, Body(embed=True)]) -> dict:
        clip = await in_workspace(project, lambda ws: dataset.set_override(ws, label, decision))
        return _clip_view(project, clip)

    @api.get("/p/{project}/dataset/{name}/export")
    async def export(project: str, name: str, format: str = "ljspeech") -> Response:
        folder = Path(tempfile.mkdtemp(prefix="castvoice-export-"))

        def write(ws: Workspace) -> Path:
            dataset.export(ws, name, folder / "dataset", format)
            return Path(shutil.make_archive(str(folder / f"{name}-{format}"), "zip", folder / "dataset"))

        try:
            archive = await in_workspace(project, write)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return FileResponse(archive, filename=archive.name, media_type="application/zip",
                            background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))

    @api.get("/p/{project}/dataset/{name}/report")
    async def report(project: str, name: str) -> Response:
        return FileResponse(await in_workspace(project, lambda ws: dataset.report(ws, name)), media_type="text/html")

    # -- voices --------------------------------------------------------------------

    builds = VoiceBuilds()

    @api.get("/p/{project}/voices")
    async def list_voices(project: str) -> dict:
        root = projects.workspace(project)
        found = await asyncio.to_thread(voices.list_voices, root)
        return {"voices": [_voice_view(profile) for _, profile in found], "builds": builds.status(project)}

    @api.post("/p/{project}/voices")
    async def build_voice(project: str, name: Annotated[str, Body()], train: Annotated[bool, Body()] = False,
                          minutes: Annotated[float, Body()] = 1.0) -> dict:
        root = projects.workspace(project)
        if train:
            builds.start(project, name, lambda: voices.train_voice(root, name, minutes))
        else:
            builds.start(project, name, lambda: voices.create_voice(root, name, budget_minutes=minutes, replace=True))
        return builds.status(project)

    @api.post("/p/{project}/voices/cancel")
    async def cancel_voice(project: str) -> dict:
        builds.cancel(project)
        return builds.status(project)

    @api.get("/p/{project}/voices/{name}/speak")
    async def speak(project: str, name: str, text: str, request: Request) -> Response:
        profile = await asyncio.to_thread(voices.find_voice, projects.workspace(project), name)
        return await streamed(work, lambda: engine.speech(text, None, None, 1.0, None, profile), engine.say, "wav",
                              request, settings.request_timeout)

    @api.get("/p/{project}/voices/{name}/reference")
    async def reference(project: str, name: str) -> Response:
        profile = await asyncio.to_thread(voices.find_voice, projects.workspace(project), name)
        if not profile.references:
            raise CastvoiceError(f"the voice {name!r} keeps no reference recording")
        return Response(encode(profile.references[0], 16_000, WAV), media_type=WAV.media_type)

    @api.get("/p/{project}/voices/{name}/export")
    async def export_voice(project: str, name: str) -> Response:
        folder = Path(tempfile.mkdtemp(prefix="castvoice-voice-"))
        file = await asyncio.to_thread(voices.export_voice, projects.workspace(project), name,
                                       folder / f"{name.lower()}.cvoice")
        return FileResponse(file, filename=file.name, media_type="application/octet-stream",
                            background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))

    # -- chat ------------------------------------------------------------------------

    @api.post("/p/{project}/chat/{name}")
    async def say(project: str, name: str, message: Annotated[str, Body(embed=True)]) -> StreamingResponse:
        session = await chats.get(projects.workspace(project), name)
        return _reply_stream(project, session, lambda: (message, None))

    @api.post("/p/{project}/chat/{name}/spoken")
    async def say_aloud(project: str, name: str, audio: Annotated[UploadFile, File()]) -> StreamingResponse:
        session = await chats.get(projects.workspace(project), name)
        folder = Path(tempfile.mkdtemp(prefix="castvoice-heard-"))
        recording = await _save_upload(audio, folder)

        def hear() -> tuple[str, str | None]:
            try:
                found = chat.heard(recording)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            if not found.text.strip():
                raise CastvoiceError("no words were heard in the recording; speak closer to the microphone")
            return found.text, found.mood

        return _reply_stream(project, session, hear)

    @api.get("/p/{project}/chats/{conversation}/{file}")
    async def reply_audio(project: str, conversation: str, file: str) -> Response:
        chats_root = (projects.workspace(project) / "chats").resolve()
        path = (chats_root / conversation / file).resolve()
        if not path.is_relative_to(chats_root) or not path.is_file():
            raise CastvoiceError("no such reply audio")
        return FileResponse(path, media_type=WAV.media_type)

    @api.get("/p/{project}/memory/{name}")
    async def memories(project: str, name: str) -> dict:
        found = await in_workspace(project, lambda ws: chat.memory(ws, name).memories())
        return {"memories": [asdict(m) for m in found]}

    @api.delete("/p/{project}/memory/{name}/{memory_id}")
    async def forget(project: str, name: str, memory_id: int) -> dict:
        return asdict(await in_workspace(project, lambda ws: chat.memory(ws, name).forget(memory_id)))

    @api.get("/p/{project}/persona/{name}")
    async def persona(project: str, name: str) -> dict:
        return asdict(await in_workspace(project, lambda ws: chat.persona(ws, name)))

    @api.post("/p/{project}/persona/{name}")
    async def edit_persona(project: str, name: str, description: Annotated[str | None, Body()] = None,
                           reset: Annotated[bool, Body()] = False) -> dict:
        view = await in_workspace(project, lambda ws: chat.persona(ws, name, None if reset else description, reset))
        chats.forget(projects.workspace(project), name)  # the next message is answered with the new persona
        return asdict(view)

    def _reply_stream(project: str, session: ChatRunner, message: Callable[[], tuple[str, str | None]]):
        """The reply as JSON lines: what was heard, its text pieces and its speech (16-bit PCM in base64, with
        its sample rate) as they are made, then the whole turn."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def put(item: dict) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def turn() -> None:
            try:
                text, mood = message()
                put({"heard": text, "mood": mood})
                done = session.session.answer(
                    text, lambda piece: put({"text": piece}), mood,
                    lambda samples, rate: put({"speech": base64.b64encode(pcm16(samples)).decode("ascii"), "rate": rate}))
                audio = None
                if done.audio:
                    relative = Path(done.audio).resolve().relative_to((session.session.ws.root / "chats").resolve())
                    audio = f"/studio/api/p/{project}/chats/{relative.as_posix()}"
                put({"reply": done.reply, "audio": audio, "speech_error": done.speech_error,
                     "first_text": done.first_text, "first_audio": done.first_audio})
            except CastvoiceError as error:
                put({"error": error.problem})
            except Exception as error:  # noqa: BLE001 - the page shows it; the log has the details
                from castvoice.console import log

                log.exception("chat turn failed")
                put({"error": f"the reply failed: {error}"})
            put({"end": True})

        session.executor.submit(turn)

        async def body():
            while not (item := await queue.get()).get("end"):
                yield json.dumps(item) + "\n"

        return StreamingResponse(body(), media_type="application/x-ndjson")

    app.include_router(api)
    app.mount("/studio/static", StaticFiles(directory=STATIC), name="studio-static")

    @app.get("/", include_in_schema=False)
    async def page(token: str | None = None) -> Response:
        if token is not None:  # keep the token as a cookie, so that the page's audio elements carry it too
            answer = RedirectResponse("/", 303)
            answer.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
            return answer
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    projects.resume_interrupted()
    return app


def _is_ready(projects: Projects, name: str) -> bool:
    try:
        projects.workspace(name)
        return True
    except CastvoiceError:
        return False


async def _save_upload(upload: UploadFile, folder: Path) -> Path:
    """An uploaded file copied into `folder` under its own name (only its last part, made safe)."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in Path(upload.filename or "upload").name)
    target = folder / (safe.lstrip(".") or "upload")
    folder.mkdir(parents=True, exist_ok=True)

    def copy() -> None:
        with open(target, "wb") as out:
            shutil.copyfileobj(upload.file, out)

    await asyncio.to_thread(copy)
    return target


def _clip_view(project: str, clip) -> dict:
    return {"id": clip.id, "line_id": clip.line_id, "start": clip.start, "end": clip.end, "text": clip.text,
            "kept": clip.kept, "reason": clip.reason, "override": clip.override, "duration": clip.duration,
            "scores": clip.scores, "audio": f"/studio/api/p/{project}/clips/{clip.id}/audio"}


def _dataset_view(project: str, found: list, settings) -> dict:
    summary = dataset.summarise(found)
    return {"clips": [_clip_view(project, c) for c in found], "summary": asdict(summary),
            "checks": asdict(settings.checks), "formats": _formats()}


def _formats() -> list[str]:
    from castvoice.dataset.export import FORMATS

    return sorted(FORMATS)


def _voice_view(profile) -> dict:
    return {"name": profile.name, "backend": profile.backend, "similarity": profile.similarity,
            "source": profile.source, "created": profile.created, "references": len(profile.references)}


class ChatRunner:
    """A chat session and the one thread it runs in (its workspace connection belongs to that thread)."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat")
        self.session: chat.ChatSession | None = None


class ChatSessions:
    """One chat session per workspace and character, made on the first message (loading the models once)."""

    def __init__(self) -> None:
        self._runners: dict[tuple[Path, str], ChatRunner] = {}
        self._lock = threading.Lock()

    async def get(self, root: Path, name: str) -> ChatRunner:
        with self._lock:
            runner = self._runners.setdefault((root, name.lower()), ChatRunner())
        if runner.session is None:
            def start() -> None:
                if runner.session is None:
                    runner.session = chat.ChatSession(root, name, play=False)

            await asyncio.wrap_future(runner.executor.submit(start))
        return runner

    def forget(self, root: Path, name: str) -> None:
        with self._lock:
            runner = self._runners.pop((root, name.lower()), None)
        if runner is not None:
            runner.executor.shutdown(wait=False)


class _Cancelled(BaseException):  # not an Exception: no `except Exception` on the way may swallow it
    """Raised inside a voice build at its next progress report once it has been cancelled."""


class VoiceBuilds:
    """Voices being made in the background, one at a time, with their progress. A build can be cancelled: it
    stops at its next progress report, and no voice is saved (one made before stays as it was)."""

    def __init__(self) -> None:
        self._state: dict[str, dict] = {}
        self._lock = threading.Lock()

    def status(self, project: str) -> dict:
        return self._state.get(project, {"state": "none"})

    def start(self, project: str, name: str, make: Callable[[], tuple]) -> None:
        from castvoice.progress import reporting

        with self._lock:
            if any(s["state"] == "running" for s in self._state.values()):
                raise CastvoiceError("a voice is being made already; wait for it to finish or cancel it")
            state = self._state[project] = {"state": "running", "voice": name, "tasks": {}, "message": "",
                                            "cancelling": False}

        def report(event) -> None:
            state["tasks"][event.task] = event.as_dict()
            if state["cancelling"]:
                raise _Cancelled

        def run() -> None:
            try:
                with reporting(report):
                    if state["cancelling"]:  # cancelled before it began
                        raise _Cancelled
                    result = make()
                note = result[2] if len(result) > 2 else None
                state.update(state="done", message=note or f"the voice of {name} is ready")
            except _Cancelled:
                state.update(state="cancelled", message=f"(no new voice of {name} was saved)")
            except CastvoiceError as error:
                state.update(state="failed", message=error.problem)
            except Exception as error:  # noqa: BLE001 - shown on the page; the log has the details
                from castvoice.console import log

                log.exception("making a voice failed")
                state.update(state="failed", message=f"making the voice failed: {error}")

        threading.Thread(target=run, daemon=True, name=f"voice {name}").start()

    def cancel(self, project: str) -> None:
        with self._lock:
            state = self._state.get(project)
            if state is None or state["state"] != "running":
                raise CastvoiceError("no voice is being made in this project")
            state["cancelling"] = True
            state["message"] = "cancelling: the build stops at its next step"
