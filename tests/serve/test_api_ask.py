"""``POST /v1/ask``: questions about a recent interpretation, answered from it (TestClient)."""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient

from radlens.schema import Answer
from radlens.schema_json import from_json, to_json
from radlens.serve.api import ServeConfig, create_app
from tests.tasks.test_ask_answer import SICK


@pytest.fixture()
def client() -> TestClient:
    app = create_app(ServeConfig())
    app.state.cache.add("abc123", to_json(dataclasses.replace(SICK, id="abc123")))
    return TestClient(app)


def test_ask_answers_from_the_stored_reading(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"id": "abc123", "question": "Where is the effusion?"})
    assert r.status_code == 200
    a = from_json(r.text, Answer)
    assert a.answered and a.answer == "lower left lung"
    assert a.interpretation_id == "abc123"
    assert a.evidence[0].label == "Pleural Effusion"


def test_cannot_answer_is_a_normal_reply(client: TestClient) -> None:
    for question, word in [("", "empty"), ("Is the liver enlarged on this CT?", "CT"),
                           ("Are the ribs fractured?", "fractures")]:
        r = client.post("/v1/ask", json={"id": "abc123", "question": question})
        assert r.status_code == 200
        body = r.json()
        assert body["answered"] is False and word in body["answer"]


def test_unknown_id_and_bad_bodies(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"id": "nope", "question": "Is it normal?"})
    assert r.status_code == 404 and r.json()["error"]["type"] == "NotFound"
    assert client.post("/v1/ask", json={"id": "abc123"}).status_code == 400
    r = client.post("/v1/ask", json={"id": "abc123", "question": "x" * 1001})
    assert r.status_code == 400


def test_ask_needs_the_key_when_keys_are_set() -> None:
    app = create_app(ServeConfig(api_keys=("k1",)))
    app.state.cache.add("abc123", to_json(dataclasses.replace(SICK, id="abc123")))
    c = TestClient(app)
    body = {"id": "abc123", "question": "Is it normal?"}
    assert c.post("/v1/ask", json=body).status_code == 401
    assert c.post("/v1/ask", json=body, headers={"X-API-Key": "k1"}).status_code == 200


def test_viewer_has_the_question_box(client: TestClient) -> None:
    html = client.get("/viewer/").text
    assert 'id="question"' in html and 'id="ask-form"' in html
    js = client.get("/viewer/viewer.js").text
    assert '"/v1/ask"' in js
