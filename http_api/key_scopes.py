"""What a sender domain's API key opens, named once for both surfaces: /api/v1 honours it, and
/api.php's `emailgateway.addapi`/`getapis` show it as 004's `Permissions`."""

# POST /api/v1/email, GET /api/v1/events, and POST/GET/DELETE /api/v1/webhooks, for the key's
# own domain.
DOMAIN_KEY_PERMISSIONS = "email.send,events.read,webhooks.manage"
