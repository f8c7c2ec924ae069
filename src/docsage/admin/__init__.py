"""Admin dashboard: the HTML pages at /admin (accounts themselves live in docsage.accounts)."""
