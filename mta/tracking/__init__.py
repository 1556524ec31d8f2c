"""Open and click tracking: the rewrite of a message's links at submission, the signed tokens its
URLs carry, and conversion ids (OCRIDs)."""
