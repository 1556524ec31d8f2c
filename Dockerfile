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

# Binding ports below 1024 as a non-root user needs the capability; `docker run` grants
# NET_BIND_SERVICE by default.
USER mailgate
# `mailgate init` is idempotent: it creates config, database, TLS and admin key on the first start
CMD ["sh", "-c", "mailgate init && exec mailgate serve"]
