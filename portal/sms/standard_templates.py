"""Standard SMS templates (idempotent): the pre-approved credit flow's messages."""

from __future__ import annotations

from sqlalchemy import select

from models.sms.messages import SmsTemplate
from portal.core.extensions import db

TEMPLATES = [
    (
        "offer_marketing",
        "预授信额度营销",
        "marketing",
        "尊敬的{{ customer_name }}，您已获得{{ product }}预授信额度{{ limit }}元，有效期至"
        "{{ expiry_date }}，登录手机银行即可申请。回T退订",
        "customer_name,product,limit,expiry_date",
    ),
    (
        "manager_assigned",
        "新申请分派通知",
        "notice",
        "您有一笔新的{{ product }}申请待调查，请登录信贷工作台处理。",
        "product",
    ),
    (
        "application_rejected",
        "申请未通过",
        "notice",
        "尊敬的{{ customer_name }}，您的{{ product }}申请未通过，如有疑问请致电{{ branch_name }}"
        "{{ branch_phone }}。",
        "customer_name,product,branch_name,branch_phone",
    ),
    (
        "line_opened",
        "额度开通",
        "notice",
        "尊敬的{{ customer_name }}，您的{{ product }}额度{{ limit }}元已开通并关联您的借记卡。",
        "customer_name,product,limit",
    ),
]


def seed_templates() -> int:
    have = set(db.session.scalars(select(SmsTemplate.code)))
    made = 0
    for code, name, category, body, variables in TEMPLATES:
        if code not in have:
            db.session.add(
                SmsTemplate(
                    code=code,
                    name=name,
                    category=category,
                    body=body,
                    variables=variables,
                    active=True,
                )
            )
            made += 1
    db.session.commit()
    return made
