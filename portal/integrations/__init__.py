"""Adapters to the bank's external systems, one interface each, HTTP by base URL.

Every adapter raises :class:`RetryableError` or :class:`PermanentError` so the outbox
knows whether to back off and try again or dead-letter at once.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask


def init_integrations(app: Flask) -> None:
    """Resolve adapter URLs (default: the sandbox peer) and the read-only ODS bind."""
    base = app.config.get("SANDBOX_URL", "http://127.0.0.1:5050").rstrip("/")
    for key in ("SMS_GATEWAY_URL", "CORE_BANKING_URL", "MOBILE_BANKING_URL", "CREDIT_BUREAU_URL"):
        if not app.config.get(key):
            app.config[key] = base
    if not app.config.get("DW_EXPORT_DIR"):
        app.config["DW_EXPORT_DIR"] = str(Path(app.instance_path) / "exports")
    from portal.integrations.ods import configure_bind

    configure_bind(app)
