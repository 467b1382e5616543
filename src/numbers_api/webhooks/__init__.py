"""Signed webhooks: the key pair they are signed with, and the runner that delivers the outbox."""
