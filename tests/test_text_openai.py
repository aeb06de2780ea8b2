"""The OpenAI embedder against a fake network: a real ``openai.OpenAI`` client whose httpx2 transport answers
with canned responses. Everything above the socket (the SDK, our batching, retries, parsing) is real; the SDK's
own retries are off (``max_retries=0``) so the retries exercised are ours.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import traceback
from pathlib import Path
from typing import Callable

import httpx2
import numpy as np
import openai
import pytest

from recengine.errors import InputError, RecengineError
from recengine.text import embed_texts, get_embedder, openai_key_configured
from recengine.text.openai_backend import OpenAIEmbedder, resolve_api_key

FAKE_KEY = "sk-proj-ZZfakeKEY4tests-q8Jx2Lm9Vn5Rt7Wy3Pk6"
DIM = 1536
Answer = Callable[[httpx2.Request], httpx2.Response]


def true_vector(text: str) -> np.ndarray:
    """What the fake service 'knows' about a text: a fixed pseudo-random unit vector."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(DIM)
    return vector / np.linalg.norm(vector)


def encode(vector: np.ndarray, encoding_format: str) -> str | list[float]:
    """An embedding as the service writes it: base64 of little-endian float32, or a list of floats."""
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.tolist()


def ok(request: httpx2.Request) -> httpx2.Response:
    """A correct answer, items in reverse order (the API only promises each item's ``index``)."""
    body = json.loads(request.content)
    inputs, fmt = body["input"], body.get("encoding_format", "float")
    data = [{"object": "embedding", "index": i, "embedding": encode(true_vector(t), fmt)} for i, t in enumerate(inputs)]
    usage = {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}
    body = {"object": "list", "model": "text-embedding-3-small", "data": data[::-1], "usage": usage}
    return httpx2.Response(200, json=body)


def error(status: int, code: str, headers: dict | None = None) -> Answer:
    # Like the real service, the 401 body quotes the key; our messages must not repeat it.
    body = {"error": {"message": f"failure for key {FAKE_KEY}", "type": "invalid_request_error", "code": code}}
    return lambda request: httpx2.Response(status, json=body, headers=headers)


def raise_(exc_type: type[httpx2.TransportError]) -> Answer:
    def answer(request: httpx2.Request) -> httpx2.Response:
        raise exc_type("simulated", request=request)

    return answer


def altered(change: Callable[[dict], None]) -> Answer:
    """A 200 answer whose JSON body is first passed through ``change``."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(ok(request).content)
        change(body)
        return httpx2.Response(200, json=body)

    return answer


class FakeService:
    """Answers requests from a script of answers (one per request), then correctly; records what was sent."""

    def __init__(self, *script: Answer):
        self.script = list(script)
        self.requests: list[httpx2.Request] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return (self.script.pop(0) if self.script else ok)(request)

    @property
    def inputs(self) -> list[list[str]]:
        return [json.loads(r.content)["input"] for r in self.requests]

    def client(self, key: str = FAKE_KEY) -> openai.OpenAI:
        transport = httpx2.MockTransport(self.handle)
        return openai.OpenAI(
            api_key=key, base_url="http://fake.test/v1", http_client=httpx2.Client(transport=transport), max_retries=0
        )

    def embedder(self, **options) -> OpenAIEmbedder:
        options = {"max_retries": 3, "base_delay": 0.001, **options}
        return OpenAIEmbedder(client=self.client(), **options)


TEXTS = ["Fed raises rates", "Storm hits the coast", "Team wins the title", "New phone released", "Election day"]


# --------------------------------------------------------------------------- answers


def test_vectors_follow_input_order_by_index():
    service = FakeService()
    matrix = service.embedder().embed(TEXTS)
    assert matrix.shape == (5, DIM) and matrix.dtype == np.float32
    np.testing.assert_allclose(matrix, np.stack([true_vector(t) for t in TEXTS]), atol=1e-6)
    request = service.requests[0]
    assert request.url.path == "/v1/embeddings"
    assert request.headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert json.loads(request.content)["model"] == "text-embedding-3-small"


def test_requests_hold_at_most_batch_size_inputs():
    service = FakeService()
    texts = [f"story {i}" for i in range(8)]
    matrix = service.embedder(batch_size=3).embed(texts)
    assert service.inputs == [texts[0:3], texts[3:6], texts[6:8]]
    np.testing.assert_allclose(matrix, np.stack([true_vector(t) for t in texts]), atol=1e-6)


def test_default_batch_is_the_api_limit_of_2048():
    service = FakeService()
    texts = [f"s{i}" for i in range(2049)]
    service.embedder().embed(texts)
    assert [len(batch) for batch in service.inputs] == [2048, 1]
    with pytest.raises(InputError, match="2048"):
        service.embedder(batch_size=2049)


def test_get_embedder_passes_options_through():
    service = FakeService()
    embedder = get_embedder("openai", client=service.client(), batch_size=2)
    assert (embedder.backend, embedder.model, embedder.dim) == ("openai", "text-embedding-3-small", 1536)
    embedder.embed(TEXTS)
    assert len(service.requests) == 3
    with pytest.raises(InputError, match="text-embedding-3-small"):
        get_embedder("openai", client=service.client(), model="ada-001")


# --------------------------------------------------------------------------- retries


@pytest.mark.parametrize(
    "failure",
    [
        error(429, "rate_limit_exceeded"),
        error(500, "server_error"),
        error(503, "overloaded"),
        raise_(httpx2.ReadTimeout),
        raise_(httpx2.ConnectError),
    ],
    ids=["429", "500", "503", "timeout", "connection"],
)
def test_transient_failures_are_retried_until_success(failure):
    service = FakeService(failure, failure)
    matrix = service.embedder(max_retries=2).embed(TEXTS[:2])
    assert len(service.requests) == 3
    np.testing.assert_allclose(matrix, np.stack([true_vector(t) for t in TEXTS[:2]]), atol=1e-6)


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (error(429, "rate_limit_exceeded"), "HTTP 429"),
        (raise_(httpx2.ReadTimeout), "timed out"),
        (raise_(httpx2.ConnectError), "connection failed"),
    ],
)
def test_giving_up_after_max_retries_is_one_clear_line(failure, reason):
    service = FakeService(*[failure] * 10)
    with pytest.raises(RecengineError) as info:
        service.embedder(max_retries=3).embed(TEXTS)
    assert len(service.requests) == 4
    message = str(info.value)
    assert reason in message and "4 attempts" in message and "\n" not in message


def test_backoff_doubles_with_jitter_and_honours_retry_after():
    waits: list[float] = []
    failures = [error(429, "rate_limit_exceeded")] * 5
    service = FakeService(*failures, error(429, "rate_limit_exceeded", {"retry-after-ms": "7000"}))
    embedder = OpenAIEmbedder(
        client=service.client(), max_retries=6, base_delay=1.0, max_delay=10.0, sleep=waits.append
    )
    embedder.embed(TEXTS[:1])
    assert len(waits) == 6
    for attempt, wait in enumerate(waits[:5]):
        ceiling = min(10.0, 2.0**attempt)
        assert ceiling / 2 <= wait <= ceiling
    assert waits[5] >= 7.0  # the server asked for 7 s; the backoff alone would allow 5-10 s


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (error(401, "invalid_api_key"), "API key"),
        (error(429, "insufficient_quota"), "insufficient_quota"),
        (error(400, "invalid_request_error"), "HTTP 400"),
        (error(403, "model_not_allowed"), "HTTP 403"),
    ],
    ids=["401", "quota", "400", "403"],
)
def test_permanent_failures_are_not_retried(failure, expected):
    service = FakeService(failure)
    with pytest.raises(RecengineError) as info:
        service.embedder().embed(TEXTS)
    assert len(service.requests) == 1
    assert expected in str(info.value) and "\n" not in str(info.value)


# --------------------------------------------------------------------------- malformed answers


def _drop_one(body: dict) -> None:
    body["data"].pop()


def _shorten(body: dict) -> None:
    body["data"][0]["embedding"] = encode(np.ones(100), "base64")


def _odd_bytes(body: dict) -> None:
    body["data"][0]["embedding"] = base64.b64encode(b"\x00" * (4 * DIM + 2)).decode()


def _not_base64(body: dict) -> None:
    body["data"][1]["embedding"] = "this is not base64!"


def _strings(body: dict) -> None:
    body["data"][1]["embedding"] = [str(v) for v in true_vector("x")]


def _nulls(body: dict) -> None:
    body["data"][0]["embedding"] = [None] * DIM


def _nan(body: dict) -> None:
    body["data"][0]["embedding"] = encode(np.full(DIM, np.nan), "base64")


def _zero(body: dict) -> None:
    body["data"][0]["embedding"] = encode(np.zeros(DIM), "base64")


def _same_index(body: dict) -> None:
    body["data"][0]["index"] = body["data"][1]["index"]


def _no_data(body: dict) -> None:
    del body["data"]


@pytest.mark.parametrize(
    "answer",
    [
        altered(_drop_one),
        altered(_shorten),
        altered(_odd_bytes),
        altered(_not_base64),
        altered(_strings),
        altered(_nulls),
        altered(_nan),
        altered(_zero),
        altered(_same_index),
        altered(_no_data),
        lambda request: httpx2.Response(200, text="<html>gateway</html>", headers={"content-type": "application/json"}),
        lambda request: httpx2.Response(200, text="<html>gateway</html>", headers={"content-type": "text/html"}),
    ],
    ids=[
        "count", "dimension", "odd-bytes", "not-base64", "strings", "nulls", "nan", "zero", "index", "no-data",
        "not-json", "html",
    ],
)
def test_malformed_answers_are_one_clear_line(answer):
    service = FakeService(answer)
    with pytest.raises(RecengineError) as info:
        service.embedder().embed(TEXTS[:3])
    assert "malformed" in str(info.value) and "\n" not in str(info.value)
    assert len(service.requests) == 1


def test_a_server_that_ignores_encoding_format_and_sends_floats_is_understood():
    def floats(request: httpx2.Request) -> httpx2.Response:
        inputs = json.loads(request.content)["input"]
        data = [{"object": "embedding", "index": i, "embedding": true_vector(t).tolist()} for i, t in enumerate(inputs)]
        return httpx2.Response(200, json={"object": "list", "model": "m", "data": data, "usage": {}})

    matrix = FakeService(floats).embedder().embed(TEXTS[:2])
    np.testing.assert_allclose(matrix, np.stack([true_vector(t) for t in TEXTS[:2]]), atol=1e-6)


# --------------------------------------------------------------------------- the key


def test_the_key_never_appears_in_messages_reprs_logs_or_files(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, including the SDK's and httpx2's
    scenarios = [
        error(401, "invalid_api_key"),
        error(400, "bad"),
        error(429, "insufficient_quota"),
        altered(_shorten),
        lambda request: httpx2.Response(200, text="not json", headers={"content-type": "application/json"}),
    ]
    seen: list[str] = []
    for answer in scenarios:
        service = FakeService(answer)
        embedder = service.embedder()
        seen.append(repr(embedder))
        with pytest.raises(RecengineError) as info:
            embedder.embed(TEXTS)
        seen += [str(info.value), repr(info.value), "".join(traceback.format_exception(info.value))]
    retried = FakeService(*[raise_(httpx2.ConnectError)] * 5)
    with pytest.raises(RecengineError) as info:
        retried.embedder(max_retries=2).embed(TEXTS)
    seen.append("".join(traceback.format_exception(info.value)))
    embed_texts(TEXTS, FakeService().embedder(), cache=tmp_path)
    assert caplog.records, "the SDK and our retries log; this test must see those records"
    for record in caplog.records:
        seen.append(record.getMessage())
        if record.exc_info:
            seen.append("".join(traceback.format_exception(*record.exc_info)))
    for text in seen:
        assert FAKE_KEY not in text
    for path in Path(tmp_path).rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes()


def test_key_comes_from_argument_then_environment_then_secrets_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert resolve_api_key() is None and not openai_key_configured()
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('OPENAI_API_KEY = "sk-from-secrets"\n')
    assert resolve_api_key() == "sk-from-secrets" and openai_key_configured()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    assert resolve_api_key() == "sk-from-env"
    assert resolve_api_key("sk-explicit") == "sk-explicit"


def test_a_broken_secrets_file_is_reported_without_quoting_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(f'OPENAI_API_KEY = "{FAKE_KEY}\n')  # unclosed string
    assert not openai_key_configured()
    with pytest.raises(RecengineError) as info:
        OpenAIEmbedder()
    assert "secrets.toml" in str(info.value) and FAKE_KEY not in str(info.value)


def test_no_key_anywhere_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(RecengineError, match="OPENAI_API_KEY"):
        get_embedder("openai")


def test_an_embedder_built_from_a_key_does_not_keep_it(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    embedder = OpenAIEmbedder()
    assert FAKE_KEY not in repr(embedder)
    assert all(FAKE_KEY not in repr(value) for value in vars(embedder).values())


# --------------------------------------------------------------------------- with the cache


def test_cache_spares_requests_and_blank_texts_are_never_sent(tmp_path):
    service = FakeService()
    texts = ["Fed raises rates", "", "Storm hits the coast", "Fed raises rates"]
    matrix, has = embed_texts(texts, service.embedder(), cache=tmp_path)
    assert service.inputs == [["Fed raises rates", "Storm hits the coast"]]
    assert has.tolist() == [True, False, True, True]
    again = FakeService()
    matrix2, _ = embed_texts(texts + ["Brand new"], again.embedder(), cache=tmp_path)
    assert again.inputs == [["Brand new"]]
    np.testing.assert_array_equal(matrix2[:4], matrix)
