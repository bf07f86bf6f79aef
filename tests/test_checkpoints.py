"""Rewrite-evident ledger: signed checkpoints (RFC 9162 tree heads) made by the CLI and the
server, served, exported to witnesses (a folder, a webhook on a real local HTTP server), and
checked by `ledger verify --checkpoint`, which catches a full re-hash of the chain that plain
verify cannot; receipts carry inclusion proofs that verify offline."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from cmp.checkpoints import checkpoint_all, run_periodically, verified_head
from cmp.ledger import GENESIS, link_hash
from cmp.merkle import verify_consistency
from cmp.receipts import verify_ledger_proof, verify_receipt
from consentry import cli

from .conftest import COUNTRY_HEADER, MASTER_SECRET, TwoSites, build_services, path_of, running
from .test_ledger_coverage import raw_sql


@pytest.fixture(autouse=True)
def one_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The CLI derives the sites' keys from the same secret the test app uses.
    monkeypatch.setenv("CONSENTRY_SECRET", MASTER_SECRET.decode())
    monkeypatch.chdir(tmp_path)


async def consents(url: str, config: Path, tmp_path: Path, n: int, site: str = "alpha"
                   ) -> list[dict[str, Any]]:
    svc = build_services(tmp_path / "unused.db", config, database=url)
    out = []
    async with running(svc) as c:
        for _ in range(n):
            r = await c.post(f"/v1/sites/{site}/consent",
                             json={"action": "accept_all", "revision": 3},
                             headers={COUNTRY_HEADER: "DE"})
            assert r.status_code == 201
            out.append(r.json())
    return out


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def rehash_chain(url: str, site: str, seq: int) -> None:
    """What someone who can write the database does: edit an event, then re-hash every link
    from it to the end and move the head, so that plain verify finds nothing wrong."""
    (rows,) = raw_sql(url, f"SELECT seq, event_id, kind, ts, payload, personal_digest, hash "
                           f"FROM consent_events WHERE site='{site}' ORDER BY seq")
    prev = GENESIS
    statements = []
    for s, event_id, kind, ts, payload, digest, _old in rows:
        p = json.loads(str(payload))
        if s == seq:
            p["choices"]["purposes"] = {k: False for k in p["choices"]["purposes"]}
            p["action"] = "reject_all"
        new = link_hash(site, int(s), str(event_id), str(kind), str(ts), p, str(digest), prev)  # type: ignore[arg-type]
        if s >= seq:
            payload_sql = json.dumps(p, sort_keys=True, separators=(",", ":")).replace("'", "''")
            statements.append(f"UPDATE consent_events SET payload = '{payload_sql}', "
                              f"prev_hash = '{prev}', hash = '{new}' "
                              f"WHERE site='{site}' AND seq={s}")
        prev = new
    statements.append(f"UPDATE chain_heads SET hash = '{prev}' WHERE site='{site}'")
    raw_sql(url, *statements)


def test_verify_checkpoint_catches_a_full_rehash(database_url: str, two_sites: TwoSites,
                                                 tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(two_sites.config_path)
    base = ["--config", cfg, "--database", database_url]
    asyncio.run(consents(database_url, two_sites.config_path, tmp_path, 5))
    asyncio.run(consents(database_url, two_sites.config_path, tmp_path, 2, "beta"))
    cp = tmp_path / "witness.json"
    code, out, err = run(["ledger", "checkpoint", *base, "--out", str(cp)], capsys)
    assert code == 0, out + err
    assert "alpha: checkpoint of 5 events" in out and "beta: checkpoint of 2 events" in out
    heads = json.loads(cp.read_text())
    assert sorted(h["checkpoint"]["site"] for h in heads) == ["alpha", "beta"]
    # More events after the checkpoint: the history it covers is still the same.
    asyncio.run(consents(database_url, two_sites.config_path, tmp_path, 2))
    code, out, err = run(["ledger", "verify", *base, "--checkpoint", str(cp)], capsys)
    assert code == 0, out + err
    assert "alpha: checkpoint of 5 events" in out and "ok, the history up to it" in out

    rehash_chain(database_url, "alpha", 2)
    code, out, err = run(["ledger", "verify", *base], capsys)
    assert code == 0 and "alpha: ok, 7 events" in out, out + err  # the chain alone cannot tell

    code, out, err = run(["ledger", "verify", *base, "--checkpoint", str(cp)], capsys)
    assert code == 1, out + err
    failing = [ln for ln in out.splitlines() if "FAILS" in ln]
    assert len(failing) == 1 and failing[0].startswith("alpha: checkpoint of 5 events"), out
    assert "rewritten" in failing[0]
    assert "beta: checkpoint of 2 events" in out and "beta" not in failing[0]


def test_cut_history_and_forged_checkpoints_fail(database_url: str, two_sites: TwoSites,
                                                 tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--config", str(two_sites.config_path), "--database", database_url]
    asyncio.run(consents(database_url, two_sites.config_path, tmp_path, 4))
    cp = tmp_path / "alpha.json"
    assert run(["ledger", "checkpoint", *base, "--site", "alpha", "--out", str(cp)],
               capsys)[0] == 0
    forged = json.loads(cp.read_text())
    forged["checkpoint"]["tree_size"] = 3
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    code, out, _ = run(["ledger", "verify", *base, "--checkpoint", str(tmp_path / "forged.json")],
                       capsys)
    assert code == 1 and "signature does not verify" in out, out
    # Cut the last event and move the head back: plain verify passes, the checkpoint does not.
    (rows,) = raw_sql(database_url, "SELECT hash FROM consent_events WHERE site='alpha' AND seq=3")
    raw_sql(database_url, "DELETE FROM consent_events WHERE site='alpha' AND seq=4",
            f"UPDATE chain_heads SET seq = 3, hash = '{rows[0][0]}' WHERE site='alpha'")
    assert run(["ledger", "verify", *base], capsys)[0] == 0
    code, out, _ = run(["ledger", "verify", *base, "--checkpoint", str(cp)], capsys)
    assert code == 1 and "alpha: checkpoint of 4 events" in out and "history cut" in out, out


def test_checkpoint_without_config_or_events_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cp = tmp_path / "cp.json"
    cp.write_text("{}")
    code, out, err = run(["ledger", "verify", "--database", f"sqlite:///{tmp_path / 'x.db'}",
                          "--checkpoint", str(cp)], capsys)
    assert code == 1 and err.count("\n") == 1 and "--config" in err
    code, out, err = run(["ledger", "verify", "--database", "sqlite:///x.db",
                          "--checkpoint", str(tmp_path / "missing.json")], capsys)
    assert code == 1 and err.startswith("--checkpoint: cannot read") and err.count("\n") == 1


async def test_endpoints_and_consistency_proofs(two_sites: TwoSites, tmp_path: Path) -> None:
    svc = build_services(tmp_path / "c.db", two_sites.config_path)
    async with running(svc) as c:
        assert (await c.get("/v1/sites/alpha/checkpoints/latest")).status_code == 404
        for _ in range(3):
            await c.post("/v1/sites/alpha/consent", json={"action": "accept_all", "revision": 3})
        first, new = await svc.checkpoints.make("alpha")
        assert new and (await svc.checkpoints.make("alpha")) == (first, False)
        for _ in range(4):
            await c.post("/v1/sites/alpha/consent", json={"action": "reject_all", "revision": 3})
        second, _ = await svc.checkpoints.make("alpha")
        r = await c.get("/v1/sites/alpha/checkpoints/latest")
        assert r.status_code == 200 and r.json() == second
        assert (await c.get("/v1/sites/alpha/checkpoints/latest?size=3")).json() == first
        assert (await c.get("/v1/sites/alpha/checkpoints/latest?size=4")).status_code == 404
        pub = (await c.get("/v1/sites/alpha/receipt-key")).json()["public_key"]
        h1, h2 = verified_head(first, pub), verified_head(second, pub)
        assert h1 and h2 and (h1["tree_size"], h2["tree_size"]) == (3, 7)
        r = await c.get("/v1/sites/alpha/checkpoints/consistency?first=3&second=7")
        assert r.status_code == 200
        proof = [bytes.fromhex(p) for p in r.json()["proof"]]
        assert verify_consistency(3, 7, bytes.fromhex(h1["root_hash"]),
                                  bytes.fromhex(h2["root_hash"]), proof)
        for q, field in (("first=0&second=3", "first"), ("first=x&second=3", "first"),
                         ("first=3", "second"), ("first=5&second=3", "second"),
                         ("first=1&second=%EF%BC%93", "second")):
            r = await c.get(f"/v1/sites/alpha/checkpoints/consistency?{q}")
            assert r.status_code == 400 and r.json()["field"] == field, (q, r.text)
        r = await c.get("/v1/sites/alpha/checkpoints/consistency?first=1&second=99")
        assert r.status_code == 404 and r.json()["field"] == "second"
        r = await c.get("/v1/sites/alpha/checkpoints/latest?size=-1")
        assert r.status_code == 400 and r.json()["field"] == "size"
        assert (await c.get("/v1/sites/nosuch/checkpoints/latest")).status_code == 404
        paths = (await c.get("/openapi.json")).json()["paths"]
        assert "/v1/sites/{site}/checkpoints/latest" in paths
        assert "/v1/sites/{site}/checkpoints/consistency" in paths


async def test_receipt_inclusion_proof_verifies_offline(database_url: str, two_sites: TwoSites,
                                                        tmp_path: Path) -> None:
    svc = build_services(tmp_path / "unused.db", two_sites.config_path, database=database_url)
    async with running(svc) as c:
        g = (await c.post("/v1/sites/alpha/consent", json={"action": "accept_all", "revision": 3},
                          headers={COUNTRY_HEADER: "DE"})).json()
        for _ in range(4):
            await c.post("/v1/sites/alpha/consent", json={"action": "reject_all", "revision": 3})
        await c.post("/v1/sites/alpha/consent", json={"action": "custom", "revision": 3},
                     headers={"Authorization": f"Bearer {g['token']}"})
        pub = (await c.get("/v1/sites/alpha/receipt-key")).json()["public_key"]
        # No checkpoint yet covers seq 6: the receipt carries a head signed for it.
        doc = (await c.get(path_of(g["receipt_url"]))).json()
        proof = doc["receipt"]["ledger_proof"]
        assert proof["stored"] is False and proof["tree_head"]["checkpoint"]["tree_size"] == 6
        assert [e["seq"] for e in proof["events"]] == [1, 6]
        assert verify_receipt(doc, pub) and verify_ledger_proof(doc, pub) is None
        # Once a checkpoint holds them, the receipt points at that stored head.
        head, _ = await svc.checkpoints.make("alpha")
        doc = (await c.get(path_of(g["receipt_url"]))).json()
        assert doc["receipt"]["ledger_proof"]["tree_head"] == head
        assert doc["receipt"]["ledger_proof"]["stored"] is True
        assert verify_ledger_proof(doc, pub) is None

    def altered(edit: Any) -> str | None:
        d = copy.deepcopy(doc)
        edit(d["receipt"]["ledger_proof"])
        return verify_ledger_proof(d, pub)

    def path_flip(p: dict[str, Any]) -> None:
        a = p["events"][0]["audit_path"]
        a[0] = ("0" if a[0][0] != "0" else "1") + a[0][1:]

    def choice_flip(p: dict[str, Any]) -> None:
        p["events"][0]["payload"]["choices"]["purposes"]["marketing"] = False

    def hash_and_path(p: dict[str, Any]) -> None:  # re-hashed to match the edit: not in tree
        ev = p["events"][1]
        ev["payload"]["action"] = "accept_all"
        ev["hash"] = link_hash("alpha", ev["seq"], ev["event_id"], ev["kind"], ev["ts"],
                               ev["payload"], ev["personal_digest"], ev["prev_hash"])

    def other_key_head(p: dict[str, Any]) -> None:
        p["tree_head"]["checkpoint"]["root_hash"] = "0" * 64

    for edit, words in ((choice_flip, "altered"), (path_flip, "not in the signed tree"),
                        (hash_and_path, "not in the signed tree"),
                        (other_key_head, "signature")):
        problem = altered(edit)
        assert problem is not None and words in problem, (edit.__name__, problem)
    assert verify_ledger_proof(doc, MASTER_SECRET.hex()[:43]) is not None  # another key


class Witness(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Witness.received.append(body)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def witness() -> Iterator[str]:
    Witness.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Witness)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/checkpoints"
    finally:
        server.shutdown()
        server.server_close()


async def test_automatic_checkpoints_reach_folder_and_webhook(
        two_sites: TwoSites, tmp_path: Path, witness: str) -> None:
    folder = tmp_path / "witness"
    folder.mkdir()
    svc = build_services(tmp_path / "auto.db", two_sites.config_path,
                         checkpoint_dir=str(folder), checkpoint_webhook=witness)
    async with running(svc) as c:
        pub = (await c.get("/v1/sites/alpha/receipt-key")).json()["public_key"]
        for _ in range(2):
            await c.post("/v1/sites/alpha/consent", json={"action": "accept_all", "revision": 3})
        loop = asyncio.create_task(run_periodically(
            svc.checkpoints, list(svc.config.sites), 0.001, str(folder), witness))
        for _ in range(200):
            if Witness.received:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # more rounds: no new events, so no new checkpoints
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
        assert len(Witness.received) == 1  # beta has no events: nothing to sign
        posted = json.loads(Witness.received[0])
        assert verified_head(posted, pub) is not None
        assert posted == (await c.get("/v1/sites/alpha/checkpoints/latest")).json()
        assert json.loads((folder / "alpha-000000000002.json").read_text()) == posted
        await c.post("/v1/sites/alpha/consent", json={"action": "reject_all", "revision": 3})
        assert await checkpoint_all(svc.checkpoints, ["alpha", "beta"], str(folder), witness) == 1
        assert len(Witness.received) == 2 and (folder / "alpha-000000000003.json").exists()


async def test_export_failures_are_reported_not_fatal(two_sites: TwoSites, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from cmp.checkpoints import export_checkpoint

    svc = build_services(tmp_path / "e.db", two_sites.config_path)
    async with running(svc) as c:
        await c.post("/v1/sites/alpha/consent", json={"action": "accept_all", "revision": 3})
        doc, _ = await svc.checkpoints.make("alpha")
    dead = httpx.URL(f"http://127.0.0.1:{_free()}/x")
    problems = await export_checkpoint(doc, str(tmp_path / "no-such-folder"), str(dead), 2.0)
    assert [p.split(":")[0] for p in problems] == ["checkpoint_dir", "checkpoint_webhook"]
    assert not (tmp_path / "no-such-folder").exists()  # never created


def _free() -> int:
    from .conftest import free_port

    return free_port()
