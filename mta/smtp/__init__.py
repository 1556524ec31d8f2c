"""The SMTP front door: aiosmtpd listeners and the handler that asks the submission path, the
address parser, STARTTLS, replies and the AUTH throttle."""
