FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MAILGATE_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY mailgate ./mailgate
COPY mta ./mta
COPY http_api ./http_api
COPY storage ./storage
COPY dns_tools ./dns_tools
RUN pip install --no-cache-dir . && useradd --system --home /data mailgate \
    && mkdir -p /data && chown mailgate /data

VOLUME ["/data"]
# SMTP (MX), submission, submission, SMTPS, HTTP API
EXPOSE 25 587 2525 465 8080

# A non-root user may bind ports below 1024 here: Docker (20.10 and later) starts containers with
# net.ipv4.ip_unprivileged_port_start=0. With --network=host, move the ports (MAILGATE_*_PORT).
USER mailgate
# `mailgate init` is idempotent: it creates config, database, TLS and admin key on the first start
CMD ["sh", "-c", "mailgate init && exec mailgate serve"]
