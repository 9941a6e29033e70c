"""Views of the whitelist domain: products, blacklist, imports, offers."""
