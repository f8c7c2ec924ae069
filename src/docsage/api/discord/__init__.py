"""Discord's interactions endpoint."""
