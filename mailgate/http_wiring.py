"""The HTTP app as `mailgate serve` configures it: mailgate's settings narrowed to the
`HttpSettings` http_api reads, and the submission gateway configured as the SMTP path's is.
http_api imports nothing from mailgate/; the translation lives here, on mailgate's side."""

from __future__ import annotations

from starlette.applications import Starlette

from http_api.app import create_app
from http_api.context import Failures, HttpSettings
from mailgate.config import Settings
from mta.submission.submit import Gateway
from storage.engine import Database
from storage.queue import QueueWriter


def http_settings(settings: Settings) -> HttpSettings:
    """The values of `settings` the HTTP app reads."""
    return HttpSettings(
        database_url=settings.database_url,
        hostname=settings.hostname,
        public_url=settings.public_url,
        conversion_key=settings.conversion_key,
        nameservers=settings.nameservers,
        allow_private_targets=settings.allow_private_targets,
        trusted_networks=settings.trusted_networks,
        api_rate_limit=settings.api_rate_limit,
        max_message_size=settings.max_message_size,
        soft_bounce_limit=settings.soft_bounce_limit,
        return_path_subdomain=settings.return_path_subdomain,
        track_prefix=settings.track_prefix,
        smtp_port=settings.smtp_port,
        submission_ports=settings.submission_ports,
        smtp_ports=tuple(settings.smtp_ports),
        spamd_address=settings.spamd_address,
        spam_test_daily_limit=settings.spam_test_daily_limit,
        sms_provider_url=settings.sms_provider_url,
        sms_provider_token=settings.sms_provider_token,
    )


def http_app(settings: Settings, supervisor_failures: Failures = list) -> Starlette:
    """The HTTP app on `settings`, its gateway configured as the SMTP listeners' is.
    `serve` passes what its supervisor knows to be wrong; the default, nothing, is for the tests
    that only read the app's routes."""

    def make_gateway(db: Database, writer: QueueWriter) -> Gateway:
        return Gateway.configured(db, writer, settings)

    return create_app(http_settings(settings), make_gateway, supervisor_failures)
