"""Issue 14, items 1 and 7: move the flat ``portal/`` (and ``models/``, ``views/``, ``jobs/``,
``tests/``) into domain packages, then rewrite every reference to a moved module.

Run once, from the repository root, on a clean tree (``git status`` empty), with the project's
venv (its ``ruff`` is used at the end)::

    .venv/bin/python scripts/restructure14.py            # check, move, rewrite, ruff --fix
    .venv/bin/python scripts/restructure14.py --check    # only check the tables against the tree

It refuses to run while a tracked ``.py`` file under portal/ models/ views/ jobs/ tests/ is
neither moved (MOVES) nor kept in place (KEEP): add new modules to the tables first. What it does:

1. ``git mv`` every file of MOVES; new packages get an ``__init__.py`` (NEW_FILES).
2. EXTRACTS: top-level definitions taken out of one file into another (helpers out of conftest
   modules and test files into ``tests/support/``; shared fixtures into ``tests/conftest.py``).
3. Every text file of the repository is rewritten with the module table (old dotted name → new
   dotted name, old path → new path), with word boundaries: ``import``/``from`` statements,
   function-level imports, ``mock.patch("portal.x.y")`` strings, dotted job paths
   (``"jobs.cron.…"``), ``python -m portal.x``, paths in docs, ``.ci/run``, pyproject, babel.cfg.
   ``from portal import audit, login_guard`` (submodules imported from a package) is split per
   new package, keeping each local name (``from portal.access import audit, login_guard``;
   ``from portal.whitelist import importing as whitelist_import`` where the file name changed).
4. TEXT_EDITS (exact, each must match once), APPENDS, and the integration marker on the
   former ``tests/integration/`` modules (which keep running first: see APPENDS).
5. ``ruff check --fix --select I,F401`` and ``ruff format`` on the touched Python files.

The script is kept only until it has been applied on main.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

# ------------------------------------------------------------------------------------------------
# The tables. Paths are relative to the repository root; a .py path defines the dotted module.
# ------------------------------------------------------------------------------------------------

MOVES: dict[str, str] = {
    # --- portal/core: infrastructure every layer may use -----------------------------------------
    "portal/extensions.py": "portal/core/extensions.py",
    "portal/errors.py": "portal/core/errors.py",
    "portal/redis_conn.py": "portal/core/redis_conn.py",
    "portal/masking.py": "portal/core/masking.py",
    "portal/identity.py": "portal/core/identity.py",
    "portal/form_validators.py": "portal/core/form_validators.py",
    "portal/upload_safety.py": "portal/core/upload_safety.py",
    "portal/sqlfuncs.py": "portal/core/sqlfuncs.py",
    "portal/multirow.py": "portal/core/multirow.py",
    "portal/statement_batch.py": "portal/core/single_statement.py",
    "portal/log_redaction.py": "portal/core/log_redaction.py",
    # issue 13's new modules (on main at c40facd; absent files are skipped with a notice)
    "portal/text_input.py": "portal/core/text_input.py",
    "portal/form_input.py": "portal/core/form_input.py",
    "portal/list_args.py": "portal/core/list_args.py",
    "portal/child_process.py": "portal/core/child_process.py",
    "portal/workbook_extent.py": "portal/core/workbook_extent.py",
    "portal/workbook_layout.py": "portal/core/workbook_layout.py",
    # --- portal/access: who may do and see what ----------------------------------------------
    "portal/permissions.py": "portal/access/permissions.py",
    "portal/roles.py": "portal/access/roles.py",
    "portal/scoping.py": "portal/access/scoping.py",
    "portal/security.py": "portal/access/security_manager.py",
    "portal/websecurity.py": "portal/access/http_security.py",
    "portal/login_guard.py": "portal/access/login_guard.py",
    "portal/passwords.py": "portal/access/passwords.py",
    "portal/org.py": "portal/access/org.py",
    "portal/staff.py": "portal/access/staff.py",
    "portal/audit.py": "portal/access/audit.py",
    "portal/exports.py": "portal/access/exports.py",
    "portal/sessions.py": "portal/access/sessions.py",
    "portal/masked_search.py": "portal/access/masked_search.py",
    "portal/scope_audit.py": "portal/access/scope_audit.py",
    # --- portal/customers ------------------------------------------------------------------------
    "portal/customers.py": "portal/customers/service.py",
    # --- portal/whitelist: products, blacklist, imports, offers and their sync -------------------
    "portal/products.py": "portal/whitelist/products.py",
    "portal/whitelist_columns.py": "portal/whitelist/columns.py",
    "portal/whitelist_import.py": "portal/whitelist/importing.py",
    "portal/whitelist_merge.py": "portal/whitelist/merge.py",
    "portal/whitelist_progress.py": "portal/whitelist/progress.py",
    "portal/whitelist_reader.py": "portal/whitelist/reader.py",
    "portal/whitelist_rows.py": "portal/whitelist/rows.py",
    "portal/whitelist_sample.py": "portal/whitelist/sample.py",
    "portal/whitelist_workbook.py": "portal/whitelist/workbook.py",
    "portal/whitelist_writer.py": "portal/whitelist/writer.py",
    "portal/offers.py": "portal/whitelist/offers.py",
    "portal/offer_sync.py": "portal/whitelist/offer_sync.py",
    "portal/whitelist_lease.py": "portal/whitelist/lease.py",
    "portal/blacklist_reader.py": "portal/whitelist/blacklist_reader.py",
    # --- portal/sms: messages, templates, campaigns ----------------------------------------------
    "portal/sms.py": "portal/sms/messages.py",
    "portal/sms_templates.py": "portal/sms/templates.py",
    "portal/sms_seed.py": "portal/sms/standard_templates.py",
    "portal/rate_limit.py": "portal/sms/rate_limit.py",
    "portal/campaigns.py": "portal/sms/campaigns.py",
    # --- portal/channel: the signed channel API (mobile banking → portal) ------------------------
    "portal/channel_keys.py": "portal/channel/keys.py",
    "portal/channel_openapi.py": "portal/channel/openapi.py",
    "portal/intake.py": "portal/channel/intake.py",
    "portal/intake_input.py": "portal/channel/request_bodies.py",
    "portal/intake_status.py": "portal/channel/status.py",
    "portal/channel_errors.py": "portal/channel/errors.py",
    # --- portal/applications: the lifecycle and the account manager's work -----------------------
    "portal/lifecycle.py": "portal/applications/lifecycle.py",
    "portal/lifecycle_guard.py": "portal/applications/lifecycle_guard.py",
    "portal/lifecycle_table.py": "portal/applications/lifecycle_table.py",
    "portal/application_batch.py": "portal/applications/timeouts.py",
    "portal/application_desk.py": "portal/applications/desk.py",
    "portal/application_effects.py": "portal/applications/effects.py",
    "portal/assignment.py": "portal/applications/assignment.py",
    "portal/workbench.py": "portal/applications/workbench.py",
    # --- portal/approvals --------------------------------------------------------------------------
    "portal/approval_decision.py": "portal/approvals/decisions.py",
    "portal/approval_handlers.py": "portal/approvals/handlers.py",
    "portal/approval_history.py": "portal/approvals/history.py",
    "portal/approval_home.py": "portal/approvals/home_panel.py",
    "portal/approval_policy.py": "portal/approvals/policy.py",
    "portal/approval_queue.py": "portal/approvals/case_queue.py",
    # --- portal/credit: lines, contracts, disbursement, account opening, core-banking feeds ------
    "portal/credit_lines.py": "portal/credit/lines.py",
    "portal/limit_adjust.py": "portal/credit/limit_adjust.py",
    "portal/line_expiry.py": "portal/credit/line_expiry.py",
    "portal/contracts.py": "portal/credit/contracts.py",
    "portal/disbursement.py": "portal/credit/disbursement.py",
    "portal/batch_opening.py": "portal/credit/account_opening.py",
    "portal/usage_feed.py": "portal/credit/usage_feed.py",
    # --- portal/reports: summary tables, dashboards, daily reports, ODS data sets ----------------
    "portal/aggregate_sql.py": "portal/reports/aggregate_sql.py",
    "portal/aggregates.py": "portal/reports/aggregates.py",
    "portal/daily_report.py": "portal/reports/daily_report.py",
    "portal/dashboard_data.py": "portal/reports/dashboard_data.py",
    "portal/dashboards.py": "portal/reports/dashboards.py",
    "portal/role_dashboards.py": "portal/reports/role_dashboards.py",
    "portal/charts.py": "portal/reports/charts.py",
    "portal/home.py": "portal/reports/home_figures.py",
    "portal/ods_datasets.py": "portal/reports/ods_datasets.py",
    "portal/report_cli.py": "portal/reports/cli.py",
    # --- portal/background: outbox, RQ queues, schedules, job monitor ----------------------------
    "portal/outbox.py": "portal/background/outbox.py",
    "portal/handlers.py": "portal/background/handlers.py",
    "portal/queues.py": "portal/background/rq_queues.py",
    "portal/schedules.py": "portal/background/schedules.py",
    "portal/job_monitor.py": "portal/background/job_monitor.py",
    # --- portal/demo: all demo seeding -------------------------------------------------------------
    "portal/demo.py": "portal/demo/seed.py",
    "portal/whitelist_demo.py": "portal/demo/whitelist.py",
    "portal/approval_demo.py": "portal/demo/approvals.py",
    "portal/report_demo.py": "portal/demo/reports.py",
    # --- models: one module (or sub-package) per domain --------------------------------------------
    "models/types.py": "models/core.py",
    "models/org.py": "models/access/org.py",
    "models/staff.py": "models/access/staff.py",
    "models/audit.py": "models/access/audit.py",
    "models/customer.py": "models/customers.py",
    "models/sms.py": "models/sms/messages.py",
    "models/campaign.py": "models/sms/campaigns.py",
    "models/application.py": "models/applications.py",
    "models/approval.py": "models/approvals.py",
    "models/bureau.py": "models/integrations.py",
    "models/jobs.py": "models/background.py",
    # --- views --------------------------------------------------------------------------------------
    "views/audit.py": "views/access/audit.py",
    "views/auth.py": "views/access/auth.py",
    "views/fab_security.py": "views/access/fab_security_views.py",
    "views/org.py": "views/access/org.py",
    "views/staff.py": "views/access/staff.py",
    "views/security_api.py": "views/access/security_api.py",
    "views/sms.py": "views/sms/messages.py",
    "views/campaigns.py": "views/sms/campaigns.py",
    "views/channel_admin.py": "views/channel/admin.py",
    "views/channel_api.py": "views/channel/api.py",
    "views/dashboards.py": "views/reports/dashboards.py",
    "views/reports.py": "views/reports/daily_reports.py",
    "views/jobs.py": "views/background.py",
    "views/offers.py": "views/whitelist/offers.py",
    "views/whitelist.py": "views/whitelist/admin.py",
    # --- jobs ---------------------------------------------------------------------------------------
    "jobs/approvals.py": "jobs/credit.py",
    "jobs/cron.py": "jobs/background/cron.py",
    "jobs/schedule.py": "jobs/background/schedule.py",
    "jobs/worker.py": "jobs/background/worker.py",
    "jobs/outbox.py": "jobs/background/outbox.py",
    "jobs/maintenance.py": "jobs/background/maintenance.py",
    "jobs/supervisor.py": "jobs/background/supervisor.py",
    # --- tests: tests/<domain>/, helpers in tests/support/ -----------------------------------------
    "tests/app_factories.py": "tests/support/applications.py",
    "tests/approval_factories.py": "tests/support/approvals.py",
    "tests/credit_factories.py": "tests/support/credit.py",
    "tests/live_server.py": "tests/support/live_server.py",
    "tests/list_views.py": "tests/support/list_views.py",
    "tests/workbook_factories.py": "tests/support/workbooks.py",
    "tests/test_audit.py": "tests/access/test_audit.py",
    "tests/test_org_admin.py": "tests/access/test_org_admin.py",
    "tests/test_permission_matrix.py": "tests/access/test_permission_matrix.py",
    "tests/permission_matrix.csv": "tests/access/permission_matrix.csv",
    "tests/test_scope.py": "tests/access/test_scope.py",
    "tests/test_scoping_unit.py": "tests/access/test_scoping_unit.py",
    "tests/test_security.py": "tests/access/test_security.py",
    "tests/test_browser.py": "tests/access/test_browser_login.py",
    "tests/test_sessions.py": "tests/access/test_sessions.py",
    "tests/test_login_policy.py": "tests/access/test_login_policy.py",
    "tests/test_masked_filters.py": "tests/access/test_masked_filters.py",
    "tests/test_i18n.py": "tests/core/test_i18n.py",
    "tests/test_identity.py": "tests/core/test_identity.py",
    "tests/test_log_redaction.py": "tests/core/test_log_redaction.py",
    "tests/test_multirow.py": "tests/core/test_multirow.py",
    "tests/test_platform.py": "tests/core/test_platform.py",
    "tests/test_smoke.py": "tests/core/test_smoke.py",
    "tests/test_statement_batch.py": "tests/core/test_single_statement.py",
    "tests/test_text_input.py": "tests/core/test_text_input.py",
    "tests/test_form_input.py": "tests/core/test_form_input.py",
    "tests/test_list_hardening.py": "tests/core/test_list_hardening.py",
    "tests/test_customers.py": "tests/customers/test_customers.py",
    "tests/test_whitelist_import.py": "tests/whitelist/test_whitelist_import.py",
    "tests/test_browser_whitelist.py": "tests/whitelist/test_browser_whitelist.py",
    "tests/test_offer_release.py": "tests/whitelist/test_offer_release.py",
    "tests/test_whitelist_layouts.py": "tests/whitelist/test_whitelist_layouts.py",
    "tests/test_workbook_uploads.py": "tests/whitelist/test_workbook_uploads.py",
    "tests/integration/test_whitelist_flow.py": "tests/whitelist/test_whitelist_flow.py",
    "tests/integration/test_jobs_sms.py": "tests/sms/test_jobs_sms.py",
    "tests/test_channel_api.py": "tests/channel/test_channel_api.py",
    "tests/test_channel_app.py": "tests/channel/test_channel_app.py",
    "tests/test_channel_keys.py": "tests/channel/test_channel_keys.py",
    "tests/test_channel_schemathesis.py": "tests/channel/test_channel_schemathesis.py",
    "tests/test_application_batch.py": "tests/applications/test_timeouts.py",
    "tests/test_application_views.py": "tests/applications/test_application_views.py",
    "tests/test_assignment.py": "tests/applications/test_assignment.py",
    "tests/test_lifecycle.py": "tests/applications/test_lifecycle.py",
    "tests/test_browser_applications.py": "tests/applications/test_browser_applications.py",
    "tests/integration/test_application_flow.py": "tests/applications/test_application_flow.py",
    "tests/test_approval_escalation.py": "tests/approvals/test_escalation.py",
    "tests/test_approval_policy.py": "tests/approvals/test_policy.py",
    "tests/test_approval_queue.py": "tests/approvals/test_case_queue.py",
    "tests/test_approval_views.py": "tests/approvals/test_approval_views.py",
    "tests/integration/test_browser_approval.py": "tests/approvals/test_browser_approval.py",
    "tests/test_line_expiry.py": "tests/credit/test_line_expiry.py",
    "tests/integration/test_disbursement.py": "tests/credit/test_disbursement.py",
    "tests/integration/test_limit_adjust.py": "tests/credit/test_limit_adjust.py",
    "tests/integration/test_usage_feed.py": "tests/credit/test_usage_feed.py",
    "tests/test_aggregates.py": "tests/reports/test_aggregates.py",
    "tests/test_dashboards.py": "tests/reports/test_dashboards.py",
    "tests/test_dashboard_browser.py": "tests/reports/test_dashboard_browser.py",
    "tests/test_reports.py": "tests/reports/test_reports.py",
    "tests/integration/test_jobs_faults.py": "tests/background/test_jobs_faults.py",
    "tests/integration/test_jobs_monitor.py": "tests/background/test_jobs_monitor.py",
    "tests/integration/test_jobs_outbox.py": "tests/background/test_jobs_outbox.py",
    "tests/integration/test_jobs_schedules.py": "tests/background/test_jobs_schedules.py",
    "tests/test_demo.py": "tests/demo/test_demo.py",
    "tests/test_approval_demo.py": "tests/demo/test_approval_demo.py",
}

# Tracked files under portal/ models/ views/ jobs/ tests/ that stay where they are.
KEEP: set[str] = {
    "portal/__init__.py",  # create_app: the composition root
    "portal/cli.py",  # the `portal` command
    "portal/channel_app.py",  # the channel API's own deployment: a second composition root
    "portal/integrations/__init__.py",
    "portal/integrations/base.py",
    "portal/integrations/core_banking.py",
    "portal/integrations/credit_bureau.py",
    "portal/integrations/dw_export.py",
    "portal/integrations/mobile_banking.py",
    "portal/integrations/ods.py",
    "portal/integrations/sms_gateway.py",
    "portal/sandbox/__init__.py",
    "portal/sandbox/app.py",
    "portal/sandbox/core.py",
    "portal/sandbox/mbank_client.py",
    "portal/sandbox/ods_seed.py",
    "portal/sandbox/state.py",
    "models/__init__.py",
    "models/credit.py",
    "models/reports.py",
    "models/whitelist.py",
    "views/__init__.py",
    "views/base.py",
    "views/home.py",  # the home page: panels of several domains
    "views/applications.py",
    "views/approvals.py",
    "views/credit.py",
    "views/customers.py",
    "views/list_guard.py",  # every list's arguments checked: shared, like base.py (issue 13)
    "jobs/__init__.py",
    "jobs/sms.py",
    "jobs/whitelist.py",
    "tests/conftest.py",
}

# Files emptied by EXTRACTS and then removed.
REMOVE_WHEN_EMPTY: list[str] = ["tests/integration/conftest.py"]

# Files created (new packages, new support modules): path → content.
_PKG = '"""{}"""\n'
NEW_FILES: dict[str, str] = {
    "portal/core/__init__.py": _PKG.format(
        "Infrastructure every layer may use: extensions, Redis, errors, masking, identity rules,"
        "\nupload checks and the SQL helpers of the hot paths."
    ),
    "portal/access/__init__.py": _PKG.format(
        "Who may do and see what: permissions, roles, the data scope, the security manager,"
        "\nHTTP security, login throttling, passwords, the org tree, staff, audit and exports."
    ),
    "portal/customers/__init__.py": _PKG.format("Customers (客户): identity, org and unmasking."),
    "portal/whitelist/__init__.py": _PKG.format(
        "Whitelist (白名单): products, the blacklist, imports, pre-approved offers and their sync."
    ),
    "portal/sms/__init__.py": _PKG.format(
        "SMS (短信): messages through the outbox, templates, the send rate, campaigns."
    ),
    "portal/channel/__init__.py": _PKG.format(
        "The channel API (渠道接入): keys and signing, intake, reads and withdrawal, OpenAPI\n(its own deployment is portal/channel_app.py, a composition root)."
    ),
    "portal/applications/__init__.py": _PKG.format(
        "Applications (申请): the lifecycle, assignment, the account manager's desk and workbench."
    ),
    "portal/approvals/__init__.py": _PKG.format(
        "Approvals (审批): policies, the case queue, decisions, history and outbox kinds."
    ),
    "portal/credit/__init__.py": _PKG.format(
        "Credit (额度与合同): lines, limit adjustment, expiry, contracts, disbursement,"
        "\naccount opening and the used-amount feed."
    ),
    "portal/reports/__init__.py": _PKG.format(
        "Reports and dashboards (报表与看板): summary tables, charts, daily reports, ODS data sets."
    ),
    "portal/background/__init__.py": _PKG.format(
        "Background work: the transactional outbox, RQ queues, schedules and the job monitor."
    ),
    "portal/demo/__init__.py": _PKG.format("Demo data (演示数据): everything `portal demo` seeds."),
    "models/access/__init__.py": _PKG.format(
        "Models of the access domain: org tree, staff, audit."
    ),
    "models/sms/__init__.py": _PKG.format("Models of the SMS domain: messages and campaigns."),
    "views/access/__init__.py": _PKG.format(
        "Views of the access domain: login, org tree, staff, audit log, FAB's security pages."
    ),
    "views/sms/__init__.py": _PKG.format("Views of the SMS domain: templates, log, campaigns."),
    "views/channel/__init__.py": _PKG.format("The channel API and its administration."),
    "views/reports/__init__.py": _PKG.format("Views of the reports domain: dashboards, reports."),
    "views/whitelist/__init__.py": _PKG.format(
        "Views of the whitelist domain: products, blacklist, imports, offers."
    ),
    "jobs/background/__init__.py": _PKG.format(
        "The worker and cron processes and the jobs of the outbox, schedules and housekeeping."
    ),
    "tests/support/__init__.py": _PKG.format(
        "Test helpers and factories (the only module tests import helpers from: no test imports"
        "\nfrom a conftest module or from another test file)."
    ),
    "tests/support/clients.py": _PKG.format("Logged-in test clients and browser pages per role.")
    + "\nfrom __future__ import annotations\n",
    "tests/support/database.py": _PKG.format("Database helpers for tests: table fingerprints.")
    + "\nfrom __future__ import annotations\n",
    "tests/support/processes.py": _PKG.format(
        "Helpers of the jobs & integrations tests: free ports, the sandbox peer's handle, the"
        "\nenvironment of worker and cron subprocesses, and draining the outbox in-process."
    )
    + "\nfrom __future__ import annotations\n",
}

# Top-level definitions moved out of one file into another: (from, names, to). Paths are the
# files' paths BEFORE the moves. A name moved into a conftest (a fixture) is dropped from the
# import statements that imported it; any other moved name is imported from its new module.
EXTRACTS: list[tuple[str, list[str], str]] = [
    ("tests/conftest.py", ["ROLE_USERS", "login", "browser_login"], "tests/support/clients.py"),
    (
        "tests/test_permission_matrix.py",
        ["UNTOUCHED_EXCEPT", "LOGIN_BOOKKEEPING", "table_fingerprints"],
        "tests/support/database.py",
    ),
    ("tests/test_approval_views.py", ["_line"], "tests/support/credit.py"),
    ("tests/test_security.py", ["_second_app"], "tests/support/clients.py"),
    ("tests/test_sessions.py", ["PASSWORD", "fresh_user", "api_token"], "tests/support/clients.py"),
    ("tests/test_whitelist_import.py", ["products"], "tests/conftest.py"),
    ("tests/test_whitelist_import.py", ["run", "submit_and_run"], "tests/support/workbooks.py"),
    ("tests/test_browser.py", ["live_url", "browser"], "tests/conftest.py"),
    (
        "tests/integration/conftest.py",
        [
            *("ROOT", "free_port", "wait_http", "Sandbox", "base_env", "drain"),
            *("child_pids", "rq_worker_pids", "wait_for"),  # issue 13 (on main at c40facd)
        ],
        "tests/support/processes.py",
    ),
    (
        "tests/integration/conftest.py",
        ["ADAPTER_KEYS", "sandbox_proc", "sandbox", "spawn", "sms_templates"],
        "tests/conftest.py",
    ),
]

# Modules formerly in tests/integration/: they get these marks (pytest.mark.integration is
# registered by TEXT_EDITS; sms_templates was autouse in tests/integration/conftest.py).
INTEGRATION_DIR = "tests/integration/"
INTEGRATION_MARKS = ["pytest.mark.integration", 'pytest.mark.usefixtures("sms_templates")']

# Exact edits after the moves (path AFTER the moves, old text, new text); each must match once.
TEXT_EDITS: list[tuple[str, str, str]] = [
    (  # prose in a docstring that names an import
        "portal/applications/lifecycle.py",
        "``from portal import lifecycle`` stays the one import for callers.",
        "``from portal.applications import lifecycle`` stays the one import for callers.",
    ),
    (  # code in a string (run by a child interpreter), before issue 13
        "tests/whitelist/test_whitelist_import.py",
        '''        "from portal import whitelist_reader as r\\n"''',
        '''        "from portal.whitelist import reader as r\\n"''',
    ),
    (  # code in a string (run by a child interpreter): the AST rewrite does not see it
        "tests/whitelist/test_whitelist_import.py",
        '''        "from portal import child_process, whitelist_reader as r\\n"''',
        '''        "from portal.core import child_process\\n"
        "from portal.whitelist import reader as r\\n"''',
    ),
    (  # issue 13's list tests find the views by scanning the package: now with sub-packages
        "tests/support/list_views.py",
        """    for info in pkgutil.iter_modules(views.__path__):
        module = importlib.import_module(f"views.{info.name}")""",
        """    for info in pkgutil.walk_packages(views.__path__, "views."):  # views/<domain>/ too
        module = importlib.import_module(info.name)""",
    ),
    (  # one folder deeper: the repository root is two levels up now
        "tests/core/test_i18n.py",
        "ROOT = Path(__file__).resolve().parent.parent",
        "ROOT = Path(__file__).resolve().parents[2]",
    ),
    (
        "tests/conftest.py",
        '@pytest.fixture(scope="session", autouse=True)\ndef sms_templates(',
        '@pytest.fixture(scope="session")\ndef sms_templates(',
    ),
    (
        "pyproject.toml",
        '    "postgres: needs PostgreSQL",\n',
        '    "postgres: needs PostgreSQL",\n'
        '    "integration: real processes (worker, cron, the sandbox peer) over HTTP and RQ",\n',
    ),
]

# Text appended after the moves (path AFTER the moves, text).
APPENDS: list[tuple[str, str]] = [
    (
        "tests/conftest.py",
        '''

def pytest_collection_modifyitems(items):
    """The order the flat tests/ folder gave, where the tests depend on it: first the tests
    with real worker and cron processes (marker `integration`, in module order, as from
    tests/integration/) — those processes run every schedule over the whole shared database
    (offer sync, summary refresh, …), which the other tests fill; then tests/demo/, which
    checks the seed as `portal demo` leaves it (other tests add org units and staff). Until
    each test cleans up what it depends on, the order matters."""

    def rank(item) -> tuple[int, str]:
        if item.get_closest_marker("integration"):
            return (0, item.path.name)
        return (1, "") if item.path.parent.name == "demo" else (2, "")

    items.sort(key=rank)  # stable: everything else keeps the collection order
''',
    ),
]

# Text files rewritten (by suffix, or by exact path); never this script or its notes.
TEXT_SUFFIXES = {".py", ".md", ".toml", ".cfg", ".ini", ".sh", ".txt", ".html", ".yml", ".po"}
TEXT_PATHS = {".ci/run", "README.md"}
SKIP_PATHS = {"scripts/restructure14.py", "scripts/restructure14.md"}
CHECKED_DIRS = ("portal/", "models/", "views/", "jobs/", "tests/")

# ------------------------------------------------------------------------------------------------


def run(*cmd: str, check: bool = True) -> str:
    out = subprocess.run(cmd, check=check, capture_output=True, text=True)
    return out.stdout


def dotted(path: str) -> str | None:
    if not path.endswith(".py"):
        return None
    parts = path[:-3].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


_TRACKED: set[str] | None = None


def tracked() -> set[str]:
    """The tracked files when the script started (before any move)."""
    global _TRACKED
    if _TRACKED is None:
        _TRACKED = set(run("git", "ls-files").splitlines())
    return _TRACKED


def present_moves() -> dict[str, str]:
    """MOVES whose source is on this tree (the tables may list files of other branches)."""
    return {old: new for old, new in MOVES.items() if old in tracked()}


def active_extracts() -> list[tuple[str, list[str], str]]:
    """EXTRACTS whose source and destination are on this tree (or created by the script)."""
    targets = set(present_moves().values()) | set(NEW_FILES)
    return [
        (src, names, dst)
        for src, names, dst in EXTRACTS
        if src in tracked() and (dst in tracked() or dst in targets or MOVES.get(dst) in targets)
    ]


def module_table() -> dict[str, str]:
    table = {}
    for old, new in MOVES.items():
        if dotted(old):
            table[dotted(old)] = dotted(new)
    return table


def symbol_table() -> dict[tuple[str, str], str | None]:
    """(old module, name) → new module of the name (None: a fixture now in a conftest)."""
    table: dict[tuple[str, str], str | None] = {}
    for src, names, dst in active_extracts():
        target = None if dst.endswith("conftest.py") else dotted(MOVES.get(dst, dst))
        for name in names:
            table[(dotted(src), name)] = target
    return table


# --- checks -------------------------------------------------------------------------------------


def check_tree() -> list[str]:
    problems = []
    tracked_set = tracked()
    for path in sorted(tracked_set):
        if not path.startswith(CHECKED_DIRS):
            continue
        if path in MOVES or path in KEEP or path in REMOVE_WHEN_EMPTY:
            continue
        if path.endswith(".py") or path.startswith("tests/"):
            problems.append(f"not in MOVES nor KEEP: {path}")
    absent = [path for path in (*MOVES, *KEEP, *REMOVE_WHEN_EMPTY) if path not in tracked_set]
    if absent:
        print("restructure14: not on this tree, skipped:", *absent, sep="\n  ")
    skipped = [e for e in EXTRACTS if e not in active_extracts()]
    for src, _names, dst in skipped:
        print(f"restructure14: EXTRACTS skipped (a file is not on this tree): {src} → {dst}")
    for new in (*MOVES.values(), *NEW_FILES):
        if new in tracked_set:
            problems.append(f"target exists already: {new}")
    targets = list(MOVES.values())
    if len(set(targets)) != len(targets):
        problems.append("two files move to the same target")
    # test modules live in folders without __init__.py: their basenames must stay unique
    seen: dict[str, str] = {}
    for path in [*(MOVES.get(p, p) for p in tracked_set if p.startswith("tests/")), *NEW_FILES]:
        name = Path(path).name
        if name.startswith("test_") and name.endswith(".py"):
            if name in seen:
                problems.append(f"two test modules named {name}: {seen[name]}, {path}")
            seen[name] = path
    for src, names, _dst in active_extracts():
        defined = set(top_level_names(Path(src).read_text(encoding="utf-8")))
        missing = [name for name in names if name not in defined]
        if missing:  # a helper another branch adds: skipped here, moved where it exists
            print(f"restructure14: EXTRACTS: not in {src} on this tree, skipped: {missing}")
    return problems


def top_level_names(source: str) -> dict[str, ast.stmt]:
    names: dict[str, ast.stmt] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
    return names


# --- step 1: moves ------------------------------------------------------------------------------


def do_moves() -> None:
    for old, new in present_moves().items():
        Path(new).parent.mkdir(parents=True, exist_ok=True)
        run("git", "mv", old, new)
    for path, content in NEW_FILES.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(content, encoding="utf-8")
        run("git", "add", path)


# --- step 2: extracts ---------------------------------------------------------------------------


def _span(lines: list[str], node: ast.stmt) -> tuple[int, int]:
    """0-based [start, end) lines of a top-level statement with its decorators and the
    comment lines directly above it."""
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
    while start > 0 and lines[start - 1].lstrip().startswith("#"):
        start -= 1
    return start, node.end_lineno


def _import_lines(source: str) -> list[str]:
    """The module's top-level imports, one statement per imported name."""
    out = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            for a in node.names:
                out.append(f"import {a.name}" + (f" as {a.asname}" if a.asname else ""))
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            for a in node.names:
                alias = f" as {a.asname}" if a.asname else ""
                out.append(f"from {node.module} import {a.name}{alias}")
    return out


def _insert_after_imports(source: str, new_lines: list[str]) -> str:
    """Insert lines after the last top-level import (or after the docstring)."""
    if not new_lines:
        return source
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    at = 0
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            at = node.end_lineno
        elif at == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            at = node.end_lineno
        elif at:
            break
    block = "".join(line + "\n" for line in new_lines)
    return "".join(lines[:at]) + block + "".join(lines[at:])


def do_extracts() -> set[str]:
    touched: set[str] = set()
    # group by source: every destination of one source may need the others' names
    by_src: dict[str, list[tuple[list[str], str]]] = {}
    for src, names, dst in active_extracts():
        by_src.setdefault(src, []).append((names, dst))
    for src, groups in by_src.items():
        src_now = MOVES.get(src, src)
        source = Path(src_now).read_text(encoding="utf-8")
        imports = _import_lines(source)
        defs = top_level_names(source)
        groups = [([n for n in names if n in defs], dst) for names, dst in groups]
        lines = source.splitlines(keepends=True)
        removed: set[int] = set()
        for names, dst in groups:
            dst_now = MOVES.get(dst, dst)
            chunks = []
            for name in sorted(names, key=lambda n: defs[n].lineno):
                start, end = _span(lines, defs[name])
                chunks.append("".join(lines[start:end]).rstrip("\n") + "\n")
                removed.update(range(start, end))
            # the other destinations' names this code may use
            siblings = [
                f"from {dotted(MOVES.get(d, d))} import {n}"
                for ns, d in groups
                if d != dst and not d.endswith("conftest.py")
                for n in ns
            ]
            target = Path(dst_now).read_text(encoding="utf-8")
            have = set(_import_lines(target))
            own = dotted(dst_now)
            wanted = [
                line
                for line in imports + siblings
                if line not in have and not line.startswith(f"from {own} import ")
            ]
            target = _insert_after_imports(target, wanted)
            target = target.rstrip("\n") + "\n\n\n" + "\n\n".join(chunks)
            Path(dst_now).write_text(target, encoding="utf-8")
            touched.add(dst_now)
        kept = "".join(line for i, line in enumerate(lines) if i not in removed)
        kept = re.sub(r"\n{4,}", "\n\n\n", kept)
        # the source still uses some of the moved names: import them (ruff drops the unused)
        uses = [
            f"from {dotted(MOVES.get(dst, dst))} import {name}"
            for names, dst in groups
            if not dst.endswith("conftest.py")
            for name in names
        ]
        kept = _insert_after_imports(kept, uses)
        Path(src_now).write_text(kept, encoding="utf-8")
        touched.add(src_now)
    for path in REMOVE_WHEN_EMPTY:
        if path not in tracked():
            continue
        body = ast.parse(Path(path).read_text(encoding="utf-8")).body
        rest = [n for n in body if not isinstance(n, ast.Import | ast.ImportFrom | ast.Expr)]
        if rest:
            sys.exit(f"{path} still defines {[ast.dump(n)[:60] for n in rest]}: extend EXTRACTS")
        run("git", "rm", "-q", "-f", path)
        touched.discard(path)
    return touched


# --- step 3: rewriting --------------------------------------------------------------------------


class Rewriter:
    def __init__(self) -> None:
        self.modules = module_table()
        self.symbols = symbol_table()
        self.paths = {old: new for old, new in MOVES.items()}
        self.old_of = {new: old for old, new in MOVES.items()}
        names = sorted(self.modules, key=len, reverse=True)
        self.dotted_re = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, names)) + r")(?!\w)")
        # a moved file's path, also without ".py" (never a template's "portal/home.html")
        for old, new in MOVES.items():
            if old.endswith(".py") and not old.endswith("__init__.py"):
                self.paths[old[:-3]] = new[:-3]
        paths = sorted(self.paths, key=len, reverse=True)
        self.path_re = re.compile(
            r"(?<![\w./-])(" + "|".join(map(re.escape, paths)) + r")(?![\w/-]|\.\w)"
        )

    def new_module(self, name: str) -> str:
        """Longest known prefix replaced (portal.sms.send → portal.sms.messages.send)."""
        return self.dotted_re.sub(lambda m: self.modules[m.group(1)], name)

    def text(self, content: str) -> str:
        content = self.path_re.sub(lambda m: self.paths[m.group(1)], content)
        return self.dotted_re.sub(lambda m: self.modules[m.group(1)], content)

    # `from X import a, b` where X.a is a moved module, or `a` a moved definition
    def import_edits(self, path: str, source: str) -> list[tuple[int, int, str]]:
        """(start offset, end offset, replacement) for import statements that need more than
        the textual rewrite; offsets into `source`."""
        old_path = self.old_of.get(path, path)
        here = dotted(path)
        offsets = [0]
        for line in source.splitlines(keepends=True):
            offsets.append(offsets[-1] + len(line))
        edits = []
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            module = node.module
            if module == "conftest":  # a bare `from conftest import x`: the folder's conftest
                module = dotted(str(Path(old_path).parent / "conftest.py"))
            groups: dict[str, list[str]] = {}
            # a bare `conftest`, or a module that is now this very file (a helper moved in)
            special = module != node.module or self.new_module(module) == here
            for alias in node.names:
                full = f"{module}.{alias.name}"
                local = alias.asname or alias.name
                if full in self.modules:
                    new_parent, _, leaf = self.modules[full].rpartition(".")
                    item = leaf if leaf == local else f"{leaf} as {local}"
                    groups.setdefault(new_parent, []).append(item)
                    special = True
                elif (module, alias.name) in self.symbols:
                    special = True
                    target = self.symbols[(module, alias.name)]
                    if target is None or target == here:
                        continue
                    item = alias.name if local == alias.name else f"{alias.name} as {local}"
                    groups.setdefault(target, []).append(item)
                else:
                    item = alias.name if local == alias.name else f"{alias.name} as {local}"
                    groups.setdefault(self.new_module(module), []).append(item)
            if not special:
                continue
            groups.pop(here, None)  # never import a module from itself
            indent = " " * node.col_offset
            statements = [f"from {mod} import {', '.join(items)}" for mod, items in groups.items()]
            start = offsets[node.lineno - 1] + node.col_offset
            end = offsets[node.end_lineno - 1] + node.end_col_offset
            if statements:
                # a trailing suppression comment must hold for each of the split statements
                rest = source[end : offsets[node.end_lineno]]
                noqa = re.search("#" + r"\s*noqa[^\n]*", rest)
                if noqa:
                    statements = [f"{st}  {noqa.group(0)}" for st in statements[:-1]] + [
                        statements[-1]
                    ]
                replacement = ("\n" + indent).join(statements)
            else:  # everything it imported is gone: drop the statement and its line
                start = offsets[node.lineno - 1]
                end = offsets[node.end_lineno]
                replacement = ""
            edits.append((start, end, replacement))
        return sorted(edits)

    def python(self, path: str, source: str) -> str:
        out, at = [], 0
        for start, end, replacement in self.import_edits(path, source):
            out.append(self.text(source[at:start]))
            out.append(replacement)  # already in new names
            at = end
        out.append(self.text(source[at:]))
        return "".join(out)


def rewrite_all() -> set[str]:
    rewriter = Rewriter()
    touched = set()
    for path in run("git", "ls-files").splitlines():
        if path in SKIP_PATHS or not Path(path).is_file():
            continue
        if Path(path).suffix not in TEXT_SUFFIXES and path not in TEXT_PATHS:
            continue
        try:
            source = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if path.endswith(".py"):
            new = rewriter.python(path, source)
        else:
            new = rewriter.text(source)
        if new != source:
            Path(path).write_text(new, encoding="utf-8")
            touched.add(path)
    return touched


# --- step 4: exact edits and the integration marker ----------------------------------------------


def check_code_in_strings() -> None:
    """`from portal import a` inside a string (code for a child interpreter) where portal.a
    was moved: the AST rewrite cannot see it; name it so a TEXT_EDIT can fix it."""
    table = module_table()
    pattern = re.compile(r"from ([\w.]+) import ([\w, ]+)")
    for path in run("git", "ls-files", "*.py").splitlines():
        if path in SKIP_PATHS or not Path(path).exists():
            continue
        for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            for module, names in pattern.findall(node.value):
                for name in (n.strip().split(" ")[0] for n in names.split(",")):
                    if f"{module}.{name}" in table:
                        print(
                            f"restructure14: check {path}:{node.lineno}: a string imports "
                            f"{module}.{name} (moved to {table[f'{module}.{name}']})"
                        )


def check_file_paths() -> None:
    """A moved module that climbs from ``Path(__file__)`` and changed depth needs a look."""
    edited = {path for path, _old, _new in TEXT_EDITS}
    for old, new in present_moves().items():
        if old.count("/") == new.count("/") or not new.endswith(".py") or new in edited:
            continue
        if re.search(r"Path\(__file__\)(\.resolve\(\))?\.parent", Path(new).read_text("utf-8")):
            print(f"restructure14: check {new}: it climbs from __file__ and moved depth")


def do_text_edits() -> set[str]:
    touched = set()
    for path, old, new in TEXT_EDITS:
        if not Path(path).exists():
            print(f"restructure14: TEXT_EDITS skipped ({path} is not on this tree)")
            continue
        content = Path(path).read_text(encoding="utf-8")
        if content.count(old) == 0:
            print(f"restructure14: TEXT_EDITS skipped (not in {path} on this tree): {old[:60]!r}")
            continue
        if content.count(old) != 1:
            sys.exit(f"TEXT_EDITS: {old!r} found {content.count(old)} times in {path}")
        Path(path).write_text(content.replace(old, new), encoding="utf-8")
        touched.add(path)
    for path, text in APPENDS:
        content = Path(path).read_text(encoding="utf-8")
        Path(path).write_text(content.rstrip("\n") + "\n" + text, encoding="utf-8")
        touched.add(path)
    return touched


def mark_integration() -> set[str]:
    touched = set()
    for old, new in present_moves().items():
        if not (old.startswith(INTEGRATION_DIR) and Path(new).name.startswith("test_")):
            continue
        source = Path(new).read_text(encoding="utf-8")
        tree = ast.parse(source)
        existing = [
            n
            for n in tree.body
            if isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets)
        ]
        if existing:
            node = existing[0]
            value = node.value
            if isinstance(value, ast.List):
                marks = [ast.get_source_segment(source, e) for e in value.elts]
            else:
                marks = [ast.get_source_segment(source, value)]
            line = f"pytestmark = [{', '.join([*INTEGRATION_MARKS, *marks])}]\n"
            lines = source.splitlines(keepends=True)
            source = "".join(lines[: node.lineno - 1] + [line] + lines[node.end_lineno :])
        else:
            source = _insert_after_imports(
                source, ["", f"pytestmark = [{', '.join(INTEGRATION_MARKS)}]"]
            )
        if not any(
            isinstance(n, ast.Import) and any(a.name == "pytest" for a in n.names)
            for n in ast.parse(source).body
        ):
            source = _insert_after_imports(source, ["import pytest"])
        Path(new).write_text(source, encoding="utf-8")
        touched.add(new)
    return touched


# --- step 5: ruff ---------------------------------------------------------------------------------


def ruff(touched: set[str]) -> None:
    exe = Path(sys.executable).with_name("ruff")
    ruff_cmd = str(exe) if exe.exists() else "ruff"
    files = sorted(p for p in touched if p.endswith(".py") and Path(p).exists())
    if files:
        subprocess.run([ruff_cmd, "check", "--fix", "--select", "I,F401", "-q", *files])
        subprocess.run([ruff_cmd, "format", "-q", *files])
    result = subprocess.run([ruff_cmd, "check", "-q", "."])
    if result.returncode:
        print("ruff check still reports problems (above): fix the tables, not the output")


# --- step 6: the import graph is the same, modulo the renaming --------------------------------------

GRAPH_ROOTS = ["portal", "models", "views", "jobs", "bench"]


def import_graph() -> dict[str, set[str]]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import import_cycles

    edges, _modules = import_cycles.graph(Path("."), [r for r in GRAPH_ROOTS if Path(r).exists()])
    return {name: set(targets) for name, targets in edges.items()}


def compare_graphs(before: dict[str, set[str]], after: dict[str, set[str]]) -> bool:
    table = module_table()
    renamed = {table.get(a, a): {table.get(t, t) for t in ts} for a, ts in before.items()}
    same = True
    for name in sorted(set(renamed) | set(after)):
        lost = renamed.get(name, set()) - after.get(name, set())
        gained = after.get(name, set()) - renamed.get(name, set())
        if lost or gained:
            same = False
            print(f"import graph changed: {name} lost {sorted(lost)} gained {sorted(gained)}")
    return same


def print_tables() -> None:
    """The tables as Markdown (for scripts/restructure14.md)."""
    print("| old | new |\n|---|---|")
    for old, new in MOVES.items():
        print(f"| `{old}` | `{new}` |")
    print("\nKept in place: " + ", ".join(f"`{p}`" for p in sorted(KEEP)) + ".")
    print("\nNew files: " + ", ".join(f"`{p}`" for p in NEW_FILES) + ".")
    print("\nDefinitions moved (EXTRACTS):\n")
    for src, names, dst in EXTRACTS:
        print(f"- `{src}`: {', '.join(f'`{n}`' for n in names)} → `{dst}`")
    print(f"\nRemoved once empty: {', '.join(f'`{p}`' for p in REMOVE_WHEN_EMPTY)}.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the tables")
    parser.add_argument("--dirty-ok", action="store_true", help="run on a tree with changes")
    parser.add_argument("--table", action="store_true", help="print the tables as Markdown")
    args = parser.parse_args()
    if args.table:
        print_tables()
        return 0
    if not Path("portal/__init__.py").exists():
        sys.exit("run from the repository root")
    problems = check_tree()
    if problems:
        print("restructure14: the tables do not match the tree:", *problems, sep="\n  ")
        return 1
    print(f"restructure14: tables match ({len(MOVES)} moves, {len(NEW_FILES)} new files)")
    if args.check:
        return 0
    if not args.dirty_ok and run("git", "status", "--porcelain").strip():
        sys.exit("the tree has changes: commit or stash them first (or --dirty-ok)")
    before = import_graph()
    do_moves()
    touched = do_extracts()
    touched |= rewrite_all()
    touched |= do_text_edits()
    check_file_paths()
    check_code_in_strings()
    touched |= mark_integration()
    touched |= {p for p in NEW_FILES if p.endswith(".py")}
    ruff(touched)
    run("git", "add", "-A")  # the tree was clean: everything staged is the move
    if not compare_graphs(before, import_graph()):
        print("restructure14: an import was lost or added (above): fix the script")
        return 2
    print(f"restructure14: done; {len(touched)} files rewritten. Next: pytest on both databases.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
