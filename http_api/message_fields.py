"""Bounds of the message fields that more than one HTTP surface accepts, kept below the
surfaces (/api/v1/email and /rest/mail alike), which do not import each other."""

# Characters of one tag: /api/v1/email's Tags, /rest/mail's `tag`; the length of storage's
# message_tags.tag column (storage/models.py, MessageTag), which a longer tag would not fit.
MAX_TAG_LENGTH = 128
