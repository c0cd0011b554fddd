"""The demo SPA's browser shell: everything between the page and the portable
client core in oauth_client/. Only browser.py and ui.py import `js`/`pyscript`."""
