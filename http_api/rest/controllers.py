"""Every `/rest` controller module, imported so that their actions register."""

from http_api.rest import (
    accounts,  # noqa: F401
    blocks,  # noqa: F401
    campaigns,  # noqa: F401
    field_values,  # noqa: F401
    mail,  # noqa: F401
    ping,  # noqa: F401
    reports,  # noqa: F401
    sms,  # noqa: F401
    spam_test,  # noqa: F401
    subscriber_lists,  # noqa: F401
    subscribers,  # noqa: F401
)
