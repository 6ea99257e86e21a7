"""A WSGI application for many hosts behind HAProxy, with its shared state in Redis.

Nothing that matters lives in a process: any request may reach any process of any host
(wsgi.multiprocess is True, and across hosts it is true even with processes=1). So:

  GET  /health    200 "ok" when this process has loaded the application: HAProxy's check.
                  It does not ask Redis: a Redis outage must not take every host out of
                  the pool at once (the requests that need Redis fail instead, with 503).
  GET  /version   this host's release, host name, pid, and wsgi.multiprocess, as JSON.
  POST /counter   adds one to the shared counter, once per Idempotency-Key header: the key
                  is stored with the increment (one Lua script, atomic in Redis), so a
                  request replayed by HAProxy's retry-on, or by the client, after a host
                  died with it in flight, is not counted twice. Answers the counter's value
                  and whether this request applied it.
  GET  /counter   the counter's value.
  GET  /session   a visit count kept in a session in Redis, found by a cookie: the visits
                  add up whichever host serves them.

Settings come from the environment Apache passes (SetEnv in the site): APP_REDIS_URL
(default redis://127.0.0.1:6379/0) and APP_HOST_NAME (default: the machine's host name).
The release is the VERSION file beside this script.
"""
import json
import os
import secrets
import socket

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "VERSION")) as f:
    VERSION = f.read().strip()

COUNTER_KEY = "app:counter"
KEY_TTL = 24 * 3600  # how long an idempotency key is remembered, in seconds
SESSION_TTL = 3600

# KEYS[1] the idempotency key's marker, KEYS[2] the counter; ARGV[1] the marker's lifetime.
INCREMENT_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
    return {redis.call('INCR', KEYS[2]), 1}
end
return {tonumber(redis.call('GET', KEYS[2]) or '0'), 0}
"""

_clients = {}


def store(environ):
    """One Redis client (a thread-safe connection pool) per process and URL."""
    url = environ.get("APP_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = _clients.get(url)
    if client is None:
        client = _clients.setdefault(url, redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2))
    return client


def host_name(environ):
    return environ.get("APP_HOST_NAME") or socket.gethostname()


def reply(start_response, status, data, headers=()):
    body = json.dumps(data).encode() if not isinstance(data, bytes) else data
    ctype = "application/json" if not isinstance(data, bytes) else "text/plain"
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))]
                   + list(headers))
    return [body]


def counter(environ, start_response, r):
    if environ["REQUEST_METHOD"] == "GET":
        return reply(start_response, "200 OK", {"counter": int(r.get(COUNTER_KEY) or 0)})
    key = environ.get("HTTP_IDEMPOTENCY_KEY", "")
    if not key or len(key) > 100:
        return reply(start_response, "400 Bad Request",
                     b"POST /counter needs an Idempotency-Key header (at most 100 bytes)\n")
    value, applied = r.eval(INCREMENT_ONCE, 2, "app:applied:" + key, COUNTER_KEY, KEY_TTL)
    return reply(start_response, "200 OK", {
        "counter": value, "applied": bool(applied), "version": VERSION,
        "host": host_name(environ)})


def session(environ, start_response, r):
    sid = None
    for part in environ.get("HTTP_COOKIE", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "sid" and value.isalnum():
            sid = value
    headers = []
    if sid is None:
        sid = secrets.token_hex(16)
        headers.append(("Set-Cookie", "sid=%s; Path=/; HttpOnly; SameSite=Lax" % sid))
    key = "app:session:" + sid
    visits = r.hincrby(key, "visits", 1)
    r.expire(key, SESSION_TTL)
    return reply(start_response, "200 OK",
                 {"visits": visits, "host": host_name(environ)}, headers)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/health":
        return reply(start_response, "200 OK", b"ok\n")
    if path == "/version":
        return reply(start_response, "200 OK", {
            "version": VERSION, "host": host_name(environ), "pid": os.getpid(),
            "multiprocess": environ["wsgi.multiprocess"],
            "multithread": environ["wsgi.multithread"]})
    handler = {"/counter": counter, "/session": session}.get(path)
    if handler is None:
        return reply(start_response, "404 Not Found", b"not found\n")
    try:
        return handler(environ, start_response, store(environ))
    except redis.RedisError as e:
        environ["wsgi.errors"].write("app: Redis failed: %r\n" % (e,))
        return reply(start_response, "503 Service Unavailable", b"the shared store failed\n")
