"""The channel API (渠道接入): keys and signing, intake, reads and withdrawal, OpenAPI
(its own deployment is portal/channel_app.py, a composition root)."""
