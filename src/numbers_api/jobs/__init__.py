"""Bulk jobs over an account's numbers, run in the background by each server worker."""
