"""A local imitation of an OpenAI-compatible ``POST /v1/chat/completions`` endpoint.

It answers from a script of behaviours, one per request (then the default): a valid
draft of the request's own files, the same wrapped in a fenced code block, garbage, a
reply of the wrong shape, an HTTP error, or a slow answer. It checks what a real server
checks (the bearer key, the model, the JSON schema response format) and records each
request so tests can assert on what was sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

KEY = "sk-test-imitation-key-0123456789"
MODEL = "imitation-1"


@attrs.define
class Behaviour:
    kind: str  # valid | fenced | garbage | wrong_shape | truncated | error | slow | evil_script
    status: int = 200
    delay: float = 0.0


VALID = Behaviour("valid")


def _draft(request: dict[str, Any], *, evil: bool = False) -> dict[str, Any]:
    user = json.loads(request["messages"][-1]["content"])
    page: str = user["files"].get("index.html", "<html><body></body></html>")
    note = "<p>" + user["request"].replace("<", "&lt;") + "</p>"
    if evil:
        note += '<script src="https://tracker.example/t.js"></script>'
    files = dict.fromkeys(
        request["response_format"]["json_schema"]["schema"]["properties"]["files"]["properties"]
    )
    files["index.html"] = page.replace("</body>", note + "</body>") if "</body>" in page else page + note
    return {"summary": "Added what you asked for", "files": files}


def _completion(content: str, finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}
        ],
    }


@attrs.define
class ChatImitation:
    script: list[Behaviour] = attrs.field(factory=list)
    default: Behaviour = VALID
    requests: list[dict[str, Any]] = attrs.field(factory=list)
    authorizations: list[str] = attrs.field(factory=list)
    url: str = ""

    def answer(self, authorization: str, body: bytes) -> tuple[int, bytes]:
        self.authorizations.append(authorization)
        if authorization != f"Bearer {KEY}":
            return 401, json.dumps({"error": {"message": "Incorrect API key provided"}}).encode()
        request = json.loads(body)
        self.requests.append(request)
        if request.get("model") != MODEL or request["response_format"]["type"] != "json_schema":
            return 400, b'{"error": {"message": "bad request"}}'
        behaviour = self.script.pop(0) if self.script else self.default
        if behaviour.delay:
            time.sleep(behaviour.delay)
        match behaviour.kind:
            case "valid" | "slow":
                return 200, json.dumps(_completion(json.dumps(_draft(request)))).encode()
            case "fenced":
                content = "```json\n" + json.dumps(_draft(request), indent=2) + "\n```"
                return 200, json.dumps(_completion(content)).encode()
            case "evil_script":
                return 200, json.dumps(_completion(json.dumps(_draft(request, evil=True)))).encode()
            case "garbage":
                return 200, json.dumps(_completion("Sure! I changed the title for you.")).encode()
            case "wrong_shape":
                return 200, json.dumps(_completion(json.dumps({"html": "<p>x</p>"}))).encode()
            case "truncated":
                return 200, json.dumps(
                    _completion('{"summary": "x", "files": {"index.html": "<ht', "length")
                ).encode()
            case "error":
                return behaviour.status, b'{"error": {"message": "upstream trouble"}}'
        raise AssertionError(behaviour.kind)


@contextmanager
def running(imitation: ChatImitation) -> Iterator[ChatImitation]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/v1/chat/completions":
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, payload = imitation.answer(self.headers.get("Authorization", ""), body)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and left

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    imitation.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield imitation
    finally:
        server.shutdown()
        server.server_close()
