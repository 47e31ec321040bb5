#!/usr/bin/env python3
"""scripts/soak.sh's admin writer and checker, run until the file STOP exists.

  driver.py write  OUT.jsonl TOKEN STOP PHASE_FILE URL [URL...]
  driver.py burst  OUT.jsonl TOKEN PHASE_FILE URL MAX
  driver.py check  OUT.jsonl STOP PHASE_FILE NAME=URL[,URL...] [...]

write: a loop of PUT (a new user `soak-N` of tenant acme) and DELETE (a user an earlier
acknowledged PUT made), each to the next URL in turn; every answer is recorded (phase, daemon,
op, user, HTTP status, revision). A DELETE is only tried once per user.
burst: PUTs of one custom role `soak-big` with a 200 KB description (a sequence number
first), replacing it each time, until one is not acknowledged or MAX were: on a full disk
this needs new pages where a small write could reuse the WAL's; recorded as `write` does.
check: every 100 ms, for each NAME, an HTTP caller-ID check asked of its first URL, then of
the next if that one does not answer 200 within 1 s; recorded answered or not, per phase.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request


def phase(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return "?"


def call(method, url, body=None, token=None, timeout=5.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except Exception as e:  # refused, reset, timeout: no answer
        return 0, type(e).__name__ + ": " + str(e)


def write(out, token, stop, phase_file, urls):
    n = 0
    acked_live = []  # users an acknowledged PUT made and no DELETE has been tried on
    with open(out, "a", buffering=1) as log:
        while not os.path.exists(stop):
            url = urls[n % len(urls)]
            if n % 3 == 2 and acked_live:
                op, user = "DELETE", acked_live.pop(0)
                body = None
            else:
                op, user = "PUT", f"soak-{os.getpid()}-{n}"
                body = {"id": user, "role": "tenant_user", "site": "hq"}
            ph = phase(phase_file)
            t0 = time.time()
            status, text = call(op, f"{url}/v1/tenants/acme/users/{user}", body, token)
            revision = None
            if status == 200:
                try:
                    revision = json.loads(text).get("revision")
                except ValueError:
                    pass
                if op == "PUT":
                    acked_live.append(user)
            log.write(json.dumps({"phase": ph, "url": url, "op": op, "user": user,
                                  "status": status, "revision": revision,
                                  "ms": round((time.time() - t0) * 1000),
                                  "error": None if status == 200 else text[:200]}) + "\n")
            n += 1
            time.sleep(0.1)


def burst(out, token, phase_file, url, most):
    with open(out, "a", buffering=1) as log:
        for n in range(most):
            body = {"id": "soak-big", "description": f"{time.time_ns()} " + "x" * 200_000,
                    "permissions": {"billing": ["view"]}}
            ph = phase(phase_file)
            t0 = time.time()
            status, text = call("PUT", f"{url}/v1/tenants/acme/roles/soak-big", body, token)
            revision = None
            if status == 200:
                revision = json.loads(text).get("revision")
            log.write(json.dumps({"phase": ph, "url": url, "op": "PUT-role", "user": "soak-big",
                                  "description": body["description"][:19],
                                  "status": status, "revision": revision,
                                  "ms": round((time.time() - t0) * 1000),
                                  "error": None if status == 200 else text[:200]}) + "\n")
            if status != 200:
                return


def check(out, stop, phase_file, groups):
    body = {"tenant": "acme", "user": "bob", "requested": "+15550100000", "dialed": "5551234"}
    with open(out, "a", buffering=1) as log:
        while not os.path.exists(stop):
            for name, urls in groups:
                ph = phase(phase_file)
                by = None
                for url in urls:
                    status, _ = call("POST", f"{url}/v1/check/caller-id", body, timeout=1.0)
                    if status == 200:
                        by = url
                        break
                log.write(json.dumps({"phase": ph, "group": name, "answered": by is not None,
                                      "by": by}) + "\n")
            time.sleep(0.1)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "write":
        write(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:])
    elif mode == "burst":
        burst(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
    elif mode == "check":
        groups = []
        for g in sys.argv[5:]:
            name, urls = g.split("=", 1)
            groups.append((name, urls.split(",")))
        check(sys.argv[2], sys.argv[3], sys.argv[4], groups)
    else:
        sys.exit(f"unknown mode `{mode}`")
