#!/usr/bin/python3
"""A laptop client of the krb5bridge gateway with Python requests (docs/gateway.md): log in with a
password, submit a batch script, wait for the job to end, print what the gateway says about it.

usage: gateway-example.py USER SCRIPT [NAME=VALUE ...]
  The password is read from standard input (one line); the gateway's URL and CA come from
  KRB5BRIDGE_GATEWAY_URL and KRB5BRIDGE_GATEWAY_CA. NAME=VALUE pairs go into the job's environment.
  Prints one JSON line per step: login, submit, the finished job. Exits 1 on any error answer.
"""
import json
import os
import sys
import time

import requests


def main():
    url = os.environ["KRB5BRIDGE_GATEWAY_URL"].rstrip("/")
    ca = os.environ.get("KRB5BRIDGE_GATEWAY_CA", True)
    user, script_path = sys.argv[1], sys.argv[2]
    env = dict(kv.split("=", 1) for kv in sys.argv[3:])
    password = sys.stdin.readline().rstrip("\n")
    s = requests.Session()
    s.verify = ca

    r = s.post(f"{url}/api/v1/login", json={"username": user, "password": password}, timeout=30)
    del password
    if r.status_code != 200:
        sys.exit(f"login: HTTP {r.status_code} {r.text}")
    login = r.json()
    print(json.dumps({"step": "login", "principal": login["principal"], "expires": login["expires"]}), flush=True)
    s.headers["Authorization"] = f"Bearer {login['token']}"

    with open(script_path) as f:
        job = {"script": f.read(), "name": "laptop-job", "environment": env}
    out = os.environ.get("JOB_STDOUT")
    if out:
        job["stdout"] = out
    r = s.post(f"{url}/api/v1/jobs", json=job, timeout=30)
    if r.status_code != 201:
        sys.exit(f"submit: HTTP {r.status_code} {r.text}")
    job_id = r.json()["job_id"]
    print(json.dumps({"step": "submit", "job_id": job_id}), flush=True)

    for _ in range(600):
        r = s.get(f"{url}/api/v1/jobs/{job_id}", timeout=30)
        if r.status_code != 200:
            sys.exit(f"status: HTTP {r.status_code} {r.text}")
        j = r.json()
        if j["state"] not in ("queued", "running"):
            print(json.dumps({"step": "done", **j}), flush=True)
            return
        time.sleep(0.2)
    sys.exit(f"job {job_id} did not finish within 120 s")


if __name__ == "__main__":
    main()
