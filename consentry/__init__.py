"""The assembly: the ASGI app, the `consentry` CLI, the demo and the OpenAPI document.

It sits above the three layers it joins — cmp/ (the core: config, policy, ledger, storage,
consent API), pixel/ (e-mail and web beacons, tag gate) and dashboards/ (HTML views) — and
nothing imports it (tests/test_layers.py keeps it so).
"""
