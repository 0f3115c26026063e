# castvoice's voice engine service: `docker build -t castvoice .` then
#   docker run -p 8000:8000 -e CASTVOICE_TOKEN=a-long-secret -v castvoice-voices:/data castvoice
FROM python:3.11-slim

# ffmpeg and espeak-ng as the README's set-up asks; npm fetches Kokoro's stock voices once, at build time.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg espeak-ng npm \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/castvoice
COPY requirements.lock pyproject.toml README.md ./
# As scripts/setup.sh installs: torch first and alone, pinned (the CPU build), then the lock without resolving.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install --no-cache-dir --no-deps -r requirements.lock
COPY castvoice ./castvoice
RUN pip install --no-cache-dir --no-deps --no-build-isolation .

RUN useradd --create-home --uid 10001 castvoice && mkdir -p /data/voices && chown -R castvoice /data
USER castvoice
ENV CASTVOICE_CACHE=/home/castvoice/.cache/castvoice \
    CASTVOICE_VOICES=/data/voices \
    PYTHONUNBUFFERED=1
# The embedded models (Whisper, Kokoro, Piper, the speaker encoders) assembled into the image.
RUN castvoice models assemble

VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"
# Listening on all interfaces needs CASTVOICE_TOKEN (clients send it as a bearer token).
CMD ["castvoice", "serve", "--host", "0.0.0.0", "--port", "8000", "--preload"]
