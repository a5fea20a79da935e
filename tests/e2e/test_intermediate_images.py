"""A studio run keeps every node's images, and the results panel shows them: an upscale fed by another node,
neither wired into the Output node, still gets its before/after comparison."""

from __future__ import annotations

import requests
from playwright.sync_api import expect

from tests.e2e.ui import gedge, gnode, new_pipeline, open_canvas, sample_png, signup_via_api

GRAPH = {
    "nodes": [
        gnode("n1", "INPUT__IMAGE", name="image_url"),
        gnode("n2", "IMAGE__RESIZE", 240, 0, width=24, height=16, mode="stretch"),
        gnode("n3", "IMAGE__UPSCALE", 480, 0, model="realesr-animevideov3", scale=2),
        gnode("n4", "OUTPUT__", 720, 0),
    ],
    "edges": [
        gedge("e1", "n1", "image", "n2", "image"),
        gedge("e2", "n2", "image", "n3", "image"),
        gedge("e3", "n3", "metadata", "n4", "metadata"),
    ],
}


def test_an_upscale_of_an_intermediate_image_shows_before_and_after(page, tmp_path):
    account = signup_via_api(page)
    open_canvas(page, new_pipeline(page, account["token"], "Upscale in the middle", GRAPH))
    image = tmp_path / "gradient.png"
    image.write_bytes(sample_png())
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_label("Image file for image_url").set_input_files(str(image))
    page.get_by_role("button", name="Start run").click()

    results = page.get_by_test_id("results-panel")
    expect(results).to_have_attribute("data-run-status", "completed", timeout=120_000)
    upscale = results.get_by_role("region", name="n3 result")
    expect(upscale.get_by_test_id("before-after")).to_be_visible()
    before = upscale.get_by_role("img", name="Upscale n3: before")
    after = upscale.get_by_role("img", name="Upscale n3: after")
    for img in (before, after):
        resp = requests.get(img.get_attribute("src"), timeout=10)
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("image/")
    expect(after).to_have_js_property("naturalWidth", 48)
    expect(before).to_have_js_property("naturalWidth", 24)
