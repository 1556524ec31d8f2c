"""How every queue-working process is built: one leased-worker machine and one retry rule
(delivery, webhook calls, background jobs)."""
