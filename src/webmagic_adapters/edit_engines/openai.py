"""The ``openai`` engine: drafts through any OpenAI-compatible chat-completions server
(OpenAI, vLLM, Ollama, LiteLLM or another gateway).

One request per attempt: ``POST {base}/chat/completions`` with the instructions and the
site's text files, asking for a JSON object through ``response_format`` (a JSON schema,
strict). A reply is accepted only when it is that object and the draft passes the same
checks as an operator's (``webmagic_core.edits.checks``). Timeouts, connection failures,
429 and 5xx answers and unacceptable replies are retried (at most ``retries`` more times,
with a growing pause, within ``budget`` seconds); a refusal (400, 401, 403, 404...) is not.
Then the edit fails: the owner is told in plain words, operators get the details. The API
key is sent only in the ``Authorization`` header and never appears in a message.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from webmagic_core.edits.checks import ADDABLE, MAX_DRAFT_FILE_BYTES, draft_problems
from webmagic_core.edits.ports import Draft, DraftRequest, EditFailed

OWNER_REASON = (
    "Our assistant could not prepare this change right now. We have been told and will look "
    "at it; you can also ask again later or in other words."
)
SYSTEM_PROMPT = (
    "You edit the website of a small business. You receive the owner's request and the "
    "site's current text files. Answer with a JSON object: `summary` is one short sentence "
    "saying what you changed, in words the owner understands; `files` maps each file you "
    "change to its complete new content, and maps every file you leave unchanged to null. "
    "Keep everything the owner did not ask to change exactly as it is. Never add scripts "
    "from other websites, trackers or hidden content. Keep the page a complete HTML document."
)
_FENCE = re.compile(r"\A\s*```[a-zA-Z0-9_-]*\s*\n(.*?)\n?```\s*\Z", re.DOTALL)
_CREDENTIALS = re.compile(r"(//)[^/@\s]+@")


class _Retry(Exception):
    """This attempt failed in a way another attempt may not."""


def schema(files: Mapping[str, str]) -> dict[str, Any]:
    """The reply's JSON schema: every file the draft may touch, as text or null (kept)."""
    names = sorted(set(files) | ADDABLE)
    return {
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "files": {
                "type": "object",
                "properties": {name: {"type": ["string", "null"]} for name in names},
                "required": names,
                "additionalProperties": False,
            },
        },
        "required": ["summary", "files"],
        "additionalProperties": False,
    }


def parse_reply(body: Any) -> Draft:
    """The draft in a chat-completions answer (``_Retry`` when there is none)."""
    try:
        choice = body["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise _Retry("the answer has no choices[0].message.content") from None
    if choice.get("finish_reason") == "length":
        raise _Retry("the reply was cut off (finish_reason=length)")
    if not isinstance(content, str):
        raise _Retry("the message content is not text")
    fenced = _FENCE.match(content)
    if fenced:
        content = fenced.group(1)
    try:
        data = json.loads(content)
    except ValueError as error:
        raise _Retry(f"the reply is not JSON ({error})") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("summary"), str)
        or not isinstance(data.get("files"), dict)
    ):
        raise _Retry('the reply is not {"summary": text, "files": {name: text or null}}')
    files = {}
    for name, text in data["files"].items():
        if text is None:
            continue
        if not isinstance(name, str) or not isinstance(text, str):
            raise _Retry(f"the file {name!r} is not text")
        files[name] = text
    return Draft(summary=data["summary"], files=files)


class OpenAIEngine:
    name = "openai"
    automatic = True

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        *,
        timeout: float = 20.0,
        retries: int = 3,
        budget: float = 60.0,
        backoff: float = 1.0,
        max_file_bytes: int = MAX_DRAFT_FILE_BYTES,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._key = api_key
        self._model = model
        self._retries = retries
        self._budget = budget
        self._backoff = backoff
        self._max_file_bytes = max_file_bytes
        self._sleep = sleep
        self._monotonic = monotonic
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers={"Authorization": f"Bearer {api_key}"},
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def payload(self, request: DraftRequest) -> dict[str, Any]:
        user = json.dumps(
            {
                "business": request.business_name,
                "request": request.instructions,
                "files": dict(sorted(request.files.items())),
            },
            ensure_ascii=False,
        )
        return {
            "model": self._model,
            "temperature": 0.2,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "site_edit", "strict": True, "schema": schema(request.files)},
            },
        }

    def draft(self, request: DraftRequest) -> Draft:
        payload = self.payload(request)
        started = self._monotonic()
        problems: list[str] = []
        for attempt in range(self._retries + 1):
            if attempt:
                pause = self._backoff * 2 ** (attempt - 1)
                if self._monotonic() - started + pause > self._budget:
                    problems.append(f"gave up: the {self._budget:.0f}-second budget is spent")
                    break
                self._sleep(pause)
            try:
                return self._attempt(request, payload)
            except _Retry as error:
                problems.append(f"attempt {attempt + 1}: {error}")
        raise EditFailed(OWNER_REASON, f"{self.name} engine ({self._model}): " + "; ".join(problems))

    def _attempt(self, request: DraftRequest, payload: Mapping[str, Any]) -> Draft:
        try:
            response = self._client.post(self._url, json=payload)
        except httpx.TimeoutException:
            raise _Retry("the server did not answer in time") from None
        except httpx.TransportError as error:
            raise _Retry(f"could not reach {_masked(self._url)} ({type(error).__name__})") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retry(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            # A refusal (bad key, unknown model, malformed request) will not pass on retry.
            raise EditFailed(
                OWNER_REASON,
                f"{self.name} engine ({self._model}): the server refused the request: HTTP "
                f"{response.status_code} {_excerpt(response.text.replace(self._key, '***'))}",
            )
        try:
            body = response.json()
        except ValueError:
            raise _Retry(f"HTTP {response.status_code} with a body that is not JSON") from None
        draft = parse_reply(body)
        problems = draft_problems(request, draft, max_bytes=self._max_file_bytes)
        if problems:
            raise _Retry("unacceptable draft: " + "; ".join(problems))
        return draft


def _masked(url: str) -> str:
    return _CREDENTIALS.sub(r"\1***@", url)


def _excerpt(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
