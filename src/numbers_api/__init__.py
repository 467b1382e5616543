"""numbers-api: a self-hostable phone-number inventory speaking Telnyx's Number Management API."""

__version__ = "0.1.0"
