"""Mail entering the queue, from SMTP and HTTP alike: the one path (submit.py), its pure policy
rules, reading and composing messages, DKIM, sending limits."""
