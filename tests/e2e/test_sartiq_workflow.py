"""A Sartiq workflow on its page: a read-only graph of its steps whose statuses follow the run live (the
worker is paused while the page opens, so the steps are seen queued first, then completed)."""

from __future__ import annotations

import base64

from playwright.sync_api import expect

from tests.e2e.conftest import shot
from tests.e2e.ui import api, sample_png, signup_via_api


def data_url(width: int, height: int) -> str:
    return "data:image/png;base64," + base64.b64encode(sample_png(width, height)).decode()


def test_a_workflow_graph_follows_its_steps(page, live):
    account = signup_via_api(page)
    body = {
        "name": "Shot pipeline",
        "origin_instance": "e2e",
        "steps": [
            {"id": "adjust", "task_type": "IMAGE_ADJUSTER",
             "config": {"input_image": data_url(120, 60), "mode": "crop", "aspect_ratio": 1.0}},
            {"id": "fix", "task_type": "BACKGROUND_FIX", "depends_on": ["adjust"],
             "config": {"palette_image": data_url(8, 8)},
             "input_mappings": [{"from_step": "adjust", "from_field": "result_image_path",
                                 "to_field": "base_image"}]},
        ],
    }
    live.pause_worker()
    try:
        wf = api(page, account["token"], "POST", "/api/v1/workflows/", body)
        page.goto(f"/studio/workflows/{wf['id']}/")
        expect(page.get_by_test_id("workflow-status")).to_have_attribute("data-status", "RUNNING")
        expect(page.get_by_test_id("step-adjust")).to_have_attribute("data-status", "PENDING")
        expect(page.locator(".react-flow__edge")).to_have_count(1)
        shot(page, "sartiq-workflow-queued")
    finally:
        live.resume_worker()
    expect(page.get_by_test_id("workflow-status")).to_have_attribute("data-status", "COMPLETED", timeout=60_000)
    expect(page.get_by_test_id("step-adjust")).to_have_attribute("data-status", "COMPLETED")
    expect(page.get_by_test_id("step-fix")).to_have_attribute("data-status", "COMPLETED")
    expect(page.get_by_text("2 of 2 steps done")).to_be_visible()
    shot(page, "sartiq-workflow-completed")
