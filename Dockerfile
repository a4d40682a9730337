# syntax=docker/dockerfile:1
# The auth and event services: one image, the entry point is chosen by docker-compose.yml.
#   docker build -t reward-mesh .
#   docker run reward-mesh python -m services.event.main

# Build stage: generates the code and documents, as `make gen` does, with the full lock.
# These steps match deploy/envoy.Dockerfile, so the two builds share their layers.
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app

# Exactly the versions `make` installs into .venv/ (one lock for every environment).
COPY requirements.lock .
RUN pip install -r requirements.lock

COPY protos/ protos/
COPY tools/gen_protos.py tools/
RUN python -m tools.gen_protos
# The OpenAPI document auth serves at /openapi.json (and /docs), as `make gen` writes it
# (the gateway's catalog reads the access options through services.common.access).
COPY gateway/ gateway/
COPY services/ services/
RUN PYTHONPATH=gen python -m gateway.openapi --out gen/openapi.json

# The image: only what the services import (requirements-runtime.lock, the same pins as
# requirements.lock), so no compilers, test tools, Envoy or NATS binaries ship with them.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app

COPY requirements-runtime.lock .
RUN pip install -r requirements-runtime.lock

COPY --from=build /app/gen/ gen/
COPY tools/healthcheck.py tools/
COPY services/ services/

# Non-root. /data is where a volume goes: auth keeps its signing key in /data/auth/.
RUN useradd --system --user-group --uid 10001 --no-create-home --shell /usr/sbin/nologin app \
    && mkdir /data \
    && chown app:app /data
USER app

ENV PYTHONPATH=/app:/app/gen \
    PYTHONUNBUFFERED=1 \
    BIND_HOST=0.0.0.0 \
    DATA_DIR=/data
# auth: gRPC 50051 and JWKS 8081; event: gRPC 50052.
EXPOSE 50051 8081 50052
CMD ["python", "-m", "services.auth.main"]
