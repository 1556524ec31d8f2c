# Installs Mailgate as tests/test_packaging.py does: a wheel built from the source tree (less
# what .dockerignore leaves out), installed with its dependencies. No hand-made list of packages.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MAILGATE_DATA_DIR=/data

COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --home /data mailgate && mkdir -p /data && chown mailgate /data

VOLUME ["/data"]
# SMTP (MX), submission, submission, SMTPS, HTTP API (/api.php, /api/v1, /rest, tracking, /metrics)
EXPOSE 25 587 2525 465 8080

# /readyz answers 200 once the database answers. The port is read as `serve` reads it (file and
# environment); the container's own loopback reaches a listener bound to 0.0.0.0.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; from mailgate.config import load_settings; urllib.request.urlopen(f'http://127.0.0.1:{load_settings().http_port}/readyz', timeout=4)"]

# A non-root user may bind ports below 1024 here: Docker (20.10 and later) starts containers with
# net.ipv4.ip_unprivileged_port_start=0. With --network=host, move the ports (MAILGATE_*_PORT).
USER mailgate
# `mailgate init` is idempotent: it creates config, database, TLS and admin key on the first start
CMD ["sh", "-c", "mailgate init && exec mailgate serve"]
