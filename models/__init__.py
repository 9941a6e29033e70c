"""All models; importing this package registers every table on the shared metadata."""

from models.access.audit import AuditLog
from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.applications import (
    Application,
    ApplicationEvent,
    ApplicationNote,
    ApplicationSettings,
    ChannelKey,
    ChannelRequest,
)
from models.approvals import ApprovalCase, ApprovalDecision, ApprovalPolicy
from models.background import IntegrationCursor, OutboxItem, ScheduleRun
from models.credit import BatchOpening, BatchOpeningItem, Contract, CreditLine, CreditLineEvent
from models.customers import Customer
from models.integrations import CreditAuthorization, CreditInquiry
from models.reports import (
    AggDaily,
    AggOffer,
    AggOpen,
    AggWatermark,
    DailyReport,
    MarketingTarget,
)
from models.sms.campaigns import Campaign, CampaignMember, CampaignRun
from models.sms.messages import SmsMessage, SmsOptOut, SmsTemplate
from models.whitelist import (
    BlacklistEntry,
    EodRun,
    Offer,
    OfferHistory,
    OfferSyncBatch,
    Product,
    WhitelistImport,
)

__all__ = [
    "AggDaily",
    "AggOffer",
    "AggOpen",
    "AggWatermark",
    "DailyReport",
    "MarketingTarget",
    "ApprovalCase",
    "ApprovalDecision",
    "ApprovalPolicy",
    "BatchOpening",
    "BatchOpeningItem",
    "Contract",
    "CreditLine",
    "CreditLineEvent",
    "Application",
    "ApplicationEvent",
    "ApplicationNote",
    "ApplicationSettings",
    "ChannelKey",
    "ChannelRequest",
    "BlacklistEntry",
    "Campaign",
    "CampaignMember",
    "CampaignRun",
    "EodRun",
    "Offer",
    "OfferHistory",
    "OfferSyncBatch",
    "Product",
    "WhitelistImport",
    "AuditLog",
    "CreditAuthorization",
    "CreditInquiry",
    "Customer",
    "IntegrationCursor",
    "OrgUnit",
    "OutboxItem",
    "ScheduleRun",
    "SmsMessage",
    "SmsOptOut",
    "SmsTemplate",
    "StaffUser",
]
