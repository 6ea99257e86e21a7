"""A keep-alive HTTP/1.1 client that behaves as browsers and urllib3 do on a reused connection.

RFC 9112 9.3.1: a request sent on a connection that had already carried a response, and that
the server closed before any byte of the answer, was not processed; the client sends it once
more on a new connection. Anything else that goes wrong is a failure of the server. Used by the
restart tests to count exactly the requests a restart loses.
"""
import socket
import threading
import time


class Result:
    def __init__(self, status=None, body=b"", error=None, retried=False):
        self.status = status
        self.body = body
        self.error = error  # what went wrong, or None
        self.retried = retried

    @property
    def ok(self):
        return self.error is None and self.status == 200

    def __repr__(self):
        return "<Result %s %r%s%s>" % (self.status, self.body[:120],
                                       " error=%s" % self.error if self.error else "",
                                       " (retried)" if self.retried else "")


class Refused(Exception):
    """No connection could be made: the server is not listening (it stopped)."""


class Client:
    def __init__(self, port, timeout=30):
        self.port = port
        self.timeout = timeout
        self.sock = None
        self.used = 0  # responses this connection carried

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None
        self.used = 0

    def _connect(self):
        try:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        except ConnectionRefusedError as e:
            raise Refused(str(e))
        self.used = 0

    def _exchange(self, path):
        """(status, body, keep) or raises (OSError, bytes received so far)."""
        req = ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode()
        got = b""
        try:
            self.sock.sendall(req)
            while b"\r\n\r\n" not in got:
                b = self.sock.recv(65536)
                if not b:
                    raise ConnectionError("closed by the server")
                got += b
            head, rest = got.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            if "content-length" in headers:
                n = int(headers["content-length"])
                while len(rest) < n:
                    b = self.sock.recv(65536)
                    if not b:
                        raise ConnectionError("closed in the body")
                    got += b
                    rest += b
                body = rest[:n]
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                body = b""
                while True:
                    while b"\r\n" not in rest:
                        b = self.sock.recv(65536)
                        if not b:
                            raise ConnectionError("closed in the body")
                        got += b
                        rest += b
                    size_line, rest = rest.split(b"\r\n", 1)
                    size = int(size_line.split(b";")[0], 16)
                    while len(rest) < size + 2:
                        b = self.sock.recv(65536)
                        if not b:
                            raise ConnectionError("closed in the body")
                        got += b
                        rest += b
                    body += rest[:size]
                    rest = rest[size + 2:]
                    if size == 0:
                        break
            else:
                while True:
                    b = self.sock.recv(65536)
                    if not b:
                        break
                    rest += b
                body = rest
                headers["connection"] = "close"
            keep = headers.get("connection", "").lower() != "close"
            return status, body, keep
        except OSError as e:
            e.received = got
            raise

    def get(self, path):
        """One request. Raises Refused when no connection can be made."""
        retried = False
        for attempt in (0, 1):
            if not self.sock:
                self._connect()
            reused = self.used > 0
            try:
                status, body, keep = self._exchange(path)
            except OSError as e:
                self.close()
                if reused and not e.received and attempt == 0:
                    retried = True
                    continue
                return Result(error="%s%s after %d bytes%s" % (
                    type(e).__name__, ": %s" % e if str(e) else "", len(e.received),
                    " on a reused connection" if reused else " on a new connection"),
                    retried=retried)
            self.used += 1
            if not keep:
                self.close()
            return Result(status, body, retried=retried)


def load(port, path, total, clients=6, during=None, stop_on_refused=False, timeout=30,
         limit=60):
    """At least total requests for path over clients keep-alive connections; during(), if
    given, runs in the calling thread while they go, and they go on until it has returned
    (at most limit seconds in all). Returns the list of Results (a client that finds the
    server gone stops, when stop_on_refused)."""
    results = []
    lock = threading.Lock()
    per = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    deadline = time.time() + limit
    busy = threading.Event()
    busy.set()

    def run(n):
        c = Client(port, timeout)
        mine = []
        try:
            while len(mine) < n or busy.is_set():
                if time.time() > deadline:
                    break
                try:
                    mine.append(c.get(path))
                except Refused:
                    if stop_on_refused:
                        break
                    mine.append(Result(error="connection refused"))
        finally:
            c.close()
            with lock:
                results.extend(mine)

    threads = [threading.Thread(target=run, args=(n,)) for n in per]
    for t in threads:
        t.start()
    try:
        if during:
            during()
    finally:
        busy.clear()
        for t in threads:
            t.join(150)
    return results
