"""A local HTTP receiver for the sink tests, on 127.0.0.1 with an
ephemeral port, with fault injection.

The receiver follows a plan: one action per request, in order, then the
default action. Actions:
  ok                    200, the body is recorded as accepted
  500, 503, 400, ...    that status (a JSON error body), not recorded
  429:N                 429 with Retry-After: N
  503:N                 503 with Retry-After: N
  slow:S                wait S seconds, then as ok
  hang:S                wait S seconds, then as ok only if the client is
                        still there (a client that timed out or was killed
                        never saw the answer, so it does not count)

A request is "accepted" only when the receiver decided to answer 2xx to a
client still connected: then "delivered exactly once" is checkable.
When a secret is given, every request must carry a valid
Keywatch-Signature (t within the replay window); a bad one is answered 401
and counted in bad_signatures.
"""
import hashlib
import hmac
import http.server
import json
import select
import socket
import threading
import time

REPLAY_WINDOW = 300


def verify_signature(secret, header, body, now=None):
    """The receiver side of webhook signing (the README's example)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
        sig = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - t) > REPLAY_WINDOW:
        return False
    want = hmac.new(secret.encode(), b"%d." % t + body,
                    hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, sig)


class Receiver:
    def __init__(self, plan=(), default="ok", secret=None, port=0,
                 tls=None):
        self.plan = list(plan)
        self.default = default
        self.secret = secret
        self.lock = threading.Lock()
        self.accepted = []      # (path, headers dict, body bytes)
        self.requests = []      # (monotonic time, action, path)
        self.bad_signatures = 0
        self.in_hang = threading.Event()
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with recv.lock:
                    action = recv.plan.pop(0) if recv.plan else recv.default
                    recv.requests.append((time.monotonic(), action,
                                          self.path))
                if recv.secret is not None:
                    sig = self.headers.get("Keywatch-Signature", "")
                    if not verify_signature(recv.secret, sig, body):
                        with recv.lock:
                            recv.bad_signatures += 1
                        return self.answer(401, b'{"error":"bad signature"}')
                name, _, arg = action.partition(":")
                if name == "slow":
                    time.sleep(float(arg))
                    name = "ok"
                if name == "hang":
                    recv.in_hang.set()
                    time.sleep(float(arg))
                    if not self.client_alive():
                        self.close_connection = True
                        return
                    name = "ok"
                if name == "ok":
                    with recv.lock:
                        recv.accepted.append(
                            (self.path, dict(self.headers.items()), body))
                    return self.answer(200, b'{"ok":true}')
                code = int(name)
                extra = {"Retry-After": arg} if arg else {}
                self.answer(code, b'{"error":"injected %d"}' % code, extra)

            def client_alive(self):
                sock = self.connection
                r, _, _ = select.select([sock], [], [], 0)
                if not r:
                    return True
                try:
                    return sock.recv(1, socket.MSG_PEEK) != b""
                except OSError:
                    return False

            def answer(self, code, body, extra=None):
                # One write for the whole answer: headers and body in two
                # segments meet the client's delayed ACK (40 ms each).
                head = ["HTTP/1.1 %d %s" % (code, self.responses.get(
                            code, ("",))[0]),
                        "Content-Type: application/json",
                        "Content-Length: %d" % len(body)]
                head += ["%s: %s" % kv for kv in (extra or {}).items()]
                try:
                    self.wfile.write(("\r\n".join(head) + "\r\n\r\n")
                                     .encode() + body)
                    self.wfile.flush()
                except OSError:
                    pass

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", port), Handler)
        if tls:  # (certfile, keyfile): serve HTTPS
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket,
                                                 server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def accepted_ids(self):
        with self.lock:
            return [json.loads(b)["id"] for _, _, b in self.accepted]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port():
    """A port nothing listens on (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
