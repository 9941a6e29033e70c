"""All models; importing this package registers every table on the shared metadata."""

from models.application import (
    Application,
    ApplicationEvent,
    ApplicationNote,
    ApplicationSettings,
    ChannelKey,
    ChannelRequest,
)
from models.approval import ApprovalCase, ApprovalDecision, ApprovalPolicy
from models.audit import AuditLog
from models.bureau import CreditAuthorization, CreditInquiry
from models.campaign import Campaign, CampaignMember, CampaignRun
from models.credit import BatchOpening, BatchOpeningItem, Contract, CreditLine, CreditLineEvent
from models.customer import Customer
from models.jobs import IntegrationCursor, OutboxItem, ScheduleRun
from models.org import OrgUnit
from models.reports import (
    AggDaily,
    AggOffer,
    AggOpen,
    AggWatermark,
    DailyReport,
    MarketingTarget,
)
from models.sms import SmsMessage, SmsOptOut, SmsTemplate
from models.staff import StaffUser
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
