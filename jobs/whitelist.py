"""Whitelist jobs: run an import, the end-of-day batch, the mobile-banking delta sync."""

from __future__ import annotations


def run_import(import_id: int) -> dict:
    """Validate, stage and merge one uploaded whitelist file (see portal.whitelist.importing)."""
    from portal.whitelist.importing import run_import as run

    return run(import_id)
