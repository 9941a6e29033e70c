"""SMS (短信): messages through the outbox, templates, the send rate, campaigns."""
