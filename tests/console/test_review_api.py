"""The review API: role checks, every state transition of a queue item, audit log, agreement,
exports and retention, over a real SQLite store (and PostgreSQL for concurrent claims)."""

from __future__ import annotations

import concurrent.futures
import csv
import io
import json
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gavel.cli import app as cli
from gavel.review.queue import ReviewQueue
from gavel.runtime import Runtime
from tests.console.conftest import Console, open_console


def _queue(c: Console, who: str = "viewer", **params: object) -> dict:
    r = c.client.get("/review/items", params=params, headers=c.h(who))
    assert r.status_code == 200, r.text
    return r.json()


def _one_item(c: Console) -> int:
    c.evaluate("p1", "you idiot", "mallory")
    c.flush()
    items = _queue(c)["items"]
    assert [i["post_id"] for i in items] == ["p1"]
    return int(items[0]["id"])


def test_reads_need_a_key_and_roles_are_enforced(console: Console) -> None:
    c = console
    item = _one_item(c)
    for path in ("/verdicts", "/verdicts/p1", "/stats", "/review/items", f"/review/items/{item}"):
        r = c.client.get(path)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", path
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert c.client.get(path, headers={"Authorization": "Bearer gvl_wrong"}).status_code == 401
        assert c.client.get(path, headers=c.h("viewer")).status_code == 200, path
    assert c.client.get("/verdicts/p1", headers={"X-API-Key": c.keys["viewer"]}).json()["author_id"] == "mallory"

    # a viewer reads but cannot claim or decide
    r = c.client.post(f"/review/items/{item}/claim", headers=c.h("viewer"))
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = c.client.post(f"/review/items/{item}/decision", json={"final_action": "allow"}, headers=c.h("viewer"))
    assert r.status_code == 403
    # a reviewer cannot read or make keys
    assert c.client.get("/keys", headers=c.h("reviewer")).status_code == 403
    assert c.client.post("/keys", json={"name": "x", "role": "admin"}, headers=c.h("reviewer")).status_code == 403

    # an admin manages keys; a revoked key stops working at once
    r = c.client.post("/keys", json={"name": "carol", "role": "viewer"}, headers=c.h("admin"))
    assert r.status_code == 201
    new = r.json()
    assert new["key"].startswith("gvl_") and new["role"] == "viewer"
    listed = c.client.get("/keys", headers=c.h("admin")).json()["keys"]
    assert "carol" in [k["name"] for k in listed] and all("key" not in k for k in listed)
    assert c.client.get("/whoami", headers={"X-API-Key": new["key"]}).json() == {"name": "carol", "role": "viewer"}
    assert c.client.delete(f"/keys/{new['id']}", headers=c.h("admin")).status_code == 200
    assert c.client.get("/whoami", headers={"X-API-Key": new["key"]}).status_code == 401
    assert c.client.delete(f"/keys/{new['id']}", headers=c.h("admin")).status_code == 404
    assert c.client.post("/keys", json={"name": "x", "role": "god"}, headers=c.h("admin")).status_code == 422


def test_keys_are_stored_hashed(console: Console) -> None:
    import sqlalchemy as sa

    with console.review.engine.connect() as conn:
        stored = [r[0] for r in conn.execute(sa.text("SELECT key_sha256 FROM review_keys")).all()]
    assert stored and not any(k in s for k in console.keys.values() for s in stored)


def test_every_transition(console: Console) -> None:
    c = console
    item = _one_item(c)
    path = f"/review/items/{item}"
    got = c.client.get(path, headers=c.h("viewer")).json()
    assert got["state"] == "open" and got["text"] == "you idiot" and got["reason"] == "review"
    insults = next(cl for cl in got["policies"][0]["clauses"] if cl["clause_id"] == "insults")
    assert insults["evidence"][0]["text"] == "idiot"

    # open -> claimed; a second reviewer is refused while the lease runs
    assert c.client.post(f"{path}/claim", headers=c.h("alice")).json()["state"] == "claimed"
    r = c.client.post(f"{path}/claim", headers=c.h("bob"))
    assert r.status_code == 409 and r.json()["error"] == "already_claimed"
    # only the claimer decides
    r = c.client.post(f"{path}/decision", json={"final_action": "remove"}, headers=c.h("bob"))
    assert r.status_code == 409 and r.json()["error"] == "not_claimed"
    # a judgement on a clause the item does not have is refused
    bad = {"final_action": "remove", "judgements": [{"policy_id": "demo", "clause_id": "nope", "judgement": "uphold"}]}
    assert c.client.post(f"{path}/decision", json=bad, headers=c.h("alice")).status_code == 422
    # claimed -> open (release) -> claimed again
    assert c.client.post(f"{path}/release", headers=c.h("alice")).status_code == 200
    assert c.client.get(path, headers=c.h("viewer")).json()["state"] == "open"
    assert c.client.post(f"{path}/claim", headers=c.h("alice")).status_code == 200

    # claimed -> decided
    decision = {
        "final_action": "remove",
        "note": "name-calling",
        "judgements": [
            {"policy_id": "demo", "clause_id": "insults", "judgement": "uphold"},
            {"policy_id": "demo", "clause_id": "threats", "judgement": "uphold"},
        ],
    }
    done = c.client.post(f"{path}/decision", json=decision, headers=c.h("alice")).json()
    assert done["state"] == "decided" and done["last_decided_by"] == "alice"
    [d] = done["decisions"]
    assert d["reviewer"] == "alice" and d["final_action"] == "remove" and d["note"] == "name-calling"
    judged = {cl["clause_id"]: cl for cl in d["clauses"]}
    assert judged["insults"]["judgement"] == "uphold" and judged["insults"]["policy_version"] == "1"
    assert judged["insults"]["gavel_verdict"] == "violates" and judged["insults"]["policy_digest"]
    assert c.client.post(f"{path}/claim", headers=c.h("bob")).json()["error"] == "already_decided"
    assert c.client.post(f"{path}/decision", json=decision, headers=c.h("alice")).status_code == 409

    # decided -> open by appeal; the last decider may not take it again
    r = c.client.post(f"{path}/appeal", json={"note": "the author appeals"}, headers=c.h("reviewer"))
    assert r.status_code == 200 and r.json()["state"] == "open" and r.json()["appeals"] == 1
    assert c.client.post(f"{path}/appeal", headers=c.h("reviewer")).json()["error"] == "not_decided"
    r = c.client.post(f"{path}/claim", headers=c.h("alice"))
    assert r.status_code == 409 and r.json()["error"] == "needs_other_reviewer"
    assert c.client.post(f"{path}/claim", headers=c.h("bob")).status_code == 200
    decision["final_action"] = "allow"
    decision["judgements"][0]["judgement"] = "overturn"  # type: ignore[index]
    second = c.client.post(f"{path}/decision", json=decision, headers=c.h("bob")).json()
    assert [d["round"] for d in second["decisions"]] == [1, 2]
    assert second["current_decision"] == second["decisions"][1]["id"]

    # the audit log holds every step, newest first, with who did it
    events = [(e["event"], e["actor"]) for e in second["audit"]]
    assert events == [
        ("decided", "bob"),
        ("claimed", "bob"),
        ("appealed", "reviewer"),
        ("decided", "alice"),
        ("claimed", "alice"),
        ("released", "alice"),
        ("claimed", "alice"),
        ("enqueued", "gavel"),
    ]
    log = c.client.get("/review/audit", params={"item_id": item}, headers=c.h("viewer")).json()["entries"]
    assert [e["id"] for e in log] == [e["id"] for e in second["audit"]]


def test_an_abandoned_claim_returns_to_the_queue(console: Console) -> None:
    c = console
    item = _one_item(c)
    queue: ReviewQueue = c.review.queue
    queue.lease_s = 0  # the lease ends the moment it starts
    assert c.client.post(f"/review/items/{item}/claim", headers=c.h("alice")).status_code == 200
    queue.lease_s = 600
    deadline = time.monotonic() + 5
    while True:
        r = c.client.post(f"/review/items/{item}/claim", headers=c.h("bob"))
        if r.status_code == 200 or time.monotonic() > deadline:
            break
    assert r.status_code == 200 and r.json()["claimed_by"] == "bob"
    assert r.json()["audit"][0]["detail"]["expired_claim_of"] == "alice"
    # the one whose lease expired can no longer decide
    r = c.client.post(f"/review/items/{item}/decision", json={"final_action": "allow"}, headers=c.h("alice"))
    assert r.status_code == 409


def test_filters_counts_paging_and_next(console: Console) -> None:
    c = console
    for i in range(5):
        c.evaluate(f"i{i}", "you idiot", "ann" if i % 2 else "ben")
    c.evaluate("t1", "eliminate the jews and you idiot", "ben")  # remove: not queued
    c.evaluate("ok", "hello there", "ann")  # allow: not queued
    c.flush()
    page = _queue(c, limit=2)
    assert [i["post_id"] for i in page["items"]] == ["i0", "i1"] and page["counts"]["open"] == 5
    rest = _queue(c, limit=10, after=page["next_after"])
    assert [i["post_id"] for i in rest["items"]] == ["i2", "i3", "i4"] and rest["next_after"] is None
    assert [i["post_id"] for i in _queue(c, author="ann")["items"]] == ["i1", "i3"]
    assert _queue(c, clause="insults", verdict="violates")["counts"]["open"] == 5
    assert _queue(c, clause="threats", verdict="violates")["counts"]["open"] == 0
    assert _queue(c, older_than_s=3_600)["items"] == []
    nxt = c.client.post("/review/next", json={"author": "ben"}, headers=c.h("alice")).json()["item"]
    assert nxt["post_id"] == "i0" and nxt["claimed_by"] == "alice"
    assert _queue(c, state="claimed")["counts"] == {"open": 4, "claimed": 1, "decided": 0}
    for bad in ({"verdict": "maybe"}, {"limit": 0}, {"author": "a\x00b"}, {"after": -1}, {"state": "x"}):
        r = c.client.get("/review/items", params=bad, headers=c.h("viewer"))
        assert r.status_code == 422, bad
    assert c.client.get("/review/items/999", headers=c.h("viewer")).status_code == 404
    r = c.client.post("/review/items/1/decision", json={"final_action": "allow", "note": "a\x00"}, headers=c.h("bob"))
    assert r.status_code == 422


def test_sampled_allow_and_remove_enter_the_queue(demo_runtime: Runtime, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    for c in open_console(demo_runtime, url, review_sample_allow=1.0, review_sample_remove=1.0, store_text="none"):
        c.evaluate("a", "hello there")
        c.evaluate("r", "eliminate the jews")
        c.flush()
        items = {i["post_id"]: i for i in _queue(c)["items"]}
        assert items["a"]["reason"] == "sample_allow" and items["r"]["reason"] == "sample_remove"
        # queued texts are kept for reviewers although the store keeps none
        assert c.client.get("/verdicts/a", headers=c.h("viewer")).json()["text"] is None
        item = c.client.get(f"/review/items/{items['a']['id']}", headers=c.h("viewer")).json()
        assert item["text"] == "hello there"


def _decide(c: Console, pid: str, who: str, action: str, judgements: list[tuple[str, str]]) -> None:
    item = next(i for i in _queue(c, state="any")["items"] if i["post_id"] == pid)["id"]
    assert c.client.post(f"/review/items/{item}/claim", headers=c.h(who)).status_code == 200
    body = {
        "final_action": action,
        "judgements": [{"policy_id": "demo", "clause_id": cl, "judgement": j} for cl, j in judgements],
    }
    assert c.client.post(f"/review/items/{item}/decision", json=body, headers=c.h(who)).status_code == 200


def test_agreement_exports_and_replay(demo_runtime: Runtime, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    for c in open_console(demo_runtime, url, review_sample_remove=1.0):
        c.evaluate("up", "you idiot", "ann")
        c.evaluate("over", "what an idiot idea", "ann")
        c.evaluate("rm", "eliminate the jews", "ben")
        c.flush()
        _decide(c, "up", "alice", "remove", [("insults", "uphold")])
        _decide(c, "over", "alice", "allow", [("insults", "overturn")])
        _decide(c, "rm", "bob", "remove", [("threats", "uphold")])

        rows = c.client.get("/review/agreement", headers=c.h("viewer")).json()["clauses"]
        by = {r["clause_id"]: r for r in rows}
        ins = by["insults"]
        assert ins["policy_version"] == "1" and ins["reviewed"] == 3 and ins["overturned"] == 1
        assert ins["violates"]["precision"] == 0.5 and ins["violates"]["recall"] == 1.0
        assert ins["overturn_rate"] == round(1 / 3, 4)
        assert by["threats"]["violates"] == {"upheld": 1, "overturned": 0, "precision": 1.0, "recall": 1.0}

        author = c.client.get("/review/authors/ann", headers=c.h("viewer")).json()
        assert author["queued"] == 2 and author["strikes"] == 1
        assert [r["post_id"] for r in author["recent"]] == ["over", "up"]

        text = c.client.get("/review/export", params={"format": "csv"}, headers=c.h("viewer")).text
        table = list(csv.DictReader(io.StringIO(text)))
        assert {(r["post_id"], r["clause_id"], r["judgement"]) for r in table} >= {("over", "insults", "overturn")}
        lines = c.client.get("/review/export", headers=c.h("viewer")).text.splitlines()
        assert [json.loads(line)["post_id"] for line in lines] == ["up", "over", "rm"]
        assert "text" not in json.loads(lines[0])

    runner = CliRunner()
    out = tmp_path / "cases"
    result = runner.invoke(cli, ["cases", "export", str(out), "--store-url", url])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load((out / "demo.reviewed.cases.yaml").read_text(encoding="utf-8"))
    expect = {case["text"]: case["expect"] for case in doc["cases"]}
    # upheld verdicts are kept, the overturned flag becomes no violation
    assert expect == {"you idiot": {"insults": "violates"}, "what an idiot idea": {}, "eliminate the jews": {
        "threats": "violates"}}
    replayed = runner.invoke(cli, ["replay", str(out / "demo.reviewed.cases.yaml"),
                                   "--policy-dir", str(demo_runtime.settings.policy_dir), "--models", ""])
    # the overturned post still violates under today's policy: the replay shows exactly that
    assert replayed.exit_code == 1 and "review-2" in replayed.output and "review-1" not in replayed.output.split(
        "FAIL")[-1]


def test_purge_forgets_old_texts_and_keeps_decisions(console: Console, tmp_path: Path) -> None:
    c = console
    item = _one_item(c)
    url = str(c.review.engine.url)
    runner = CliRunner()
    result = runner.invoke(cli, ["review", "purge", "--older-than-s", "3600", "--store-url", url])
    assert result.exit_code == 0 and "of 0 queued" in result.output
    result = runner.invoke(cli, ["review", "purge", "--older-than-s", "0", "--store-url", url])
    assert "of 1 queued" in result.output
    got = c.client.get(f"/review/items/{item}", headers=c.h("viewer")).json()
    assert got["text"] is None and got["text_purged"] is True
    assert got["audit"][0]["event"] == "enqueued"  # the purge is logged without an item


def test_keys_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    runner = CliRunner()
    result = runner.invoke(cli, ["keys", "create", "--name", "root", "--role", "admin", "--store-url", url])
    assert result.exit_code == 0
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("gvl_")
    assert runner.invoke(cli, ["keys", "create", "--name", "x", "--role", "god", "--store-url", url]).exit_code == 2
    listed = runner.invoke(cli, ["keys", "list", "--store-url", url]).stdout
    assert "root\tadmin\tactive" in listed and token not in listed


@pytest.mark.postgres
def test_twenty_concurrent_claims_one_wins(demo_runtime: Runtime, postgres_url: str) -> None:
    for c in open_console(demo_runtime, postgres_url):
        item = _one_item(c)
        names = [f"r{i}" for i in range(20)]
        for n in names:
            c.keys[n] = c.review.keys.create(n, "reviewer")[1]

        def claim(name: str, c: Console = c, item: int = item) -> int:
            return c.client.post(f"/review/items/{item}/claim", headers=c.h(name)).status_code

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(claim, names))
        assert sorted(codes) == [200] + [409] * 19
        got = c.client.get(f"/review/items/{item}", headers=c.h("viewer")).json()
        claims = [e for e in got["audit"] if e["event"] == "claimed"]
        assert len(claims) == 1 and claims[0]["actor"] == got["claimed_by"]
