# syntax=docker/dockerfile:1
#
# One image for the four services (intake, assignment, reporting, sla) and the gateway.
#
#   docker build -t teleradiology:dev .
#   docker run --rm -e DATABASE_URL=... teleradiology:dev \
#       uvicorn --factory services.intake.app:create_app --host 0.0.0.0 --port 8000
#   docker run --rm -e DATABASE_URL=... teleradiology:dev \
#       alembic -c services/intake/alembic.ini upgrade head
#
# Without a command, the service named by $SERVICE (default: intake) is started.
# The container needs no writable path but /tmp (mount an emptyDir/tmpfs there).

ARG PYTHON_IMAGE=python:3.11-slim

# --------------------------------------------------------------------------- deps
FROM ${PYTHON_IMAGE} AS deps

# Keep in sync with UV_VERSION in the Makefile.
ARG UV_VERSION=0.13.9

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1

RUN pip install "uv==${UV_VERSION}" \
 && python -m venv --without-pip /opt/venv

# Runtime dependencies only, exactly as locked (every file checked against its hash).
COPY requirements.lock /tmp/requirements.lock
RUN uv pip sync --python /opt/venv/bin/python --require-hashes /tmp/requirements.lock

# --------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

# uvicorn reads UVICORN_* as its options: the h11 parser bounds a request's line and
# headers (16 KiB still arriving; httptools, its default, bounds nothing) -- docs/security.md.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PATH=/opt/venv/bin:${PATH} \
    SERVICE=intake \
    FHIR_BASE_PATH=/fhir \
    ENVIRONMENT=production \
    UVICORN_HTTP=h11 \
    UVICORN_H11_MAX_INCOMPLETE_EVENT_SIZE=16384

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin app

COPY --from=deps /opt/venv /opt/venv

WORKDIR /app
# Code is owned by root and read-only for the app user; byte-compiled at build
# time so nothing is written at run time (PYTHONDONTWRITEBYTECODE=1 as well).
COPY shared/ ./shared/
COPY services/ ./services/
RUN python -m compileall -q shared services

USER 10001:10001
EXPOSE 8000

CMD ["sh", "-c", "exec uvicorn --factory \"services.${SERVICE}.app:create_app\" --host 0.0.0.0 --port 8000"]
