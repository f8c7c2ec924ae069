"""Fakes of outside services that cannot run in tests; each speaks the real protocol over loopback HTTP."""
