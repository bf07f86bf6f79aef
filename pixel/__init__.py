"""The beacon endpoints and their ingest pipelines, in two sub-areas that never import each other:

- `pixel.email`: e-mail — recipients in the ledger, message preparation, open pixel, signed click
  redirects, RFC 8058 one-click unsubscribe, machine-open classification;
- `pixel.web`: the web beacon (`POST|GET /b`) and the tag gate (`GET /v1/sites/{site}/tags`).

What they share sits here: `pixel.outcomes` (the one GIF, `STORED`, the `Drop` reasons and the
outcome `Counters`). tests/test_layers.py keeps the two apart.
"""
