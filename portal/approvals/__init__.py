"""Approvals (审批): policies, the case queue, decisions, history and outbox kinds."""
