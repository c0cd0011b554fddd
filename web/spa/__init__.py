"""The demo SPA's page: the timeline of what spalab_auth (web/client) does, what the
servers saw, and rendering. Only ui.py imports `js`; the flows live in the package."""
