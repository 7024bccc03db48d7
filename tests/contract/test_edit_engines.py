"""The EditEngine port: one contract for the fake and the openai engine (against a local
imitation of the chat-completions endpoint), the manual engine's promise, and the openai
engine's retries, timeouts and refusals."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from chat_imitation import KEY, MODEL, Behaviour, ChatImitation, running
from webmagic_adapters.edit_engines.manual import ManualEngine
from webmagic_adapters.edit_engines.openai import OpenAIEngine
from webmagic_core.edits.checks import draft_problems
from webmagic_core.edits.ports import DraftRequest, EditEngine, EditFailed
from webmagic_core.testing.edits import FakeEditEngine

PAGE = "<!doctype html><html><head><title>Sunrise</title></head><body><h1>Sunrise Bakery</h1></body></html>"
REQUEST = DraftRequest(
    business_name="Sunrise Bakery",
    instructions="Add the words Fresh bread daily",
    files={"index.html": PAGE, "styles.css": "h1 { color: red; }"},
)


class Pauses:
    def __init__(self) -> None:
        self.taken: list[float] = []
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.taken.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def imitation() -> Iterator[ChatImitation]:
    with running(ChatImitation()) as server:
        yield server


def openai_engine(
    imitation: ChatImitation, *, key: str = KEY, timeout: float = 5.0, pauses: Pauses | None = None
) -> OpenAIEngine:
    pauses = pauses or Pauses()
    return OpenAIEngine(
        imitation.url, key, MODEL, timeout=timeout, sleep=pauses.sleep, monotonic=pauses.monotonic
    )


@pytest.fixture(params=["fake", "openai"])
def engine(request: pytest.FixtureRequest) -> Iterator[EditEngine]:
    if request.param == "fake":
        yield FakeEditEngine()
        return
    imitation = request.getfixturevalue("imitation")
    real = openai_engine(imitation)
    yield real
    real.close()


# --- The contract every automatic engine keeps --------------------------------------------


def test_an_automatic_engine_drafts_an_acceptable_change_of_what_was_asked(engine: EditEngine) -> None:
    assert engine.automatic
    draft = engine.draft(REQUEST)
    assert draft.summary.strip()
    assert draft_problems(REQUEST, draft) == []
    assert "Fresh bread daily" in draft.files["index.html"]
    assert "styles.css" not in draft.files  # what it did not change is kept, not echoed


def test_an_engine_only_reads_its_request(engine: EditEngine) -> None:
    files = dict(REQUEST.files)
    engine.draft(REQUEST)
    assert dict(REQUEST.files) == files


def test_the_manual_engine_never_drafts_by_itself() -> None:
    manual = ManualEngine()
    assert not manual.automatic
    with pytest.raises(EditFailed):
        manual.draft(REQUEST)


# --- The openai engine against the imitation ----------------------------------------------------


def test_it_sends_the_instructions_files_model_and_a_strict_json_schema(imitation: ChatImitation) -> None:
    openai_engine(imitation).draft(REQUEST)
    (sent,) = imitation.requests
    assert sent["model"] == MODEL
    assert imitation.authorizations == [f"Bearer {KEY}"]
    schema = sent["response_format"]["json_schema"]
    assert schema["strict"] is True
    assert set(schema["schema"]["properties"]["files"]["properties"]) == {
        "index.html",
        "styles.css",
        "app.js",
    }
    user = sent["messages"][-1]["content"]
    assert "Fresh bread daily" in user
    assert "Sunrise Bakery" in user


def test_a_reply_in_a_fenced_code_block_is_read(imitation: ChatImitation) -> None:
    imitation.script = [Behaviour("fenced")]
    draft = openai_engine(imitation).draft(REQUEST)
    assert "Fresh bread daily" in draft.files["index.html"]
    assert len(imitation.requests) == 1


@pytest.mark.parametrize(
    "bad",
    [
        Behaviour("garbage"),
        Behaviour("wrong_shape"),
        Behaviour("truncated"),
        Behaviour("evil_script"),
        Behaviour("error", status=500),
        Behaviour("error", status=503),
        Behaviour("error", status=429),
    ],
    ids=["garbage", "wrong-shape", "truncated", "new-script-origin", "500", "503", "429"],
)
def test_a_bad_answer_is_retried_with_growing_pauses(imitation: ChatImitation, bad: Behaviour) -> None:
    pauses = Pauses()
    imitation.script = [bad, bad]
    draft = openai_engine(imitation, pauses=pauses).draft(REQUEST)
    assert "Fresh bread daily" in draft.files["index.html"]
    assert len(imitation.requests) == 3
    assert pauses.taken == [1.0, 2.0]


def test_after_three_retries_the_edit_fails_with_a_plain_reason_and_the_details(
    imitation: ChatImitation,
) -> None:
    pauses = Pauses()
    imitation.default = Behaviour("garbage")
    with pytest.raises(EditFailed) as failed:
        openai_engine(imitation, pauses=pauses).draft(REQUEST)
    assert len(imitation.requests) == 4  # one try and three retries
    assert pauses.taken == [1.0, 2.0, 4.0]
    assert "not JSON" in failed.value.detail
    assert "JSON" not in failed.value.reason  # the owner reads words, not internals


def test_retries_stop_within_the_time_budget(imitation: ChatImitation) -> None:
    pauses = Pauses()
    imitation.default = Behaviour("error", status=502)
    engine = OpenAIEngine(
        imitation.url, KEY, MODEL, budget=2.5, sleep=pauses.sleep, monotonic=pauses.monotonic
    )
    with pytest.raises(EditFailed, match="budget"):
        engine.draft(REQUEST)
    assert pauses.taken == [1.0]  # a second pause (2 s) would end past the 2.5 s budget
    assert len(imitation.requests) == 2


def test_a_slow_server_times_out_and_is_retried(imitation: ChatImitation) -> None:
    imitation.script = [Behaviour("slow", delay=1.0)]
    draft = openai_engine(imitation, timeout=0.3).draft(REQUEST)
    assert "Fresh bread daily" in draft.files["index.html"]
    assert len(imitation.requests) == 2


def test_a_refusal_is_not_retried_and_the_key_never_shows(
    imitation: ChatImitation, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(EditFailed) as failed:
        openai_engine(imitation, key="sk-wrong-key-abcdef").draft(REQUEST)
    assert len(imitation.authorizations) == 1
    assert "HTTP 401" in failed.value.detail
    assert "sk-wrong-key-abcdef" not in failed.value.detail + failed.value.reason + caplog.text


def test_an_unreachable_server_fails_after_the_retries() -> None:
    pauses = Pauses()
    engine = OpenAIEngine(
        "http://127.0.0.1:9/v1", KEY, MODEL, timeout=1, sleep=pauses.sleep, monotonic=pauses.monotonic
    )
    with pytest.raises(EditFailed, match="could not reach"):
        engine.draft(REQUEST)
    assert len(pauses.taken) == 3
