"""The HTTP layer: routing, authentication, parameter errors and responses."""
