"""Models of the SMS domain: messages and campaigns."""
