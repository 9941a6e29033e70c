"""Permission and role names as constants; roles declared as data.

Every view pins `class_permission_name` to a RESOURCE_* constant and shares
METHOD_PERMISSION_NAME, so a resource carries at most can_read / can_add /
can_edit / can_delete plus a few named extras (unmask, export).
`portal.access.roles.converge_roles()` makes the database match ROLES exactly.
"""

from __future__ import annotations

# --- actions (Flask-AppBuilder prefixes method permission names with "can_")
ACTION_READ = "can_read"
ACTION_ADD = "can_add"
ACTION_EDIT = "can_edit"
ACTION_DELETE = "can_delete"
ACTION_UNMASK = "can_unmask"
ACTION_EXPORT = "can_export"
ACTION_REVIEW = "can_review"  # investigate, need info, pass, reject (申请调查)
ACTION_REASSIGN = "can_reassign"  # move applications between account managers (改派)
ACTION_APPROVE = "can_approve"  # claim, release, approve, reject in an approval queue (审批)

# --- resources
RESOURCE_HOME = "Home"
RESOURCE_WORKBENCH = "Workbench"
RESOURCE_CUSTOMER = "Customer"
RESOURCE_ORG_UNIT = "OrgUnit"
RESOURCE_STAFF = "Staff"
RESOURCE_AUDIT_LOG = "AuditLog"
RESOURCE_ROLE = "Role"
RESOURCE_JOB_MONITOR = "JobMonitor"  # queues, workers, schedules, outbox (作业监控)
RESOURCE_SMS_TEMPLATE = "SmsTemplate"
RESOURCE_SMS_MESSAGE = "SmsMessage"
# whitelist and pre-approval campaigns (白名单与精准营销)
RESOURCE_PRODUCT = "Product"
RESOURCE_BLACKLIST = "Blacklist"
RESOURCE_WHITELIST_IMPORT = "WhitelistImport"  # upload, progress, error report, history
RESOURCE_OFFER = "Offer"  # pre-approved offers and their history
RESOURCE_OFFER_SYNC = "OfferSync"  # mobile-banking sync batches
RESOURCE_CAMPAIGN = "Campaign"
# applications (申请) and the channel API keys (渠道密钥)
RESOURCE_APPLICATION = "Application"
RESOURCE_APPLICATION_SETTINGS = "ApplicationSettings"
RESOURCE_CHANNEL_KEY = "ChannelKey"
RESOURCE_DASHBOARD = "Dashboard"  # 经营看板 (charts in scope)
# approval flows, queues, credit lines and contracts (审批、额度、合同)
RESOURCE_APPROVAL_POLICY = "ApprovalPolicy"
RESOURCE_APPROVAL_QUEUE = "ApprovalQueue"
RESOURCE_CREDIT_LINE = "CreditLine"  # freeze/unfreeze/close/limit change = edit
RESOURCE_CONTRACT = "Contract"  # termination (解约) = edit
RESOURCE_BATCH_OPENING = "BatchOpening"  # 批量开户: start = add, retry failed items = edit
RESOURCE_REPORT = "Report"  # 消费易申请明细报表 (daily workbooks per institution)
RESOURCE_TARGET = "MarketingTarget"  # 营销目标 (monthly, per branch and account manager)

# FAB's own "my account" pages that every signed-in user needs.
SELF_SERVICE = [
    ("can_this_form_get", "ResetMyPasswordView"),
    ("can_this_form_post", "ResetMyPasswordView"),
    ("can_this_form_get", "UserInfoEditView"),
    ("can_this_form_post", "UserInfoEditView"),
    ("can_userinfo", RESOURCE_STAFF),
    ("resetmypassword", RESOURCE_STAFF),
    ("userinfoedit", RESOURCE_STAFF),
]

# Flask method name -> permission suffix ("can_" is added by FAB).
METHOD_PERMISSION_NAME = {
    "list": "read",
    "show": "read",
    "get": "read",
    "get_list": "read",
    "info": "read",
    "api": "read",
    "api_read": "read",
    "api_get": "read",
    "api_column_add": "add",
    "api_column_edit": "edit",
    "api_readvalues": "read",
    "download": "read",
    "add": "add",
    "post": "add",
    "api_create": "add",
    "edit": "edit",
    "put": "edit",
    "api_update": "edit",
    "action": "edit",
    "action_post": "edit",
    "delete": "delete",
    "api_delete": "delete",
    "unmask": "unmask",
    "export": "export",
    "revoke": "edit",
    "unlock": "edit",  # lift a user's temporary login lock (用户管理)
    "review": "review",
    "reassign": "reassign",
    "reassign_all": "reassign",
    "rotate": "edit",
    "claim": "approve",
    "claim_next": "approve",
    "release": "approve",
    "approve": "approve",
    "reject": "approve",
    "case": "read",
    "new": "add",
    "change": "edit",
    "line_status": "edit",
    "adjust": "edit",
    "retry_disbursement": "edit",
    "retry_adjustment": "edit",
    "terminate": "edit",
    "start": "add",
    "retry_failed": "edit",
}

# --- roles
ROLE_HQ_ADMIN = "hq_admin"
ROLE_INSTITUTION_ADMIN = "institution_admin"
ROLE_MARKETING = "data_marketing"
ROLE_ACCOUNT_MANAGER = "account_manager"
ROLE_APPROVER = "approver"
ROLE_BRANCH_MANAGER = "branch_manager"
ROLE_AUDITOR = "auditor"
ROLE_PUBLIC = "public"

# reach: "node" = everything under the user's org node; "own" = records assigned to the user.
REACH_NODE = "node"
REACH_OWN = "own"


def _crud(resource: str, *actions: str) -> list[tuple[str, str]]:
    return [(a, resource) for a in actions]


_READ = (ACTION_READ,)
_CRUD = (ACTION_READ, ACTION_ADD, ACTION_EDIT, ACTION_DELETE)
_RAE = (ACTION_READ, ACTION_ADD, ACTION_EDIT)

ROLES: dict[str, dict] = {
    ROLE_HQ_ADMIN: {
        "label": "省联社管理员",
        "reach": REACH_NODE,
        # HQ admin holds every permission that exists (FAB's admin role semantics).
        "all_permissions": True,
        "permissions": [],
    },
    ROLE_INSTITUTION_ADMIN: {
        "label": "法人机构管理员",
        "reach": REACH_NODE,
        "permissions": [
            *_crud(RESOURCE_HOME, ACTION_READ),
            *_crud(RESOURCE_DASHBOARD, ACTION_READ),
            *_crud(RESOURCE_REPORT, ACTION_READ),
            *_crud(RESOURCE_TARGET, *_CRUD),
            *_crud(RESOURCE_ORG_UNIT, *_RAE),
            *_crud(RESOURCE_STAFF, *_RAE),
            *_crud(RESOURCE_CUSTOMER, *_CRUD, ACTION_EXPORT),
            # sees the shared job machinery; requeue / dead-letter retry stay with HQ
            *_crud(RESOURCE_JOB_MONITOR, ACTION_READ),
            *_crud(RESOURCE_SMS_TEMPLATE, *_CRUD),
            *_crud(RESOURCE_SMS_MESSAGE, ACTION_READ),
            *_crud(RESOURCE_PRODUCT, *_CRUD),
            *_crud(RESOURCE_BLACKLIST, *_CRUD),
            *_crud(RESOURCE_WHITELIST_IMPORT, ACTION_READ),
            *_crud(RESOURCE_OFFER, ACTION_READ, ACTION_EXPORT),
            *_crud(RESOURCE_OFFER_SYNC, ACTION_READ),
            *_crud(RESOURCE_CAMPAIGN, ACTION_READ),
            *_crud(RESOURCE_APPLICATION, ACTION_READ),
            *_crud(RESOURCE_APPLICATION_SETTINGS, *_RAE),
            *_crud(RESOURCE_CHANNEL_KEY, ACTION_READ, ACTION_ADD, ACTION_EDIT),
            *_crud(RESOURCE_APPROVAL_POLICY, *_RAE),
            *_crud(RESOURCE_APPROVAL_QUEUE, ACTION_READ),
            *_crud(RESOURCE_CREDIT_LINE, ACTION_READ),
            *_crud(RESOURCE_CONTRACT, ACTION_READ),
            *_crud(RESOURCE_BATCH_OPENING, ACTION_READ),
            ("can_list", "RoleModelView"),
            ("can_show", "RoleModelView"),
            ("resetpasswords", RESOURCE_STAFF),
            ("can_this_form_get", "ResetPasswordView"),
            ("can_this_form_post", "ResetPasswordView"),
        ],
    },
    ROLE_MARKETING: {
        "label": "数据营销岗",
        "reach": REACH_NODE,
        "permissions": [
            *_crud(RESOURCE_HOME, ACTION_READ),
            *_crud(RESOURCE_DASHBOARD, ACTION_READ),
            *_crud(RESOURCE_REPORT, ACTION_READ),
            *_crud(RESOURCE_TARGET, ACTION_READ),
            *_crud(RESOURCE_CUSTOMER, *_RAE, ACTION_EXPORT),
            # imports whitelists and runs campaigns; products are read-only here
            *_crud(RESOURCE_PRODUCT, ACTION_READ),
            *_crud(RESOURCE_WHITELIST_IMPORT, ACTION_READ, ACTION_ADD),
            *_crud(RESOURCE_OFFER, ACTION_READ, ACTION_EDIT, ACTION_EXPORT),
            *_crud(RESOURCE_OFFER_SYNC, ACTION_READ),
            *_crud(RESOURCE_CAMPAIGN, *_CRUD),
        ],
    },
    ROLE_ACCOUNT_MANAGER: {
        "label": "客户经理",
        "reach": REACH_OWN,
        "permissions": [
            *_crud(RESOURCE_HOME, ACTION_READ),
            *_crud(RESOURCE_DASHBOARD, ACTION_READ),
            *_crud(RESOURCE_TARGET, ACTION_READ),
            *_crud(RESOURCE_WORKBENCH, ACTION_READ),
            *_crud(RESOURCE_CUSTOMER, *_RAE, ACTION_UNMASK),
            *_crud(RESOURCE_OFFER, ACTION_READ),
            *_crud(RESOURCE_APPLICATION, ACTION_READ, ACTION_REVIEW, ACTION_UNMASK),
            *_crud(RESOURCE_CREDIT_LINE, ACTION_READ),
            *_crud(RESOURCE_CONTRACT, ACTION_READ),
        ],
    },
    ROLE_APPROVER: {
        "label": "业务审批岗",
        "reach": REACH_NODE,
        "permissions": [
            *_crud(RESOURCE_HOME, ACTION_READ),
            *_crud(RESOURCE_DASHBOARD, ACTION_READ),
            *_crud(RESOURCE_CUSTOMER, ACTION_READ, ACTION_UNMASK),
            *_crud(RESOURCE_OFFER, ACTION_READ),
            *_crud(RESOURCE_APPLICATION, ACTION_READ),
            # works the approval queue of their own node; opens approved applications in batch
            *_crud(RESOURCE_APPROVAL_QUEUE, ACTION_READ, ACTION_APPROVE),
            *_crud(RESOURCE_CREDIT_LINE, ACTION_READ, ACTION_EDIT),
            *_crud(RESOURCE_CONTRACT, ACTION_READ),
            *_crud(RESOURCE_BATCH_OPENING, *_RAE),
        ],
    },
    ROLE_BRANCH_MANAGER: {
        "label": "网点负责人",
        "reach": REACH_NODE,
        "permissions": [
            *_crud(RESOURCE_HOME, ACTION_READ),
            *_crud(RESOURCE_DASHBOARD, ACTION_READ),
            *_crud(RESOURCE_TARGET, *_CRUD),
            *_crud(RESOURCE_WORKBENCH, ACTION_READ),
            *_crud(RESOURCE_CUSTOMER, *_RAE, ACTION_EXPORT),
            *_crud(RESOURCE_STAFF, ACTION_READ),
            *_crud(RESOURCE_OFFER, ACTION_READ),
            *_crud(RESOURCE_APPLICATION, ACTION_READ, ACTION_REASSIGN),
            # sees the queues of the branch (counts, SLA), decides nothing in them
            *_crud(RESOURCE_APPROVAL_QUEUE, ACTION_READ),
            *_crud(RESOURCE_CREDIT_LINE, ACTION_READ, ACTION_EDIT),
            *_crud(RESOURCE_CONTRACT, ACTION_READ, ACTION_EDIT),
            *_crud(RESOURCE_BATCH_OPENING, ACTION_READ),
        ],
    },
    ROLE_AUDITOR: {
        "label": "审计员（只读）",
        "reach": REACH_NODE,
        "permissions": [
            *_crud(RESOURCE_HOME, ACTION_READ),
            *_crud(RESOURCE_AUDIT_LOG, ACTION_READ),
        ],
    },
    ROLE_PUBLIC: {"label": "匿名", "reach": None, "permissions": []},
}

for _role in ROLES.values():
    if not _role.get("all_permissions") and _role["reach"]:
        _role["permissions"] = [*SELF_SERVICE, *_role["permissions"]]

ROLE_LABELS = {name: spec["label"] for name, spec in ROLES.items()}
