"""LLM_INTERACTION on OpenAI with the user's stored key (AiCoreProviderConfig), and the fallback provider
config taken by the engine when the primary fails on the provider's side; a fake OpenAI on 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.ai.test_llm_node import OWNER_KEY, FakeOpenAI, error_body, store_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_openai(settings, eager):
    fake = FakeOpenAI()
    settings.OPENAI_BASE_URL = fake.base_url
    settings.PROVIDER_TIMEOUT_SECONDS = 5.0
    settings.PROVIDER_MAX_RETRIES = 0
    yield fake
    fake.close()


def llm(**overrides) -> dict:
    body = {
        "task_type": "LLM_INTERACTION",
        "origin_instance": "tests",
        "prompt": "hello",
        "system_prompt": "be brief",
        "provider_type": "ai_core",
        "provider_config": {
            "provider_type": "ai_core",
            "ai_provider": "openai",
            "model": "gpt-main",
            "temperature": 0.2,
            "max_tokens": 50,
        },
    }
    body.update(overrides)
    return body


def create(client, body):
    resp = client.post("/api/v1/tasks/", body, format="json")
    assert resp.status_code == 200, resp.content
    return resp.json()


def test_llm_task_answers_with_the_users_key(sartiq, fake_openai):
    store_key(sartiq.user, OWNER_KEY)
    task = create(sartiq, llm())
    assert task["status"] == "COMPLETED", task
    assert (
        task["result_text"] == "echo: hello"
        and task["prompt"] == "hello"
        and task["system_prompt"] == "be brief"
    )
    assert task["input_tokens"] is None and task["output_tokens"] is None  # not reported by our adapter
    assert fake_openai.keys_sent == [OWNER_KEY]
    sent = fake_openai.requests[0][1]
    assert (
        sent["model"] == "gpt-main"
        and sent["temperature"] == 0.2
        and sent["messages"][0]["content"] == "be brief"
    )


def test_without_a_stored_key_the_task_fails_clearly(sartiq, fake_openai):
    task = create(sartiq, llm())
    assert task["status"] == "FAILED" and task["error_category"] == "PROVIDER_ERROR"
    assert any("/api/v1/me/ai-keys" in e for e in task["errors"])
    assert fake_openai.requests == []


def test_the_fallback_runs_when_the_primary_fails_on_the_providers_side(sartiq, fake_openai):
    store_key(sartiq.user, OWNER_KEY)
    fake_openai.replies = [
        (500, error_body("The server had an error", "server_error"), 0.0),
        (
            200,
            {
                "id": "x",
                "object": "chat.completion",
                "created": 1,
                "model": "gpt-backup",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "from backup"},
                    }
                ],
            },
            0.0,
        ),
    ]
    task = create(
        sartiq,
        llm(
            fallback_provider_type="ai_core",
            fallback_provider_config={"ai_provider": "openai", "model": "gpt-backup"},
        ),
    )
    assert task["status"] == "COMPLETED", task
    assert task["result_text"] == "from backup"
    assert [body["model"] for _, body in fake_openai.requests] == ["gpt-main", "gpt-backup"]
    assert task["retry_count"] == 1 and task["errors"]  # the primary's failure stays on record
    assert task["fallback_provider_type"] == "ai_core"


def test_a_request_the_provider_refuses_is_not_retried_elsewhere(sartiq, fake_openai):
    store_key(sartiq.user, OWNER_KEY)
    fake_openai.replies = [(400, error_body("The model does not exist"), 0.0)]
    task = create(
        sartiq,
        llm(
            fallback_provider_type="ai_core",
            fallback_provider_config={"ai_provider": "openai", "model": "gpt-backup"},
        ),
    )
    assert task["status"] == "FAILED" and len(fake_openai.requests) == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"provider_config": {"ai_provider": "ollama", "model": "llama"}},
        {"input_images": ["https://example.com/a.png"]},
        {"provider_type": "vertex"},
    ],
)
def test_what_has_no_adapter_is_501(sartiq, fake_openai, overrides):
    resp = sartiq.post("/api/v1/tasks/", llm(**overrides), format="json")
    assert resp.status_code == 501 and set(resp.json()) == {"detail"}


def test_a_bad_model_name_or_an_empty_prompt_is_422(sartiq, fake_openai):
    resp = sartiq.post("/api/v1/tasks/", llm(provider_config={"model": "no spaces allowed"}), format="json")
    assert resp.status_code == 422
    resp = sartiq.post("/api/v1/tasks/", llm(prompt=" "), format="json")
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "prompt"]
