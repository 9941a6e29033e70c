"""Views of the SMS domain: templates, log, campaigns."""
