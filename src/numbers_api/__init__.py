"""numbers-api: a self-hostable phone-number inventory that speaks Telnyx's Number Management API v2."""

__version__ = "0.1.0"
