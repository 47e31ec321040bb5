#!/usr/bin/env python3
"""scripts/soak.sh's verdict: reads what the soak left in its directory and prints the table.

Exits 1 if an acknowledged write is missing from its store (a PUT's user absent, or a
DELETE's user present), any emergency INVITE got anything but 302, or a daemon still refuses
writes once every fault has ended.
"""
import collections
import csv
import glob
import json
import os
import sys

T, seconds, rate, erate, mounted = sys.argv[1:6]
PHASES = ["baseline", "postgres", "kill9", "sqlite"]
# the driver's finer phase names, each within one sipp phase
SUB = {"baseline": "baseline", "postgres-down": "postgres", "postgres-restarted": "postgres",
       "daemon-A-killed": "kill9", "daemon-A-restarted": "kill9",
       "sqlite-disk-full": "sqlite", "sqlite-disk-freed": "sqlite", "after": "sqlite"}


def last_row(path):
    rows = list(csv.reader(open(path), delimiter=";"))
    return dict(zip(rows[0], rows[-1]))


def sipp(phase, kind):
    d = f"{T}/sipp-{phase}/{kind}"
    stat = last_row(f"{d}/stat.csv")
    counts = last_row(glob.glob(f"{d}/*_counts.csv")[0])
    recv = {code: int(counts.get(f"{i}_{code}_Recv", 0))
            for i, code in [(2, "302"), (3, "403"), (4, "408"), (5, "500"), (6, "503")]}
    calls = int(stat["TotalCallCreated"])
    timeouts = int(stat["FailedTimeoutOnRecv(C)"]) + int(stat["FailedMaxUDPRetrans(C)"])
    return {"calls": calls, "302": recv["302"], "403": recv["403"], "timeouts": timeouts,
            "other": calls - recv["302"] - recv["403"] - timeouts}


def jsonl(path):
    return [json.loads(line) for line in open(path)] if os.path.exists(path) else []


def acme(path):
    doc = json.load(open(path))
    tenants = doc.get("tenants", doc if isinstance(doc, list) else [])
    return next(t for t in tenants if t["id"] == "acme")


def users(path):
    return {u["id"]: u for u in acme(path).get("users", [])}


def verify_role(writes, path):
    """The last acknowledged PUT of role `soak-big` (or a later, unacknowledged one) is stored."""
    acked = [w for w in writes if w["op"] == "PUT-role" and w["status"] == 200]
    if not acked:
        return []
    role = next((r for r in acme(path).get("roles", []) if r["id"] == "soak-big"), None)
    stored = (role or {}).get("description", "")[:19]
    if not role or stored < acked[-1]["description"]:
        return [acked[-1]]
    return []


def verify(writes, present):
    """Acknowledged writes missing from the store; and DELETEs whose outcome is unknown."""
    writes = [w for w in writes if w["op"] in ("PUT", "DELETE")]
    lost, uncertain = [], 0
    last_acked = {}
    tried_delete_unacked = set()
    for w in writes:
        if w["status"] == 200:
            last_acked[w["user"]] = w
        elif w["op"] == "DELETE":
            tried_delete_unacked.add(w["user"])
    for user, w in last_acked.items():
        if w["op"] == "PUT" and user not in present:
            if user in tried_delete_unacked:
                uncertain += 1  # a DELETE was refused or unanswered: it may have been applied
            else:
                lost.append(w)
        elif w["op"] == "DELETE" and user in present:
            lost.append(w)
    return lost, uncertain


def revisions_unique(writes):
    revs = [w["revision"] for w in writes if w["status"] == 200 and w.get("revision") is not None]
    return len(revs) == len(set(revs))


pg_writes, sq_writes = jsonl(f"{T}/writes-pg.jsonl"), jsonl(f"{T}/writes-sqlite.jsonl")
pg_lost, pg_uncertain = verify(pg_writes, users(f"{T}/export-pg.json"))
sq_lost, sq_uncertain = verify(sq_writes, users(f"{T}/export-sqlite.json"))
sq_lost += verify_role(sq_writes, f"{T}/export-sqlite.json")
lost_keys = {(w["user"], w["op"]) for w in pg_lost + sq_lost}
checks = jsonl(f"{T}/checks.jsonl")

rows, bad = [], False
total_refused = 0
print(f"\nfault soak: {seconds} s, {rate} ordinary + {erate} emergency INVITE/s through Kamailio "
      f"(dispatcher over daemons A, B on one Postgres); daemon C on SQLite on a small {mounted}\n")
print("| phase | calls | 302 | 403 | other | timeouts | emergency calls / refused | checks A-or-B failed | checks C failed | writes Postgres acked / refused / lost | writes SQLite acked / refused / lost |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for ph in PHASES:
    c, e = sipp(ph, "calls"), sipp(ph, "emergency")
    refused = e["calls"] - e["302"]
    total_refused += refused

    def wsum(writes):
        ws = [w for w in writes if SUB.get(w["phase"]) == ph]
        acked = [w for w in ws if w["status"] == 200]
        lost = [w for w in acked if (w["user"], w["op"]) in lost_keys]
        return f"{len(acked)} / {len(ws) - len(acked)} / {len(lost)}"

    def cfail(group):
        cs = [x for x in checks if x["group"] == group and SUB.get(x["phase"]) == ph]
        return f"{sum(not x['answered'] for x in cs)} of {len(cs)}"

    print(f"| {ph} | {c['calls'] + e['calls']} | {c['302'] + e['302']} | {c['403'] + e['403']} | "
          f"{c['other'] + e['other']} | {c['timeouts'] + e['timeouts']} | {e['calls']} / {refused} | "
          f"{cfail('pair')} | {cfail('C')} | {wsum(pg_writes)} | {wsum(sq_writes)} |")

print()
for name, writes in [("Postgres", pg_writes), ("SQLite", sq_writes)]:
    errors = collections.Counter((w["status"], (w["error"] or "")[:90]) for w in writes if w["status"] != 200)
    for (status, err), n in errors.most_common(4):
        print(f"{name} writes refused: {n} x {status or 'no answer'} {err}")
    if not revisions_unique(writes):
        print(f"{name}: two acknowledged writes answered with the same revision")
        bad = True
for name, writes in [("Postgres", pg_writes), ("SQLite", sq_writes)]:
    # recovered: the writes of the last seconds, after every fault had ended, were acknowledged
    tail = [w for w in writes if w["phase"] == "after" and w["op"] != "PUT-role"]
    refused = sum(w["status"] != 200 for w in tail)
    print(f"{name} writes after every fault had ended: {len(tail) - refused} acked, {refused} refused")
    if refused or not tail:
        print(f"NOT RECOVERED: the {name} store's daemon still refuses writes")
        bad = True
for name, group in [("A", "A"), ("B", "B")]:
    cs = [x for x in checks if x["group"] == group]
    per = collections.Counter(x["phase"] for x in cs if not x["answered"])
    print(f"checks asked of daemon {name} alone, unanswered: {dict(per) or 0}")
print(f"uncertain (acked PUT, then an unacknowledged DELETE): Postgres {pg_uncertain}, SQLite {sq_uncertain}")
for f, what in [("dropped-A-before-kill", "audit dropped (metric) before the kill"),
                ("dropped-end", "audit dropped (metric) at the end"),
                ("trail-dropped-pg", "audit_dropped in the Postgres trail"),
                ("trail-dropped-sqlite", "audit_dropped in the SQLite trail")]:
    p = f"{T}/{f}"
    if os.path.exists(p):
        print(f"{what}: " + " ".join(open(p).read().split()))
revs = {n: open(f"{T}/revision-{n}").read().strip() for n in "ABC" if os.path.exists(f"{T}/revision-{n}")}
print(f"table revision at the end: {revs}")
if os.path.exists(f"{T}/disk-full.df"):
    print("SQLite disk when full: " + open(f"{T}/disk-full.df").read().strip())

for w in pg_lost + sq_lost:
    print(f"LOST: {w}")
if pg_lost or sq_lost:
    bad = True
if total_refused:
    print(f"REFUSED: {total_refused} emergency INVITEs got something other than 302")
    bad = True
if revs.get("A") != revs.get("B"):
    print(f"daemons A and B disagree on the revision: {revs}")
print("FAIL" if bad else "ok")
sys.exit(1 if bad else 0)
