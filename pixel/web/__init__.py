"""Web side: the beacon a page sends (`POST|GET /b`) and the tag gate the banner asks.

Domain modules (beacon: the ingest pipeline; tags: the gate's answer) import no web framework;
`pixel.web.routes` is the thin Starlette layer of both.
"""
