"""Campaigns: the scheduler that starts due runs, the run's message and its merge tags, and the
double opt-in mail."""
