"""Small HTTP servers implementing the documented Particle and Peridio endpoints, for tests and the bench.

They listen on 127.0.0.1 (port chosen by the OS) in a thread; the code under test only gets the
base URL, exactly as it would get the real one. Faults are scripted per server: a queue of canned
error responses served before normal handling (401, 429 + Retry-After, 5xx), a hang longer than
the client's timeout, and device classes (invalid / non-member / protected) for partial success.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence per-request logging
        pass

    def _body(self) -> dict[str, Any]:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b"{}"
        return json.loads(raw or b"{}")

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        body = self._body()
        with fake.lock:
            fake.requests.append((method, self.path, body, dict(self.headers)))
            scripted = fake.script.pop(0) if fake.script else None
            hang = fake.hang_s
        if hang:
            time.sleep(hang)
        if scripted is not None:
            status, headers, payload = scripted
            self._reply(status, payload, headers)
            return
        if not fake.authorized(self.headers.get("Authorization", "")):
            self._reply(401, {"error": "invalid_token", "error_description": "The access token provided is invalid."})
            return
        status, payload = fake.handle(method, self.path, body)
        self._reply(status, payload)

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeApi


class FakeApi:
    """Base: server lifecycle, request log and fault script."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, dict[str, Any], dict[str, str]]] = []
        self.script: list[tuple[int, dict[str, str], Any]] = []
        self.hang_s = 0.0
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, status: int, body: Any = None, headers: dict[str, str] | None = None, times: int = 1) -> None:
        with self.lock:
            self.script.extend([(status, headers or {}, body or {"error": f"scripted {status}"})] * times)

    def authorized(self, header: str) -> bool:
        raise NotImplementedError

    def handle(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        raise NotImplementedError


class FakeParticle(FakeApi):
    def __init__(self, token: str = "particle-test-token-1234567890") -> None:
        super().__init__(token)
        self.products: dict[str, set[str]] = {}
        self.invalid: set[str] = set()
        self.nonmember: set[str] = set()
        self.protected: set[str] = set()
        self.groups: dict[str, dict[str, set[str]]] = {}
        self.import_counts: Counter[str] = Counter()  # device id → how many import requests named it

    def authorized(self, header: str) -> bool:
        return header == f"Bearer {self.secret}"

    def handle(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["v1", "products"] or parts[3] != "devices":
            return 404, {"error": "not found"}
        product = parts[2]
        if product.startswith("missing"):
            return 404, {"ok": False, "error": "Product not found"}
        with self.lock:
            owned = self.products.setdefault(product, set())
            if method == "POST":
                return 200, self._import(owned, body)
            if body.get("action") != "groups":
                return 400, {"error": "unknown action"}
            for did in body.get("devices", []):
                if did not in owned:
                    return 400, {"error": f"device {did} is not in product {product}"}
                self.groups.setdefault(product, {}).setdefault(did, set()).update(body["metadata"]["add"])
            return 200, {"ok": True}

    def _import(self, owned: set[str], body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, list[str]] = {k: [] for k in ("updatedDeviceIds", "existingDeviceIds", "invalidDeviceIds",
                                                      "nonmemberDeviceIds", "protectedDeviceIds")}
        for did in body.get("ids", []):
            self.import_counts[did] += 1
            if did in self.invalid or len(did) != 24:
                out["invalidDeviceIds"].append(did)
            elif did in self.nonmember:
                out["nonmemberDeviceIds"].append(did)
            elif did in self.protected:
                out["protectedDeviceIds"].append(did)
            elif did in owned:
                out["existingDeviceIds"].append(did)
            else:
                owned.add(did)
                out["updatedDeviceIds"].append(did)
        return {"updated": len(out["updatedDeviceIds"]), **out}


class FakePeridio(FakeApi):
    def __init__(self, key: str = "peridio-test-key-0987654321") -> None:
        super().__init__(key)
        self.devices: dict[str, dict[str, Any]] = {}
        self.create_counts: Counter[str] = Counter()

    def authorized(self, header: str) -> bool:
        return header == f"Token {self.secret}"

    def handle(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if method != "POST" or path.rstrip("/") != "/devices":
            return 404, {"error": "not found"}
        ident = body.get("identifier")
        if not ident or not str(body.get("product_prn", "")).startswith("prn:"):
            return 422, {"errors": {"product_prn": ["is invalid"]}}
        with self.lock:
            self.create_counts[ident] += 1
            if ident in self.devices:
                return 409, {"errors": {"identifier": ["has already been taken"]}}
            self.devices[ident] = body
        return 201, {"device": body}
