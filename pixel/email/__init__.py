"""E-mail side of Consentry: recipients in the ledger, message preparation, open pixel,
signed click redirects, RFC 8058 one-click unsubscribe, and the ingest pipeline behind them.

Domain modules (tokens, classify, recipients, prepare, pipeline, pages) import no web
framework; `pixel.email.routes` is the thin Starlette layer.
"""
