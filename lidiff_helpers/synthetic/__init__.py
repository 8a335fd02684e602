"""Synthetic and test-data generators (never imported by analysis code)."""
