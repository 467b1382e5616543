"""Exports: numbers written out as CSV or JSON Lines, for `numbers-api export` and CSV downloads."""
