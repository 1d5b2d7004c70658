# syntax=docker/dockerfile:1
#
# The lead-router image: the `lead-router` command on python:3.11-slim, run as a non-root user.
#
#   docker build -t lead-router .
#   docker run --rm lead-router --help
#   docker run -e LEAD_ROUTER_BOOTSTRAP_SERVERS=kafka:9092 -p 9108:9108 lead-router   # = run
#
# Stage 1 builds wheels of lead-router and of every dependency; stage 2 installs them into a
# virtual environment without compilers, build tools or the source tree.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
# processor/wire/avsc is a symbolic link to the top-level schemas/ folder: both are needed.
COPY schemas/ schemas/
# processor/console/web/runbook.md links to the runbook: the console serves it at /runbook.
COPY docs/runbook.md docs/runbook.md
COPY processor/ processor/
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/lead-router/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    LEAD_ROUTER_METRICS_PORT=9108 \
    LEAD_ROUTER_METRICS_HOST=0.0.0.0
RUN groupadd --system --gid 10001 lead-router \
    && useradd --system --uid 10001 --gid lead-router --create-home \
        --home-dir /home/lead-router --shell /usr/sbin/nologin lead-router
# The wheels are mounted, not copied, so they leave no layer behind.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/lead-router \
    && /opt/lead-router/bin/pip install --no-index --find-links /wheels lead-router \
    && lead-router --version
USER 10001:10001
WORKDIR /home/lead-router
# /metrics, /healthz and /readyz (LEAD_ROUTER_METRICS_PORT), on every address of the container
# (LEAD_ROUTER_METRICS_HOST), for Prometheus and the probes; lead-router alone listens on loopback.
EXPOSE 9108
# SIGTERM commits the open transaction and exits 0; give it the grace period to do so.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('LEAD_ROUTER_METRICS_PORT', '9108'), timeout=4)"]
ENTRYPOINT ["lead-router"]
CMD ["run"]
