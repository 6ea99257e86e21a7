"""Load for tests/test_multihost.py: POST /counter through HAProxy from several threads.

    multihost_load.py HOST:PORT --threads N --max-requests N --max-seconds S

Runs in the load balancer's network namespace (nsenter --net). Each thread keeps one
keep-alive connection and sends POST /counter with a fresh Idempotency-Key. A request that
fails (a status other than 200, or a broken connection) is recorded as a first-attempt
failure and sent again with the same key, at most 5 times, 0.2 s apart: an increment
must count once however many times it is sent. The load stops at the first line on stdin
(or its end), or at --max-requests / --max-seconds, whichever comes first; then one JSON
document goes to stdout:

  {"requests": [[key, t_start, t_end, first_status, final_status, attempts, host,
                 version, applied], ...], "stopped_by": "stdin" | "max-requests" | ...}

t_start/t_end are time.monotonic() (one clock for every process of the machine), statuses
are HTTP codes or 0 for a connection error.
"""
import argparse
import http.client
import json
import sys
import threading
import time
import uuid

RETRIES = 5
RETRY_PAUSE = 0.2


class Worker(threading.Thread):
    def __init__(self, load, index):
        super().__init__(daemon=True)
        self.load = load
        self.index = index
        self.conn = None
        self.records = []

    def send(self, key):
        """One attempt: (status, document); status 0 when the connection broke."""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.load.host, self.load.port,
                                                       timeout=15)
            self.conn.request("POST", "/counter", body=b"",
                              headers={"Idempotency-Key": key})
            resp = self.conn.getresponse()
            body = resp.read()
            if resp.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            doc = None
            if resp.status == 200:
                doc = json.loads(body)
            return resp.status, doc
        except (OSError, http.client.HTTPException, ValueError):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return 0, None

    def run(self):
        load = self.load
        while not load.stop.is_set():
            if not load.take():
                break
            key = uuid.uuid4().hex
            t0 = time.monotonic()
            status, doc = self.send(key)
            t1 = time.monotonic()
            first, attempts = status, 1
            while status != 200 and attempts < RETRIES:
                time.sleep(RETRY_PAUSE)
                status, doc = self.send(key)
                attempts += 1
            doc = doc or {}
            self.records.append([key, t0, t1, first, status, attempts, doc.get("host"),
                                 doc.get("version"), doc.get("applied")])
            if load.pause:
                time.sleep(load.pause)


class Load:
    def __init__(self, args):
        self.host, _, port = args.target.rpartition(":")
        self.port = int(port)
        self.max_requests = args.max_requests
        self.pause = args.pause
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.started = 0
        self.stopped_by = None

    def take(self):
        with self.lock:
            if self.started >= self.max_requests:
                self.stopped_by = self.stopped_by or "max-requests"
                return False
            self.started += 1
            return True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("target", help="HOST:PORT of HAProxy's frontend")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--max-requests", type=int, default=20000)
    p.add_argument("--max-seconds", type=float, default=60)
    p.add_argument("--pause", type=float, default=0.002, help="seconds between a thread's requests")
    args = p.parse_args()
    load = Load(args)
    workers = [Worker(load, i) for i in range(args.threads)]
    for w in workers:
        w.start()

    def watch_stdin():
        sys.stdin.readline()
        load.stopped_by = load.stopped_by or "stdin"
        load.stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print("started", file=sys.stderr, flush=True)
    deadline = time.monotonic() + args.max_seconds
    while not load.stop.is_set() and any(w.is_alive() for w in workers):
        if time.monotonic() > deadline:
            load.stopped_by = load.stopped_by or "max-seconds"
            load.stop.set()
        time.sleep(0.05)
    for w in workers:
        w.join(timeout=RETRIES * 20)
    records = [r for w in workers for r in w.records]
    json.dump({"requests": records, "stopped_by": load.stopped_by}, sys.stdout)


if __name__ == "__main__":
    main()
