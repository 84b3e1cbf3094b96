# syntax=docker/dockerfile:1
# Multiplayer Genie: one image for the platform API, the realtime nodes and (with WITH_RAY=1) dataset generation.
#
#   docker build -t mpgenie .                                  # API + realtime server (no PyTorch, no Ray)
#   docker build --build-arg WITH_RAY=1 -t mpgenie:ray .       # + Ray, for `mpgenie generate --ray` / KubeRay
#   docker build --build-arg WITH_TORCH=1 -t mpgenie:learn .   # + PyTorch (CPU wheels), for --renderer learned
#
# Checked by tests/deploy/test_dockerfile.py with hadolint (warnings fail the test).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- web: the browser client (web/), built by Vite into the package's web_static/ (served at /play/) ---------------
FROM ${NODE_IMAGE} AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web ./
RUN npm run build

# ---- build: a virtual environment with the package and the extras asked for -------------------------------------
FROM ${PYTHON_IMAGE} AS build
ARG WITH_RAY=0
ARG WITH_TORCH=0
# With WITH_RAY=1, Ray with its dashboard/agent (KubeRay's probes and job submission need it) and Ray Client (the
# generation Job and compose's `generate` connect with ray://): the `scale` extra alone installs minimal Ray.
# Keep it equal to rayVersion in deploy/k8s/ray.yaml (a test checks).
ARG RAY_VERSION=2.60.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Metadata first: the dependency layer is rebuilt only when pyproject.toml changes, not on every source edit.
COPY pyproject.toml README.md ./
COPY src ./src
COPY --from=web /src/src/mpgenie/web_static ./src/mpgenie/web_static
# The server needs only the package's own dependencies; `scale` (Ray) and `learn` (PyTorch) are opt-in.
# DL3013 (pin versions in pip) is ignored for this one step: hadolint takes the local path `.[extras]` for a
# package name; what it installs is this source tree, whose dependency bounds pyproject.toml sets (torch is pinned).
# hadolint ignore=DL3013
RUN set -eu; \
    extras=""; \
    if [ "$WITH_RAY" = "1" ]; then \
        extras="scale"; \
        pip install --no-cache-dir "ray[default,client]==${RAY_VERSION}"; \
    fi; \
    if [ "$WITH_TORCH" = "1" ]; then \
        extras="${extras:+$extras,}learn"; \
        pip install --no-cache-dir --extra-index-url "$TORCH_INDEX_URL" "torch==2.13.0"; \
    fi; \
    pip install --no-cache-dir ".${extras:+[$extras]}"; \
    mpgenie version

# ---- runtime: slim, non-root, no compiler, no source tree ------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="mpgenie" \
      org.opencontainers.image.description="Multiplayer Genie: platform API and realtime server" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 mpgenie \
    && useradd --system --uid 10001 --gid mpgenie --home-dir /var/lib/mpgenie --create-home --shell /usr/sbin/nologin mpgenie
COPY --from=build /opt/venv /opt/venv
# HEALTH_PORT: the port HEALTHCHECK probes (8000: the API; a realtime-only node sets 7777). NUMBA_CACHE_DIR: the
# compiled kernels' cache, writable by the non-root user (site-packages is not).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    HEALTH_PORT=8000
WORKDIR /var/lib/mpgenie
USER 10001:10001
EXPOSE 8000 7777
# /healthz answers on both ports (liveness: the process serves HTTP); readiness (/readyz) is for orchestrators.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HEALTH_PORT', '8000'), timeout=2).read()"]
ENTRYPOINT ["mpgenie"]
# Secrets (MPGENIE_JWT_SECRET, MPGENIE_JOIN_SECRET) must come from the environment: serve refuses 0.0.0.0 without.
# Both halves in one container: set MPGENIE_REALTIME_URL to the address players reach (else they get ws://0.0.0.0).
CMD ["serve", "--host", "0.0.0.0", "--port", "7777", "--api-port", "8000"]
