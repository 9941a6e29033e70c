"""Customers (客户): identity, org and unmasking."""
