"""Admin dashboard: accounts, pages, analytics."""
