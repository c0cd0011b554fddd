"""The SPA host: serves web/ (the PyScript SPA), its vendored runtime and the lab pages."""
