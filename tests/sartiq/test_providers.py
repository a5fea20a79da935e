"""Provider-backed Sartiq tasks: fal (fal-client against a fake fal queue on 127.0.0.1) for GENERATION,
EDITING, VIDEO_GENERATION, EXPERIMENTAL_FAL, REFINE, FACE_ENHANCER and DETAIL_ENHANCER, LoRAs by name,
the fallback provider, Anthropic for LLM_INTERACTION, and task webhooks (TaskStatusEvent)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from rest_framework.test import APIClient

from pipelines.providers import fal as fal_provider
from runs.api.sartiq.models import SartiqTask
from tests.conftest import login
from tests.runs.conftest import ImageServer
from tests.sartiq.conftest import adjuster, data_url, png
from tests.sartiq.fakes import FakeAnthropic, FakeFal, anthropic_error
from tests.sartiq.test_lora import safetensors, upload

pytestmark = pytest.mark.django_db
FAL_KEY = "fal-key-0123456789abcdef:secret"
ANTHROPIC_KEY = "sk-ant-test-0123456789abcdefghij"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def fake_fal(settings, eager):
    fake = FakeFal()
    settings.FAL_BASE_URL = fake.base_url
    settings.FAL_POLL_SECONDS = 0.01
    settings.PROVIDER_TIMEOUT_SECONDS = 5.0
    yield fake
    fake.close()


@pytest.fixture
def fake_anthropic(settings, eager):
    fake = FakeAnthropic()
    settings.ANTHROPIC_BASE_URL = fake.base_url
    settings.PROVIDER_TIMEOUT_SECONDS = 5.0
    settings.PROVIDER_MAX_RETRIES = 0
    yield fake
    fake.close()


def store_key(user, provider: str, key: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, user)}")
    resp = client.put("/api/v1/me/ai-keys", {"provider": provider, "key": key}, format="json")
    assert resp.status_code == 200, resp.content


def create(client, body):
    resp = client.post("/api/v1/tasks/", body, format="json")
    assert resp.status_code == 200, resp.content
    return resp.json()


def generation(**overrides) -> dict:
    body = {
        "task_type": "GENERATION",
        "origin_instance": "tests",
        "prompt": "a red chair",
        "width": 512,
        "height": 768,
        "seed": 42,
    }
    body.update(overrides)
    return body


# -- fal --------------------------------------------------------------------------------------------


def test_generation_runs_on_fal_with_the_users_key(sartiq, fake_fal):
    store_key(sartiq.user, "fal", FAL_KEY)
    task = create(sartiq, generation())
    assert task["status"] == "COMPLETED", task
    app, auth, body = fake_fal.submits[0]
    assert app == "fal-ai/flux/dev" and auth == f"Key {FAL_KEY}"
    assert body == {"prompt": "a red chair", "image_size": {"width": 512, "height": 768}, "seed": 42}
    assert task["fal_app_id"] == "fal-ai/flux/dev" and task["fal_request_id"] == "req-1"
    assert task["result_image_path"] and task["progress"] == 100.0
    # the result image was fetched from fal's CDN and is ours now
    got = sartiq.get(f"/api/v1/storage/images/{task['result_image_path']}")
    assert got.status_code in (200, 302)
    # every request went to the fake (FAL_BASE_URL), none to fal's own hosts
    assert all(h.startswith("127.0.0.1") for h in fake_fal.hosts)


def test_without_a_fal_key_the_task_fails_clearly(sartiq, fake_fal):
    task = create(sartiq, generation())
    assert task["status"] == "FAILED" and task["error_category"] == "PROVIDER_ERROR"
    assert any("/api/v1/me/ai-keys" in e and '"fal"' in e for e in task["errors"])
    assert fake_fal.submits == []


def test_the_fallback_provider_runs_when_the_primary_fails_on_its_side(sartiq, fake_fal):
    store_key(sartiq.user, "fal", FAL_KEY)
    fake_fal.apps["acme/broken"] = {"fail": 503, "detail": "no capacity"}
    task = create(
        sartiq,
        generation(
            provider_type="fal_standard",
            provider_config={"provider_type": "fal_standard", "fal_app_id": "acme/broken"},
            fallback_provider_type="fal_standard",
            fallback_provider_config={"fal_app_id": "acme/good", "additional_static_params": {"steps": 8}},
        ),
    )
    assert task["status"] == "COMPLETED", task
    assert [app for app, _, _ in fake_fal.submits] == ["acme/broken", "acme/broken", "acme/good"]
    assert fake_fal.submits[-1][2]["steps"] == 8
    assert task["fallback_provider_type"] == "fal_standard"
    assert task["retry_count"] == 2 and task["fal_app_id"] == "acme/good"
    assert task["errors"] and all("503" in e for e in task["errors"])  # the primary's failures stay on record
    row = SartiqTask.objects.get(pk=task["id"])
    assert row.run.node_runs.get(node_id="task").fallback_used


def test_a_request_fal_refuses_is_not_retried_elsewhere(sartiq, fake_fal):
    store_key(sartiq.user, "fal", FAL_KEY)
    fake_fal.apps["acme/strict"] = {"fail": 422, "detail": "prompt too long"}
    task = create(
        sartiq,
        generation(
            provider_config={"fal_app_id": "acme/strict"},
            fallback_provider_type="fal_standard",
            fallback_provider_config={"fal_app_id": "acme/good"},
        ),
    )
    assert task["status"] == "FAILED" and [a for a, _, _ in fake_fal.submits] == ["acme/strict"]
    assert "prompt too long" in " ".join(task["errors"])


def test_an_app_that_completes_with_an_error_fails_the_task(sartiq, fake_fal):
    store_key(sartiq.user, "fal", FAL_KEY)
    fake_fal.apps["acme/oops"] = {"error": "CUDA out of memory", "polls": 2}
    task = create(sartiq, generation(fal_app_id="acme/oops"))
    assert task["status"] == "FAILED" and "CUDA out of memory" in " ".join(task["errors"])
    assert task["error_category"] == "PROVIDER_ERROR"


def test_editing_sends_the_base_and_reference_images(sartiq, fake_fal):
    store_key(sartiq.user, "fal", FAL_KEY)
    refs = [data_url(png((10, 10), (255, 0, 0), subject=False)), data_url(png((12, 12), subject=False))]
    task = create(
        sartiq,
        {
            "task_type": "EDITING",
            "origin_instance": "t",
            "base_image": data_url(png()),
            "prompt": "make it blue",
            "width": 64,
            "height": 64,
            "reference_images": refs,
        },
    )
    assert task["status"] == "COMPLETED", task
    app, _, body = fake_fal.submits[0]
    assert app == "fal-ai/nano-banana/edit" and body["prompt"] == "make it blue"
    assert len(body["image_urls"]) == 3 and all(
        u.startswith("data:image/png;base64,") for u in body["image_urls"]
    )
    assert task["base_image_path"] and len(task["reference_images"]) == 2
    assert all(not p.startswith("data:") for p in task["reference_images"])


def test_video_generation_keeps_the_providers_video(sartiq, fake_fal):
    store_key(sartiq.user, "fal", FAL_KEY)
    app = "fal-ai/kling-video/v2.1/master/image-to-video"
    fake_fal.apps[app] = {"result": {"video": {"url": f"{fake_fal.base_url}/files/v.mp4"}}}
    task = create(
        sartiq,
        {
            "task_type": "VIDEO_GENERATION",
            "origin_instance": "t",
            "prompt": "waves",
            "cfg_scale": 0.5,
            "duration_seconds": 5,
            "input_image_data": data_url(png()),
        },
    )
    assert task["status"] == "COMPLETED", task
    assert fake_fal.submits[0][0] == app
    body = fake_fal.submits[0][2]
    assert body["duration"] == "5" and body["cfg_scale"] == 0.5 and body["image_url"].startswith("data:")
    assert task["result_video_path"] == f"{fake_fal.base_url}/files/v.mp4" and task["input_image_path"]


def test_experimental_fal_passes_its_parameters_through(sartiq, fake_fal):
    store_key(sartiq.user, "fal", FAL_KEY)
    fake_fal.apps["owner/app"] = {"result": {"answer": 42, "file": {"url": "https://cdn.example/x.bin"}}}
    task = create(
        sartiq,
        {
            "task_type": "EXPERIMENTAL_FAL",
            "origin_instance": "t",
            "fal_app_id": "owner/app",
            "fal_parameters": {"alpha": 1, "nested": {"b": [1, 2]}},
        },
    )
    assert task["status"] == "COMPLETED", task
    assert fake_fal.submits[0][2] == {"alpha": 1, "nested": {"b": [1, 2]}}
    assert task["fal_app_id"] == "owner/app" and task["result_url"] == "https://cdn.example/x.bin"
    assert task["fal_parameters"] == {"alpha": 1, "nested": {"b": [1, 2]}}


def test_refine_with_a_fal_app_runs_on_fal_then_resizes_here(sartiq, fake_fal):
    store_key(sartiq.user, "fal", FAL_KEY)
    task = create(
        sartiq,
        {
            "task_type": "REFINE",
            "origin_instance": "t",
            "base_image_url": data_url(png()),
            "upscale_enabled": True,
            "upscale_factor": 2.0,
            "upscale_steps": 18,
            "upscale_denoise": 0.35,
            "face_detail_enabled": False,
            "face_detail_steps": 10,
            "face_detail_denoise": 0.2,
            "fal_app_id": "fal-ai/clarity-upscaler",
            "target_width": 40,
            "target_height": 30,
        },
    )
    assert task["status"] == "COMPLETED", task
    body = fake_fal.submits[0][2]
    assert body["upscale_factor"] == 2.0 and body["num_inference_steps"] == 18 and body["creativity"] == 0.35
    row = SartiqTask.objects.get(pk=task["id"])
    assert row.run.outputs["result_image"]["width"] == 40 and row.run.outputs["result_image"]["height"] == 30


def test_face_and_detail_enhancers_go_to_fal_when_asked(sartiq, fake_fal):
    store_key(sartiq.user, "fal", FAL_KEY)
    task = create(
        sartiq,
        {
            "task_type": "DETAIL_ENHANCER",
            "origin_instance": "t",
            "base_image": data_url(png()),
            "reference_image": data_url(png((30, 30))),
            "detail_label": "logos",
            "provider_type": "fal_standard",
            "provider_config": {"fal_app_id": "acme/details"},
        },
    )
    assert task["status"] == "COMPLETED", task
    body = fake_fal.submits[0][2]
    assert body["detail_label"] == "logos" and body["image_url"].startswith("data:")
    assert body["reference_image_url"].startswith("data:") and task["fallback_used"] is False
    task = create(
        sartiq,
        {
            "task_type": "FACE_ENHANCER",
            "origin_instance": "t",
            "input_image": data_url(png()),
            "provider_type": "fal_standard",
        },
    )
    assert task["status"] == "COMPLETED" and fake_fal.submits[-1][0] == "fal-ai/codeformer"


def test_detail_enhancer_without_an_app_runs_here_on_real_esrgan(sartiq, fake_fal):
    task = create(
        sartiq,
        {
            "task_type": "DETAIL_ENHANCER",
            "origin_instance": "t",
            "base_image": data_url(png((24, 16))),
            "reference_image": data_url(png((8, 8), subject=False)),
            "config": {"upscale_model": "realesr-animevideov3"},
        },
    )
    assert task["status"] == "COMPLETED", task
    assert fake_fal.submits == [] and task["fallback_used"] is False
    assert task["base_image_path"] and task["reference_image_path"] and task["result_image_path"]
    row = SartiqTask.objects.get(pk=task["id"])
    result = row.run.outputs["result_image"]
    assert (result["width"], result["height"]) == (24, 16)  # enhanced at the same size
    assert row.run.outputs["reference_image"]["width"] == 8  # kept with the task, read by no step


@pytest.mark.parametrize(
    "overrides",
    [
        {"provider_type": "vertex"},
        {"provider_type": "fashn_standard"},
        {"fallback_provider_type": "freepik_magnific"},
    ],
)
def test_providers_without_an_adapter_are_501(sartiq, fake_fal, overrides):
    resp = sartiq.post("/api/v1/tasks/", generation(**overrides), format="json")
    assert resp.status_code == 501 and set(resp.json()) == {"detail"}
    assert not SartiqTask.objects.exists() and fake_fal.submits == []


def test_bad_fal_fields_are_422(sartiq, fake_fal):
    resp = sartiq.post("/api/v1/tasks/", generation(fal_app_id="not an app"), format="json")
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"][-1] == "fal_app_id"
    resp = sartiq.post("/api/v1/tasks/", generation(subject_model_path="../../etc/passwd"), format="json")
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "subject_model_path"]
    refs = [data_url(png())] * 4
    resp = sartiq.post(
        "/api/v1/tasks/",
        {
            "task_type": "EDITING",
            "origin_instance": "t",
            "base_image": data_url(png()),
            "prompt": "x",
            "width": 8,
            "height": 8,
            "reference_images": refs,
        },
        format="json",
    )
    assert resp.status_code == 422 and resp.json()["detail"][0]["type"] == "too_long"


# -- LoRAs by name ------------------------------------------------------------------------------------


def test_a_generation_loads_the_users_lora_by_name(sartiq, other, fake_fal):
    store_key(sartiq.user, "fal", FAL_KEY)
    uploaded = upload(sartiq, name="anna.safetensors", entity_type="identities").json()
    task = create(sartiq, generation(subject_model_path=uploaded["partial_path"], subject_lora_weight=0.7))
    assert task["status"] == "COMPLETED", task
    app, _, body = fake_fal.submits[0]
    assert app == "fal-ai/flux-lora" and len(body["loras"]) == 1 and body["loras"][0]["scale"] == 0.7
    # the URL handed to fal is a signed, expiring link to the very file
    url = urlsplit(body["loras"][0]["path"])
    assert url.path.startswith("/media/") and "identities/anna.safetensors" in url.path
    got = APIClient().get(f"{url.path}?{url.query}")
    assert got.status_code == 200 and b"".join(got.streaming_content) == safetensors()
    assert APIClient().get(url.path).status_code == 403  # unsigned: refused
    # another user names the same LoRA: not theirs, not shared
    store_key(other.user, "fal", FAL_KEY)
    task = create(other, generation(subject_model_path=uploaded["partial_path"]))
    assert task["status"] == "FAILED" and "No LoRA named" in " ".join(task["errors"])
    assert len(fake_fal.submits) == 1


def test_a_shared_lora_is_loadable_by_everyone(sartiq, make_user, fake_fal):
    from tests.sartiq.conftest import client_for

    admin = client_for(make_user(is_staff=True))
    uploaded = upload(
        admin, name="house style.safetensors", entity_type="styles", route="/api/v1/admin/lora/upload"
    ).json()
    store_key(sartiq.user, "fal", FAL_KEY)
    task = create(sartiq, generation(style_model_path=uploaded["file_path"]))
    assert task["status"] == "COMPLETED", task
    assert "styles/house_style.safetensors" in fake_fal.submits[0][2]["loras"][0]["path"]


def test_cancelling_a_run_cancels_the_fal_request(fake_fal, settings):
    fake_fal.apps["acme/slow"] = {"polls": 10_000}
    polls = []

    def cancelled():
        polls.append(1)
        return len(polls) > 3

    with pytest.raises(fal_provider.Cancelled):
        fal_provider.run(lambda name: FAL_KEY, "acme/slow", {"prompt": "x"}, cancelled=cancelled)
    assert fake_fal.cancelled == ["req-1"]


def test_a_request_past_its_time_is_cancelled_at_fal(fake_fal, settings):
    from pipelines.providers.base import ProviderError

    settings.FAL_MAX_WAIT_SECONDS = 0.05
    fake_fal.apps["acme/slow"] = {"polls": 10_000}
    with pytest.raises(ProviderError) as caught:
        fal_provider.run(lambda name: FAL_KEY, "acme/slow", {})
    assert caught.value.code == "PROVIDER_TIMEOUT" and caught.value.server_fault
    assert fake_fal.cancelled == ["req-1"]


def test_a_rejected_key_is_said_without_the_key(fake_fal):
    from pipelines.providers.base import ProviderError

    fake_fal.apps["acme/x"] = {"fail": 401, "detail": f"bad key {FAL_KEY}"}
    with pytest.raises(ProviderError) as caught:
        fal_provider.run(lambda name: FAL_KEY, "acme/x", {})
    assert caught.value.code == "PROVIDER_KEY_REJECTED" and FAL_KEY not in caught.value.message


def test_media_urls_finds_every_file_in_a_result():
    result = {
        "images": [{"url": "https://a/1.png"}, {"url": "https://a/2.png"}],
        "video": {"url": "https://a/v"},
        "other": {"url": "https://a/f", "content_type": "application/zip"},
    }
    assert fal_provider.media_urls(result) == [
        ("image", "https://a/1.png"),
        ("image", "https://a/2.png"),
        ("video", "https://a/v"),
        ("application", "https://a/f"),
    ]


# -- Anthropic ------------------------------------------------------------------------------------------


def llm(**overrides) -> dict:
    body = {
        "task_type": "LLM_INTERACTION",
        "origin_instance": "t",
        "prompt": "hello",
        "system_prompt": "brief",
        "provider_type": "ai_core",
        "provider_config": {
            "ai_provider": "anthropic",
            "model": "claude-test",
            "temperature": 0.1,
            "max_tokens": 64,
        },
    }
    body.update(overrides)
    return body


def test_llm_interaction_on_anthropic(sartiq, fake_anthropic):
    store_key(sartiq.user, "anthropic", ANTHROPIC_KEY)
    task = create(sartiq, llm())
    assert task["status"] == "COMPLETED", task
    assert task["result_text"] == "claude: hello"
    key, body = fake_anthropic.requests[0]
    assert key == ANTHROPIC_KEY and body["model"] == "claude-test" and body["system"] == "brief"
    assert body["max_tokens"] == 64 and "temperature" not in body  # the SDK's Messages API takes none


def test_anthropic_falls_back_to_openai(sartiq, fake_anthropic, settings):
    from tests.ai.test_llm_node import OWNER_KEY, FakeOpenAI
    from tests.ai.test_llm_node import store_key as store_openai

    openai_fake = FakeOpenAI()
    settings.OPENAI_BASE_URL = openai_fake.base_url
    try:
        store_key(sartiq.user, "anthropic", ANTHROPIC_KEY)
        store_openai(sartiq.user, OWNER_KEY)
        fake_anthropic.replies = [anthropic_error(529, "Overloaded")]
        task = create(
            sartiq, llm(fallback_provider_type="ai_core", fallback_provider_config={"ai_provider": "openai"})
        )
        assert task["status"] == "COMPLETED", task
        assert task["result_text"] == "echo: hello" and task["retry_count"] == 1
        assert openai_fake.requests[0][1]["model"] == "gpt-4o-mini"  # the fallback's own model, not claude's
        assert openai_fake.requests[0][1]["messages"][0]["content"] == "brief"
        assert task["errors"] and "Anthropic" in task["errors"][0]
    finally:
        openai_fake.close()


def test_an_ai_provider_without_an_adapter_is_501(sartiq, fake_anthropic):
    resp = sartiq.post(
        "/api/v1/tasks/", llm(provider_config={"ai_provider": "gemini", "model": "g"}), format="json"
    )
    assert resp.status_code == 501


# -- webhooks ----------------------------------------------------------------------------------------


@pytest.fixture
def receiver():
    server = ImageServer()
    yield server
    server.close()


def test_a_task_calls_its_webhook_with_a_task_status_event(sartiq, receiver):
    hook = receiver.url("/hooks/sartiq")
    task = create(sartiq, adjuster(webhook_url=hook, origin_zone="eu", origin_tenant_id="t-1"))
    assert task["status"] == "COMPLETED"
    path, headers, raw = receiver.posts[0]
    assert path == "/hooks/sartiq"
    assert headers["User-Agent"] == "Sartiq-Webhook/1.0" and headers["X-Sartiq-Task-ID"] == task["id"]
    event = json.loads(raw)
    assert set(event) == {
        "event_type",
        "task_id",
        "status",
        "timestamp",
        "entity_id",
        "origin_instance",
        "origin_zone",
        "origin_version",
        "metadata",
        "task_type",
        "progress",
        "started_at",
        "completed_at",
        "error_message",
        "error_category",
    }
    assert event["event_type"] == "TASK_STATUS" and event["task_id"] == task["id"]
    assert event["status"] == "COMPLETED" and event["task_type"] == "IMAGE_ADJUSTER"
    assert event["progress"] == 100.0 and event["completed_at"] and event["error_message"] is None
    assert event["origin_zone"] == "eu" and event["metadata"]["origin_tenant_id"] == "t-1"
    assert event["metadata"]["result_image_path"] == task["result_image_path"]
    assert "webhook_url" not in task  # no public schema carries it


def test_a_failed_task_says_why_in_its_event(sartiq, receiver):
    hook = receiver.url("/h")
    task = create(sartiq, adjuster(webhook_url=hook, input_image=receiver.url("/gone.png")))
    assert task["status"] == "FAILED"
    event = json.loads(receiver.posts[0][2])
    assert event["status"] == "FAILED" and event["error_message"] and event["error_category"]


@pytest.mark.parametrize(
    "hook", ["ftp://x.io/h", "http://10.0.0.5/h", "https://169.254.169.254/latest", "nope"]
)
def test_a_webhook_url_that_is_not_public_https_is_422(sartiq, hook):
    resp = sartiq.post("/api/v1/tasks/", adjuster(webhook_url=hook), format="json")
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "webhook_url"]
    assert not SartiqTask.objects.exists()
