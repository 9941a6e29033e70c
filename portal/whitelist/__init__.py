"""Whitelist (白名单): products, the blacklist, imports, pre-approved offers and their sync."""
