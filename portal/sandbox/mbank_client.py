"""The sandbox's mobile-banking client (手机银行客户端模拟): sends signed channel API requests.

Used by the demo (``python -m portal.sandbox.mbank_client apply``), the tests and the
benchmark. It knows customers the way mobile banking does: from the whitelist offers the
portal pushed to the sandbox (``GET /_sandbox/mbank/offers``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import secrets
import sys
import time

import httpx

from portal.channel.keys import sign

DEMO_KEY_ID = "ck_sandbox_mbank"
DEMO_SECRET = os.environ.get("SANDBOX_CHANNEL_SECRET", "sandbox-mbank-secret-for-demo-only")
PREFIX = "/api/channel/v1"


def application_body(offer: dict, amount: str | None = None, request_id: str | None = None):
    """A realistic submit body for an offer as mobile banking holds it."""
    now = dt.datetime.now().astimezone()
    return {
        "request_id": request_id or "MB" + secrets.token_hex(10),
        "offer_id": offer["offer_id"],
        "id_number": offer["id_number"],
        "mobile": offer["mobile"],
        "amount": amount or str(min(float(offer["limit"]), 20000.0)),
        "authorization": {
            "ref": "ZXSQ" + secrets.token_hex(10),
            "version": "2026.1",
            "signed_at": now.isoformat(timespec="seconds"),
        },
        "contract": {
            "ref": "HT" + secrets.token_hex(10),
            "hash": hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
        },
        "device": {"os": "Android 14", "app_version": "8.2.0", "device_id": secrets.token_hex(8)},
    }


class MobileBankingClient:
    """Signs every request (HMAC-SHA256 over method, path, timestamp, nonce, body)."""

    def __init__(
        self,
        portal_url: str,
        key_id: str = DEMO_KEY_ID,
        secret: str = DEMO_SECRET,
        client: httpx.Client | None = None,
    ) -> None:
        self.key_id, self.secret = key_id, secret
        self.http = client or httpx.Client(base_url=portal_url.rstrip("/"), timeout=10)

    def headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        ts, nonce = str(int(time.time())), secrets.token_hex(12)
        return {
            "X-Api-Key": self.key_id,
            "X-Timestamp": ts,
            "X-Nonce": nonce,
            "X-Signature": sign(self.secret, method, path, ts, nonce, body),
            "Content-Type": "application/json",
        }

    def call(self, method: str, path: str, payload: dict | None = None) -> httpx.Response:
        full = PREFIX + path
        body = json.dumps(payload, ensure_ascii=False).encode() if payload is not None else b""
        return self.http.request(
            method, full, content=body, headers=self.headers(method, full, body)
        )

    def lookup(self, id_number: str, mobile: str) -> httpx.Response:
        return self.call("POST", "/offers/lookup", {"id_number": id_number, "mobile": mobile})

    def submit(self, offer: dict, **kw) -> httpx.Response:
        return self.call("POST", "/applications", application_body(offer, **kw))

    def status(self, app_no: str) -> httpx.Response:
        return self.call("GET", f"/applications/{app_no}")

    def withdraw(self, app_no: str, reason: str | None = None) -> httpx.Response:
        body = {"request_id": "WD" + secrets.token_hex(10)}
        if reason:
            body["reason"] = reason
        return self.call("POST", f"/applications/{app_no}/withdraw", body)


def synced_offers(sandbox_url: str, limit: int = 50) -> list[dict]:
    """Offers the portal synced to the sandbox's mobile banking (newest version of each)."""
    resp = httpx.get(sandbox_url.rstrip("/") + "/_sandbox/mbank/offers", params={"limit": limit})
    resp.raise_for_status()
    return resp.json()["offers"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="沙箱手机银行：发送已签名的消费易申请")
    p.add_argument("command", choices=["apply", "status"])
    p.add_argument("--portal", default=os.environ.get("PORTAL_URL", "http://127.0.0.1:5000"))
    p.add_argument("--sandbox", default=os.environ.get("SANDBOX_URL", "http://127.0.0.1:5050"))
    p.add_argument("--key-id", default=os.environ.get("CHANNEL_KEY_ID", DEMO_KEY_ID))
    p.add_argument("--secret", default=os.environ.get("CHANNEL_SECRET", DEMO_SECRET))
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--branch", help="only customers of this branch code, e.g. I01B01")
    p.add_argument("--app-no")
    args = p.parse_args(argv)
    client = MobileBankingClient(args.portal, args.key_id, args.secret)
    if args.command == "status":
        print(json.dumps(client.status(args.app_no).json(), ensure_ascii=False, indent=2))
        return 0
    sent = tried = 0
    for offer in synced_offers(args.sandbox, 500):
        if args.branch and offer.get("branch") != args.branch:
            continue
        tried += 1
        resp = client.submit(offer)
        print(resp.status_code, json.dumps(resp.json(), ensure_ascii=False))
        sent += resp.status_code == 201
        if sent >= args.count:
            break
    if not tried:
        where = f"网点 {args.branch} " if args.branch else ""
        print(
            f"沙箱手机银行中没有{where}已同步的预授信额度：请等待工作台把额度同步到手机银行"
            "（调度任务，约每分钟一次）后重试",
            file=sys.stderr,
        )
    elif not sent:
        print("没有一笔申请被受理（见上面的应答）", file=sys.stderr)
    return 0 if sent else 1


if __name__ == "__main__":
    sys.exit(main())
