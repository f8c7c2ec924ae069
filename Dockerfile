# docsage: one image for every role — `serve` (API replicas), `worker` (background jobs), `migrate` (one-shot).
# Build: docker build -t docsage .      Run: docker run -p 8000:8000 -v docsage:/data docsage
# The bundled embedding model runs on ONNX Runtime: no torch, no GPU, nothing downloaded at run time.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Everything goes into /install, copied whole into the runtime stage (no compilers or build files there).
RUN pip install --prefix=/install . \
    && PYTHONPATH=/install/lib/python3.11/site-packages python -c \
       "import importlib.util as u, sys; sys.exit('torch must not be installed' if u.find_spec('torch') else 0)"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DOCSAGE_HOME=/data \
    DOCSAGE_HOST=0.0.0.0 \
    DOCSAGE_PORT=8000
COPY --from=build /install /usr/local
# A fixed, unprivileged uid: volumes and PostgreSQL files are never owned by root.
RUN groupadd --system --gid 10001 docsage \
    && useradd --system --uid 10001 --gid docsage --home-dir /data --no-create-home --shell /usr/sbin/nologin docsage \
    && mkdir -p /data && chown docsage:docsage /data
USER docsage
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# Python, not curl (the slim image has none). `docker compose` turns it off for the worker, which serves no HTTP.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DOCSAGE_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["docsage"]
CMD ["serve"]
