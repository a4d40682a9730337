# syntax=docker/dockerfile:1
# The auth and event services: one image, the entry point is chosen by docker-compose.yml.
#   docker build -t reward-mesh .
#   docker run reward-mesh python -m services.event.main
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app

# Exactly the versions `make` installs into .venv/ (one lock for every environment).
COPY requirements.lock .
RUN pip install -r requirements.lock

# Generated code is not committed; produce it here as `make gen` does.
# These first steps match deploy/envoy.Dockerfile, so the two builds share their layers.
COPY protos/ protos/
COPY tools/gen_protos.py tools/
RUN python -m tools.gen_protos
# The OpenAPI document auth serves at /openapi.json (and /docs), as `make gen` writes it.
COPY gateway/ gateway/
RUN PYTHONPATH=gen python -m gateway.openapi --out gen/openapi.json

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
