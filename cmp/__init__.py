"""Consentry: a self-hosted consent management platform with a consent-gated beacon server."""

__version__ = "0.1.0"
CMP_NAME = "consentry"
