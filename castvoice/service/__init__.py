"""The voice engine as an HTTP service: one process keeps the models loaded and serves cloning,
speech and transcription (with OpenAI-compatible routes) to other programs.

`castvoice.service.server.serve` runs it; `castvoice.service.app.create_app` builds the ASGI app."""
