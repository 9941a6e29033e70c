"""Credit (额度与合同): lines, limit adjustment, expiry, contracts, disbursement,
account opening and the used-amount feed."""
