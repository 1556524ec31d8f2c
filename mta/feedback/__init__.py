"""What comes back: asynchronous bounces and complaint reports read and classified, turned into
events and suppressions."""
