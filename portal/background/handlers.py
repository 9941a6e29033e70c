"""Which function performs each outbox kind (registered on import by the outbox)."""

from __future__ import annotations

from portal.background.outbox import handler
from portal.integrations import core_banking, mobile_banking
from portal.integrations.base import IntegrationError
from portal.sms import messages as sms

handler(sms.KIND, queue="sms", batch_size=500, on_dead=sms.mark_dead)(sms.send_items)


def _one_by_one(perform):
    def run(items):
        outcomes = []
        for item in items:
            try:
                outcomes.append(perform(item))
            except IntegrationError as exc:
                outcomes.append(exc)
        return outcomes

    return run


for _op in core_banking.OPERATIONS:

    def _core(item, op=_op):
        return core_banking.perform(
            op, item.idempotency_key, item.payload or {}, is_retry=item.attempts > 1
        )

    handler(f"core.{_op}", batch_size=10)(_one_by_one(_core))

handler("mbank.offers", batch_size=10)(
    _one_by_one(lambda it: mobile_banking.push_offers(it.idempotency_key, it.payload["offers"]))
)


@handler("mbank.application_status", batch_size=200)
def _push_statuses(items):
    """One call per batch (each status keeps its own idempotency key); a failed call
    fails every item of the batch, and each is retried by the outbox."""
    try:
        return mobile_banking.push_application_statuses(
            [(it.idempotency_key, it.payload) for it in items]
        )
    except IntegrationError as exc:
        return [exc] * len(items)


# registers mbank.offer_sync; approval.submit, credit.disburse, core.contract_termination,
# credit.limit_adjust
from portal.approvals import handlers as approval_handlers  # noqa: E402,F401
from portal.whitelist import offer_sync  # noqa: E402,F401
