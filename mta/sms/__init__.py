"""SMS: what a message may hold, and the providers that send it."""
