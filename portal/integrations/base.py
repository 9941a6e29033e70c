"""The shared HTTP plumbing of every adapter: base URL, credentials, timeouts, error classes."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from flask import current_app


class IntegrationError(Exception):
    """An external call failed."""

    retryable = False


class RetryableError(IntegrationError):
    """Worth trying again later: timeouts, connection errors, 5xx, 429."""

    retryable = True


class PermanentError(IntegrationError):
    """Trying again cannot help: the peer rejected the request (4xx), or a rule refused it."""


_clients: dict[tuple, httpx.Client] = {}
_lock = threading.Lock()


def client_for(config_key: str) -> httpx.Client:
    """A pooled httpx client for one system (base URL from settings)."""
    cfg = current_app.config
    key = (
        cfg[config_key],
        cfg["INTEGRATION_CONNECT_TIMEOUT"],
        cfg["INTEGRATION_READ_TIMEOUT"],
        cfg["INTEGRATION_TOKEN"],
    )
    with _lock:
        client = _clients.get(key)
        if client is None:
            timeout = httpx.Timeout(key[2], connect=key[1])
            client = httpx.Client(
                base_url=key[0],
                timeout=timeout,
                headers={
                    "Authorization": f"Bearer {key[3]}",
                    "X-Caller": cfg["INTEGRATION_USER"],
                },
            )
            _clients[key] = client
        return client


def call(
    config_key: str,
    method: str,
    path: str,
    *,
    json: Any = None,
    params: dict | None = None,
    idempotency_key: str | None = None,
) -> Any:
    """One HTTP call, errors classified; returns the decoded JSON body (None on 404 GET)."""
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    try:
        resp = client_for(config_key).request(
            method, path, json=json, params=params, headers=headers
        )
    except httpx.TimeoutException as exc:
        raise RetryableError(f"timeout calling {path}") from exc
    except httpx.TransportError as exc:
        raise RetryableError(f"connection error calling {path}: {type(exc).__name__}") from exc
    if resp.status_code == 404 and method == "GET":
        return None
    if resp.status_code == 429 or resp.status_code >= 500:
        raise RetryableError(f"HTTP {resp.status_code} from {path}")
    if resp.status_code >= 400:
        raise PermanentError(f"HTTP {resp.status_code} from {path}: {resp.text[:200]}")
    return resp.json() if resp.content else {}
