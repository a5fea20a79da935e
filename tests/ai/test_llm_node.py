"""TEXT__LLM on the stored BYOK key of the user billed for the run, against a fake OpenAI on 127.0.0.1.

The fake answers /v1/chat/completions the way the OpenAI API does and records each request's Authorization
header, so the tests see which key went out: the pipeline owner's on FractalQ, the caller's on Fizzly, Fluxara
and the studio, and never a key of anyone else. Nothing here reaches the internet.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from accounts import keys
from accounts.models import ApiKeyKind, Tier
from pipelines import services as pipeline_services
from runs.models import NodeRun, Run, RunEvent
from tests.conftest import login

pytestmark = pytest.mark.django_db

OWNER_KEY = "sk-owner-0123456789abcdefghijklmnopqrstuv"
CALLER_KEY = "sk-caller-9876543210zyxwvutsrqponmlkjihg"


class FakeOpenAI:
    """An OpenAI-compatible chat completions endpoint. ``replies`` are (status, body, delay) answered in turn
    (the last one repeats); ``requests`` holds (Authorization header, JSON body) of every call."""

    def __init__(self):
        self.replies: list[tuple[int, dict, float]] = []
        self.requests: list[tuple[str, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.requests.append((self.headers.get("Authorization", ""), body))
                if self.path != "/v1/chat/completions":
                    status, payload, delay = 404, {"error": {"message": "unknown path"}}, 0.0
                else:
                    status, payload, delay = fake.next_reply(body)
                time.sleep(delay)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (a timeout test)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def next_reply(self, body: dict) -> tuple[int, dict, float]:
        if self.replies:
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        answer = f"echo: {body['messages'][-1]['content']}"
        return 200, completion(body.get("model", ""), answer), 0.0

    @property
    def keys_sent(self) -> list[str]:
        return [auth.removeprefix("Bearer ") for auth, _ in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def completion(model: str, content: str) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }


def error_body(message: str, type_: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": None}}


@pytest.fixture
def fake_openai(settings):
    fake = FakeOpenAI()
    settings.OPENAI_BASE_URL = fake.base_url
    settings.PROVIDER_TIMEOUT_SECONDS = 5.0
    settings.PROVIDER_MAX_RETRIES = 1
    settings.RUNS_EAGER = True
    yield fake
    fake.close()


def llm_graph(**params) -> dict:
    return {
        "nodes": [
            {"id": "in", "type": "INPUT__TEXT", "params": {"name": "prompt"}, "position": {"x": 0, "y": 0}},
            {"id": "llm", "type": "TEXT__LLM", "params": params, "position": {"x": 200, "y": 0}},
            {"id": "out", "type": "OUTPUT__", "params": {}, "position": {"x": 400, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "from": {"node": "in", "port": "text"}, "to": {"node": "llm", "port": "prompt"}},
            {"id": "e2", "from": {"node": "llm", "port": "text"}, "to": {"node": "out", "port": "answer"}},
        ],
    }


def store_key(user, key: str) -> None:
    """Through the API, as a user does (a signed-in session; Pro)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, user)}")
    resp = client.put("/api/v1/me/ai-keys", {"provider": "openai", "key": key}, format="json")
    assert resp.status_code == 200, resp.content
    assert key not in resp.content.decode()


@pytest.fixture
def owner(make_user):
    return make_user(tier=Tier.PRO, credits_amount=100, username="owner")


@pytest.fixture
def caller(make_user):
    return make_user(tier=Tier.PRO, credits_amount=100, username="caller")


@pytest.fixture
def llm_pipeline(owner):
    """The owner's public, published INPUT__TEXT → TEXT__LLM → OUTPUT__; (pipeline, session key)."""
    pipeline = pipeline_services.create_pipeline(
        owner, "Ask", graph=llm_graph(system="Answer briefly.", temperature=0.2, max_tokens=64)
    )
    pipeline_services.update_pipeline(pipeline, {"is_public": True})
    return pipeline, pipeline_services.publish(pipeline).session_key


def fractalq(session_key: str, prompt: str = "hello"):
    return APIClient().post(f"/api/node/api/{session_key}/execute", {"inputs": {"prompt": prompt}}, format="json")


def fizzly_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Key {keys.create_api_key(user, 'q', ApiKeyKind.QUEUE).raw}")
    return client


def fizzly(client: APIClient, pipeline, prompt: str = "hello") -> dict:
    """Submit (run eagerly) and answer the request's status."""
    base = f"/workflows/{pipeline.owner.username}/{pipeline.slug}"
    resp = client.post(base, {"inputs": {"prompt": prompt}}, format="json")
    assert resp.status_code == 200, resp.content
    return client.get(f"{base}/requests/{resp.json()['request_id']}/status").json()


def bearer(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, user)}")
    return client


# -- whose key ----------------------------------------------------------------------------------------------


def test_node_is_in_the_studio_catalog(owner):
    catalog = bearer(owner).get("/api/v1/studio/node-types").json()
    assert "llm" not in catalog["unavailable_families"]
    types = {t["type"]: t for t in catalog["node_types"]}
    llm = types["TEXT__LLM"]
    assert llm["inputs"][0]["name"] == "prompt" and llm["outputs"][0]["name"] == "text"
    assert llm["credit_cost"] >= 1 and llm["resource_class"] == "cpu" and llm["base_seconds"] > 0
    assert set(llm["params_schema"]["properties"]) == {"provider", "model", "system", "temperature", "max_tokens"}


def test_fractalq_calls_openai_with_the_owners_key(fake_openai, llm_pipeline, owner, caller):
    store_key(owner, OWNER_KEY)
    store_key(caller, CALLER_KEY)
    _, session_key = llm_pipeline
    resp = fractalq(session_key, "What is 2+2?")
    assert resp.status_code == 200, resp.content
    assert resp.json()["outputs"]["answer"] == "echo: What is 2+2?"
    assert fake_openai.keys_sent == [OWNER_KEY]
    sent = fake_openai.requests[0][1]
    assert sent["model"] == "gpt-4o-mini" and sent["temperature"] == 0.2
    assert sent["max_completion_tokens"] == 64
    assert sent["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is 2+2?"},
    ]
    run = Run.objects.get()
    assert run.billed_to == owner and run.credits_used == 1


def test_fizzly_caller_pays_with_their_own_key_not_the_owners(fake_openai, llm_pipeline, owner, caller):
    store_key(owner, OWNER_KEY)
    store_key(caller, CALLER_KEY)
    pipeline, _ = llm_pipeline
    status = fizzly(fizzly_client(caller), pipeline)
    assert status["status"] == "COMPLETED", status
    assert fake_openai.keys_sent == [CALLER_KEY]


def test_studio_and_fluxara_use_the_callers_key(fake_openai, llm_pipeline, owner, caller):
    store_key(owner, OWNER_KEY)
    store_key(caller, CALLER_KEY)
    pipeline, _ = llm_pipeline
    run = bearer(owner).post(
        f"/api/v1/studio/pipelines/{pipeline.pk}/runs", {"inputs": {"prompt": "hi"}}, format="json"
    )
    assert run.status_code == 202, run.content
    assert bearer(owner).get(f"/api/v1/studio/runs/{run.json()['id']}").json()["status"] == "completed"
    job = bearer(caller).post(
        "/api/v1/jobs", {"pipeline": f"owner/{pipeline.slug}", "input": {"prompt": "hi"}}, format="json"
    )
    assert job.status_code in (200, 201, 202), job.content
    assert bearer(caller).get(f"/api/v1/jobs/{job.json()['job_id']}").json()["status"] == "completed"
    assert fake_openai.keys_sent == [OWNER_KEY, CALLER_KEY]


# -- no key, a rejected key, the provider down --------------------------------------------------------------


def assert_names_where_to_store(message: str) -> None:
    assert "OpenAI" in message and "PUT /api/v1/me/ai-keys" in message and '"openai"' in message


def test_no_stored_key_is_a_clear_client_error_on_every_surface(
    fake_openai, llm_pipeline, owner, caller, make_user
):
    pipeline, session_key = llm_pipeline
    # FractalQ: the owner pays and has stored no key; a caller's key is no fallback
    store_key(caller, CALLER_KEY)
    resp = fractalq(session_key)
    assert resp.status_code == 422, resp.content
    body = resp.json()
    assert body["success"] is False and body["code"] == "PROVIDER_KEY_MISSING" and body["node"] == "llm"
    assert_names_where_to_store(body["error"])
    # Fizzly: the caller pays and has stored no key; the owner's is no fallback either
    store_key(owner, OWNER_KEY)
    keyless = make_user(tier=Tier.PRO, credits_amount=10, username="keyless")
    status = fizzly(fizzly_client(keyless), pipeline)
    assert status["status"] == "FAILED" and status["error_code"] == "PROVIDER_KEY_MISSING"
    assert_names_where_to_store(status["error"])
    # Fluxara, in its shape (the studio: below)
    flux = bearer(keyless).post(
        "/api/v1/jobs", {"pipeline": f"owner/{pipeline.slug}", "input": {"prompt": "hi"}}, format="json"
    )
    detail = bearer(keyless).get(f"/api/v1/jobs/{flux.json()['job_id']}").json()
    assert detail["status"] == "failed" and detail["error"]["code"] == "provider_key_missing"
    assert_names_where_to_store(detail["error"]["message"])
    assert fake_openai.requests == []  # nothing was sent without the payer's key


def test_studio_run_without_a_key_fails_clearly(fake_openai, llm_pipeline, owner):
    pipeline, _ = llm_pipeline
    run_id = bearer(owner).post(
        f"/api/v1/studio/pipelines/{pipeline.pk}/runs", {"inputs": {"prompt": "hi"}}, format="json"
    ).json()["id"]
    detail = bearer(owner).get(f"/api/v1/studio/runs/{run_id}").json()
    assert detail["status"] == "failed" and detail["error"]["code"] == "PROVIDER_KEY_MISSING"
    assert detail["error"]["status"] == 422
    assert_names_where_to_store(detail["error"]["message"])


def test_a_key_openai_rejects_is_a_client_error(fake_openai, llm_pipeline, owner):
    store_key(owner, OWNER_KEY)
    fake_openai.replies = [(401, error_body(f"Incorrect API key provided: {OWNER_KEY}"), 0.0)]
    resp = fractalq(llm_pipeline[1])
    assert resp.status_code == 422, resp.content
    body = resp.json()
    assert body["code"] == "PROVIDER_KEY_REJECTED" and "401" in body["error"]
    assert_names_where_to_store(body["error"])
    assert OWNER_KEY not in resp.content.decode()
    assert len(fake_openai.requests) == 1  # a rejected key is not retried


def test_a_request_openai_refuses_is_a_client_error_without_the_key(fake_openai, llm_pipeline, owner):
    store_key(owner, OWNER_KEY)
    fake_openai.replies = [(400, error_body(f"The model does not exist (key {OWNER_KEY})"), 0.0)]
    resp = fractalq(llm_pipeline[1])
    assert resp.status_code == 422 and resp.json()["code"] == "PROVIDER_REQUEST_REJECTED", resp.content
    assert "The model does not exist" in resp.json()["error"] and OWNER_KEY not in resp.content.decode()


def test_openai_failing_is_a_server_fault_after_bounded_retries(fake_openai, llm_pipeline, owner):
    store_key(owner, OWNER_KEY)
    fake_openai.replies = [(500, error_body("The server had an error", "server_error"), 0.0)]
    resp = fractalq(llm_pipeline[1])
    assert resp.status_code == 500, resp.content
    assert resp.json()["code"] == "PROVIDER_UNAVAILABLE"
    assert len(fake_openai.requests) == 2  # the call and PROVIDER_MAX_RETRIES=1 retry
    run = Run.objects.get()
    assert run.error["status"] == 500 and run.credits_used == 0


def test_openai_too_slow_is_a_server_fault(fake_openai, settings, llm_pipeline, owner):
    store_key(owner, OWNER_KEY)
    settings.PROVIDER_TIMEOUT_SECONDS = 0.3
    settings.PROVIDER_MAX_RETRIES = 0
    fake_openai.replies = [(200, completion("gpt-4o-mini", "late"), 2.0)]
    resp = fractalq(llm_pipeline[1])
    assert resp.status_code == 500 and resp.json()["code"] == "PROVIDER_UNAVAILABLE", resp.content
    assert Run.objects.get().error["message"] == "OpenAI did not answer within 0.3 seconds"


def test_openai_unreachable_is_a_server_fault(fake_openai, settings, llm_pipeline, owner):
    store_key(owner, OWNER_KEY)
    settings.PROVIDER_MAX_RETRIES = 0
    fake_openai.close()
    resp = fractalq(llm_pipeline[1])
    assert resp.status_code == 500 and resp.json()["code"] == "PROVIDER_UNAVAILABLE", resp.content


# -- the clear key stays server-side ------------------------------------------------------------------------


def test_the_clear_key_is_in_no_row_and_no_log(fake_openai, llm_pipeline, owner, caller, caplog):
    caplog.set_level(logging.DEBUG)
    store_key(owner, OWNER_KEY)
    store_key(caller, CALLER_KEY)
    pipeline, session_key = llm_pipeline
    assert fractalq(session_key).status_code == 200
    assert fizzly(fizzly_client(caller), pipeline)["status"] == "COMPLETED"
    fake_openai.replies = [(401, error_body(f"Incorrect API key provided: {OWNER_KEY}"), 0.0)]
    assert fractalq(session_key).status_code == 422
    fake_openai.replies = [(500, error_body(f"upstream broke for {OWNER_KEY}", "server_error"), 0.0)]
    assert fractalq(session_key).status_code == 500
    assert fake_openai.keys_sent == [OWNER_KEY, CALLER_KEY, OWNER_KEY, OWNER_KEY, OWNER_KEY]
    rows = [
        *Run.objects.values(),
        *NodeRun.objects.values(),
        *RunEvent.objects.values(),
    ]
    assert len(rows) > 10
    assert any(record.name.startswith("openai") for record in caplog.records)  # the SDK's debug lines too
    dumped = json.dumps(rows, default=str)
    for key in (OWNER_KEY, CALLER_KEY):
        assert key not in dumped
        assert key not in caplog.text
        assert all(key not in record.getMessage() for record in caplog.records)
