"""The HTTP API: routes, authentication, limits and error answers (see `create_app`)."""

from __future__ import annotations

import asyncio
import hmac
import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

import numpy as np
from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from castvoice import __version__
from castvoice.console import log
from castvoice.errors import CastvoiceError
from castvoice.service.audio import AUDIO_FORMATS, audio_format, decode_upload, encode, pcm16, streaming_wav_header
from castvoice.service.clones import clone_key
from castvoice.speech.emotion import inline_tags
from castvoice.service.engine import Engine, Speech, Transcription, check_speech
from castvoice.service.errors import ApiError, error_body
from castvoice.service.models import EMOTION_BACKENDS
from castvoice.service.process import resident_bytes
from castvoice.service.settings import Settings
from castvoice.service.work import Job, WorkQueue
from castvoice.speech.formats import to_document, to_srt, to_vtt
from castvoice.voice.profile import VoiceProfile

AudioFormatName = Literal[tuple(AUDIO_FORMATS)]
OpenAITextFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
BUILD_QUEUE = 2  # voice builds that may wait while one runs
BEARER = HTTPBearer(auto_error=False, description="Required when the server was started with a token.")
AUDIO_RESPONSES = {200: {"content": {fmt.media_type: {}} for fmt in AUDIO_FORMATS.values()},
                   422: {"description": "Bad input"}, 503: {"description": "Busy; see Retry-After"}}


# -- response shapes, for the schema --------------------------------------------

class EmotionOut(BaseModel):
    label: Literal["HAPPY", "SAD", "ANGRY", "NEUTRAL"]
    confidence: float | None
    source: str


class WordOut(BaseModel):
    start: float
    end: float
    word: str
    probability: float | None


class SegmentOut(BaseModel):
    start: float
    end: float
    text: str
    words: list[WordOut] | None = None
    emotion: EmotionOut | None = None


class TranscriptOut(BaseModel):
    text: str
    language: str
    language_probability: float | None
    duration: float | None
    segments: list[SegmentOut]


class VoiceOut(BaseModel):
    id: str
    name: str
    backend: str
    references: int
    similarity: dict[str, float]
    source: str
    created: str
    read_only: bool


class VoiceList(BaseModel):
    voices: list[VoiceOut]


class VoiceRef(BaseModel):
    id: str


class SpeechRequest(BaseModel):
    """OpenAI's speech request."""

    model: str = "tts-1"
    input: str
    voice: str | VoiceRef = Field(description="A stored voice id, a stock voice, an OpenAI voice name, or 'default'.")
    response_format: AudioFormatName = "mp3"
    speed: float = 1.0
    instructions: str | None = Field(None, description="Accepted and ignored: the voices take no instructions.")
    stream_format: Literal["audio", "sse"] = "audio"


def create_app(settings: Settings) -> FastAPI:
    """The service as an ASGI app; models load on first use (or at start with `settings.preload`)."""
    engine = Engine(settings)
    work = WorkQueue("models", settings.workers, settings.queue_limit)
    builds = WorkQueue("voices", 1, BUILD_QUEUE)  # voice searches take minutes: kept off the model queue
    started = time.monotonic()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        if settings.preload:
            await asyncio.to_thread(engine.models.preload)
        yield
        work.close()
        builds.close()

    app = FastAPI(title="castvoice", version=__version__, lifespan=lifespan,
                  description="Voice cloning, speech and transcription, served by one process that keeps its "
                              "models loaded. /v1/audio/* follow OpenAI's audio API.")
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    _add_error_handlers(app)
    app.state.engine, app.state.work, app.state.settings = engine, work, settings  # for front ends mounted on it

    def authorized(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> None:
        if settings.token is None:
            return
        if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), settings.token.encode()):
            raise ApiError(401, "a valid bearer token is required (Authorization: Bearer TOKEN)", "invalid_api_key",
                           headers={"WWW-Authenticate": "Bearer"})

    auth = [Depends(authorized)]

    def check_length(text: str, param: str) -> None:
        if len(text) > settings.max_text_chars:
            raise ApiError(422, f"the text has {len(text)} characters; this server takes at most "
                                f"{settings.max_text_chars}", "text_too_long", param)

    async def speech_response(make: Callable[[], Speech], fmt_name: str, stream: bool, request: Request,
                              format_param: str = "format") -> Response:
        """Speech made on the work queue, sent whole, or piece by piece as it is made when `stream`."""
        fmt = audio_format(fmt_name, stream, format_param)
        timeout = settings.request_timeout
        if not stream:
            def whole(job: Job) -> bytes:
                speech = make()
                pieces = list(engine.say(speech, job))
                return encode(np.concatenate(pieces) if pieces else np.zeros(0, np.float32), speech.sample_rate, fmt)

            audio = await work.run(whole, timeout, request.is_disconnected)
            return Response(audio, media_type=fmt.media_type)
        return await streamed(work, make, engine.say, fmt_name, request, timeout)

    async def reference_voice(upload: UploadFile, backend: str | None, language: str | None, budget: float,
                              request: Request) -> VoiceProfile:
        """The voice of reference audio: from the clone cache, else searched once on the voice-building queue
        (a voice search takes as long as its budget, so it is kept off the model queue)."""
        backend, language = engine.models.tts_name(backend), language or "en-us"
        reference = await work.run(lambda job: decode_upload(upload.file, settings.max_audio_seconds),
                                   settings.request_timeout, request.is_disconnected)
        key, timeout = clone_key(reference, backend, language, budget), settings.request_timeout + budget
        return await engine.clones.voice(
            key, lambda: builds.run(lambda job: engine.clone(job, key, reference, backend, language, budget), timeout,
                                    request.is_disconnected), timeout)

    # -- health ----------------------------------------------------------------

    @app.get("/health", summary="Status, loaded models, uptime and memory (no token needed)")
    async def health() -> dict:
        return {"status": "ok", "version": __version__, "uptime_seconds": round(time.monotonic() - started, 1),
                "resident_bytes": resident_bytes(), "models": engine.models.status(),
                "queue": work.status(), "voice_builds": builds.status(), "clones": engine.clones.status(),
                "auth": settings.token is not None}

    # -- castvoice's own routes ------------------------------------------------------

    @app.post("/v1/clone", dependencies=auth, response_class=Response, responses=AUDIO_RESPONSES,
              summary="Speak text in a stored voice, a stock voice, or a voice cloned from reference audio")
    async def clone(
        request: Request,
        text: Annotated[str, Form(description="What to say.")],
        audio: Annotated[UploadFile | None, File(description="Reference speech, any common format; its voice is "
                                                             "searched once, then reused.")] = None,
        voice: Annotated[str | None, Form(description="A stored voice id (in any case), a stock voice, or 'default'; "
                                                      "this or audio is required.")] = None,
        format: Annotated[AudioFormatName, Form()] = "wav",
        speed: Annotated[float, Form()] = 1.0,
        backend: Annotated[str | None, Form(description="TTS backend: kokoro or piper.")] = None,
        language: Annotated[str | None, Form(description="e.g. en-us, en-gb, fr-fr.")] = None,
        budget_seconds: Annotated[float | None, Form(gt=0, description="Voice search time for reference audio.")] = None,
        stream: Annotated[bool, Form(description="Send the audio piece by piece as it is made (wav, pcm).")] = False,
    ) -> Response:
        check_length(text, "text")
        if audio is not None and voice is not None:
            raise ApiError(422, "give reference audio or a voice, not both", "conflicting_voice", "voice")
        if audio is None and voice is None:
            raise ApiError(422, "say whose voice to speak in: send reference audio (audio) or a voice (voice: a stored "
                                "voice id, a stock voice, or 'default')", "missing_voice", "voice")
        profile = None
        if audio is not None:
            audio_format(format, stream)
            check_speech(text, speed)  # before the search, which takes as long as its budget
            budget = min(budget_seconds or settings.clone_budget_seconds, settings.max_voice_budget_seconds)
            profile = await reference_voice(audio, backend, language, budget, request)
        return await speech_response(lambda: engine.speech(text, voice, backend, speed, language, profile),
                                     format, stream, request)

    @app.post("/v1/transcribe", dependencies=auth, response_model=TranscriptOut, response_model_exclude_none=True,
              summary="Transcribe audio; each segment with an emotion and the source that judged it")
    async def transcribe(
        request: Request,
        file: Annotated[UploadFile, File(description="Audio or video, any common format.")],
        language: Annotated[str | None, Form(description="Language code; detected when left out.")] = None,
        model: Annotated[str | None, Form(description="Whisper model: base or tiny.en.")] = None,
        words: Annotated[bool, Form(description="Word timings in each segment.")] = False,
        emotion: Annotated[Literal[EMOTION_BACKENDS], Form()] = "auto",
        tags: Annotated[Literal["none", "inline"], Form(description="inline: SenseVoice-style <|en|><|HAPPY|> text.")] = "none",
    ) -> dict:
        name = engine.models.asr_name(model)
        found: Transcription = await work.run(
            lambda job: engine.transcribe(job, file.file, name, language, words, emotion),
            settings.request_timeout, request.is_disconnected)
        document = to_document(found.transcript, words)
        for segment, judged in zip(document["segments"], found.emotions or []):
            segment["emotion"] = {"label": judged.label, "confidence": judged.confidence, "source": judged.source}
            if tags == "inline":
                segment["text"] = inline_tags(found.transcript.language, judged, segment["text"])
        if tags == "inline" and found.emotions:
            document["text"] = " ".join(s["text"] for s in document["segments"])
        return document

    # -- OpenAI-compatible routes ----------------------------------------------------

    @app.post("/v1/audio/speech", dependencies=auth, response_class=Response, responses=AUDIO_RESPONSES,
              summary="OpenAI-compatible text to speech")
    async def openai_speech(request: Request, body: SpeechRequest) -> Response:
        check_length(body.input, "input")
        if body.stream_format == "sse":
            raise ApiError(422, "stream_format sse is not supported; use audio", "unsupported_format", "stream_format")
        voice = body.voice.id if isinstance(body.voice, VoiceRef) else body.voice
        return await speech_response(
            lambda: engine.speech(body.input, voice, body.model, body.speed, None),
            body.response_format, False, request, "response_format")

    @app.post("/v1/audio/transcriptions", dependencies=auth, response_model=None,
              summary="OpenAI-compatible transcription")
    async def openai_transcriptions(
        request: Request,
        file: Annotated[UploadFile, File()],
        model: Annotated[str, Form()] = "whisper-1",
        language: Annotated[str | None, Form()] = None,
        prompt: Annotated[str | None, Form(description="Accepted and ignored.")] = None,
        response_format: Annotated[OpenAITextFormat, Form()] = "json",
        temperature: Annotated[float | None, Form(description="Accepted and ignored.")] = None,
        timestamp_granularities: Annotated[list[Literal["segment", "word"]] | None,
                                           Form(alias="timestamp_granularities[]")] = None,
    ) -> Response:
        name = engine.models.asr_name(model)
        words = response_format == "verbose_json" and "word" in (timestamp_granularities or [])
        found: Transcription = await work.run(lambda job: engine.transcribe(job, file.file, name, language, words),
                                              settings.request_timeout, request.is_disconnected)
        return _openai_transcript(found.transcript, response_format, words)

    # -- stored voices ---------------------------------------------------------------

    @app.get("/v1/voices", dependencies=auth, response_model=VoiceList, summary="Stored voices")
    async def list_voices() -> dict:
        return {"voices": await asyncio.to_thread(engine.voices.list)}

    @app.post("/v1/voices", dependencies=auth, response_model=VoiceOut, status_code=201,
              summary="Store a voice: cloned from reference recordings, or a .cvoice profile")
    async def create_voice(
        request: Request,
        name: Annotated[str, Form(max_length=100, description="The voice's name; its id is the name in lowercase with _.")],
        references: Annotated[list[UploadFile] | None, File(description="Recordings of the voice.")] = None,
        profile: Annotated[UploadFile | None, File(description="A .cvoice file (castvoice voice export).")] = None,
        backend: Annotated[str, Form(description="kokoro (searches Kokoro's voice space) or piper.")] = "kokoro",
        budget_seconds: Annotated[float | None, Form(gt=0, description="Voice search time.")] = None,
        language: Annotated[str, Form()] = "en-us",
        replace: Annotated[bool, Form()] = False,
    ) -> dict:
        if bool(references) == (profile is not None):
            raise ApiError(422, "send reference recordings (references) or a voice profile (profile), one of them",
                           "missing_references", "references")
        budget = min(budget_seconds or settings.voice_budget_seconds, settings.max_voice_budget_seconds)
        files = [r.file for r in references or []]
        source = "uploaded: " + ", ".join(r.filename or "recording" for r in references or [])
        return await builds.run(
            lambda job: engine.create_voice(job, name, files, profile.file if profile else None, backend, budget,
                                            language, replace, source),
            settings.request_timeout + budget, request.is_disconnected)

    @app.delete("/v1/voices/{voice_id}", dependencies=auth, status_code=204, response_class=Response,
                summary="Delete a stored voice")
    async def delete_voice(voice_id: str) -> Response:
        engine.voices.delete(voice_id)
        return Response(status_code=204)

    return app


async def streamed(work: WorkQueue, make: Callable[[], Speech],
                    say: Callable[[Speech, Job], Iterator[np.ndarray]], fmt_name: str, request: Request,
                    timeout: float) -> StreamingResponse:
    """Speech sent as it is made. The answer starts once the first piece is ready, so that a bad request
    still gets a proper error status; a later failure can only cut the stream short."""
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue = asyncio.Queue()
    end = object()

    def produce(job: Job) -> None:
        speech = make()
        made = say(speech, job)
        first = next(made, None)  # bad input fails here, while the answer can still be an error status
        loop.call_soon_threadsafe(pieces.put_nowait, speech.sample_rate)
        for piece in itertools.chain([first] if first is not None else [], made):
            loop.call_soon_threadsafe(pieces.put_nowait, piece)
        loop.call_soon_threadsafe(pieces.put_nowait, end)

    task = asyncio.ensure_future(work.run(produce, timeout, request.is_disconnected))

    async def next_item():
        getter = asyncio.ensure_future(pieces.get())
        await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
        task.result()  # raises the job's error
        return await pieces.get()  # it ended well: what it queued last is still to be read

    try:
        rate = await next_item()
    except BaseException:
        task.cancel()
        raise

    async def body():
        try:
            if fmt_name == "wav":
                yield streaming_wav_header(rate)
            while (piece := await next_item()) is not end:
                yield pcm16(piece)
        finally:
            task.cancel()

    return StreamingResponse(body(), media_type=AUDIO_FORMATS[fmt_name].media_type)


def _openai_transcript(transcript, response_format: str, words: bool) -> Response:
    """A transcript in OpenAI's response formats."""
    if response_format == "json":
        return JSONResponse({"text": transcript.text})
    if response_format == "text":
        return PlainTextResponse(transcript.text)
    if response_format in ("srt", "vtt"):
        return PlainTextResponse((to_srt if response_format == "srt" else to_vtt)(transcript))
    document = to_document(transcript, words)
    verbose = {"task": "transcribe", "language": document["language"], "duration": document["duration"],
               "text": document["text"],
               "segments": [{"id": n, **{k: v for k, v in s.items() if k != "words"}}
                            for n, s in enumerate(document["segments"])]}
    if words:
        verbose["words"] = [{k: w[k] for k in ("word", "start", "end")} for s in document["segments"] for w in s["words"]]
    return JSONResponse(verbose)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error.body(), error.status, headers=error.headers)

    @app.exception_handler(CastvoiceError)
    async def castvoice_error(_: Request, error: CastvoiceError) -> JSONResponse:
        return JSONResponse(error_body(422, error.problem), 422)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in error.errors()]
        first = error.errors()[0]["loc"][-1] if error.errors() else None
        return JSONResponse(error_body(422, "; ".join(problems), "invalid_request",
                                       str(first) if first is not None else None), 422)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse(error_body(error.status_code, str(error.detail)), error.status_code,
                            headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("request failed: %s", error)
        return JSONResponse(error_body(500, "internal error; the server log has the details"), 500)


class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`, whether declared or sent chunked."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received, over = 0, False

        async def counted():
            nonlocal received, over
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                over = True
                raise BodyTooLarge
            return message

        async def unless_over(message) -> None:
            if not over:  # the app's own answer to a body cut short is replaced by the 413 below
                await send(message)

        try:
            await self.app(scope, counted, unless_over)
        except BodyTooLarge:
            pass
        if over:
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        body = JSONResponse(error_body(413, f"the upload is larger than this server accepts "
                                            f"({self.max_bytes / 1e6:g} MB)", "file_too_large"), 413)
        await send({"type": "http.response.start", "status": 413, "headers": body.raw_headers})
        await send({"type": "http.response.body", "body": body.body})


class BodyTooLarge(Exception):
    pass
