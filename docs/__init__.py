"""The project's documentation, shipped inside the package so the web app can serve it (see tracker/web/help.py)."""
