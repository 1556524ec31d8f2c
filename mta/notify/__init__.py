"""Telling the customer's systems: signed webhook calls and background jobs with their callbacks."""
