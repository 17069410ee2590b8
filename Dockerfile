# syntax=docker/dockerfile:1
# The streamrouter worker image: the package and its runtime dependencies only (no dev
# tools, no embedded broker), run as a non-root user.
#
#   docker build -t streamrouter .
#   docker run --rm -e STREAMROUTER_BROKER=kafka://broker:9092 -e ANTHROPIC_API_KEY \
#     -p 6066:6066 streamrouter
#
# tests/deploy/test_image.py installs the package exactly as the build stage does (a
# fresh venv, `pip install .` of the files copied below) and lints this file.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/streamrouter
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streamrouter ./streamrouter
RUN /opt/streamrouter/bin/pip install --no-cache-dir .

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 streamrouter \
    && useradd --system --uid 10001 --gid streamrouter --no-log-init \
       --home-dir /var/lib/streamrouter --create-home --shell /usr/sbin/nologin streamrouter
COPY --from=build /opt/streamrouter /opt/streamrouter
ENV PATH=/opt/streamrouter/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STREAMROUTER_WEB_PORT=6066 \
    STREAMROUTER_DATA_DIR=/var/lib/streamrouter/data
WORKDIR /var/lib/streamrouter
USER 10001:10001
EXPOSE 6066
# /healthz on the worker's web port; python, because the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('STREAMROUTER_WEB_PORT', '6066'), timeout=4)"]
ENTRYPOINT ["streamrouter"]
CMD ["worker", "--loglevel", "info"]
