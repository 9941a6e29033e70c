"""RQ job functions: importable by dotted path, take ids, run inside the app context."""
