"""Delivery to recipients' hosts: the worker that claims due recipients, each recipient's copy,
VERP return paths, and outbound SMTP behind one transport interface."""
