"""The creator's path in a real browser: sign up, build on the canvas, publish, run, call the API."""

from __future__ import annotations

import base64
import io

import requests
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import shot
from tests.e2e.ui import (create_pipeline, drag_node, handle, node, sample_png, select_node, signup,
                         wait_saved, wire)


def pixels(data: bytes) -> tuple:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    return img.size, img.tobytes()


def test_build_publish_run_and_call(page, live, tmp_path):
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(ws.url)))
    signup(page)
    expect(page.get_by_test_id("header-credits")).to_contain_text("credits")
    create_pipeline(page, "Resize for the web")

    drag_node(page, "INPUT__IMAGE", 40, 120)
    drag_node(page, "IMAGE__RESIZE", 270, 220)
    drag_node(page, "OUTPUT__", 500, 120)
    wire(page, "n1", "image", "n2", "image")
    wire(page, "n2", "image", "n3", "__new__")
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    # the wire into the output node became the output key "image"
    expect(handle(page, "n3", "image", "in")).to_have_count(1)

    select_node(page, "n2")
    page.get_by_label("width").fill("48")
    page.get_by_label("height").fill("32")
    page.get_by_label("mode").select_option("stretch")
    wait_saved(page)
    expect(page.get_by_test_id("problem-count")).to_have_count(0)
    shot(page, "01-canvas-built")

    page.get_by_role("button", name="Publish", exact=True).click()
    dialog = page.get_by_test_id("publish-dialog")
    dialog.get_by_role("button", name="Publish", exact=True).click()
    expect(dialog.get_by_test_id("publish-result")).to_contain_text("v1")
    session_key = dialog.get_by_label("Session key", exact=True).input_value()
    execute_url = dialog.get_by_label("Execute URL", exact=True).input_value()
    assert session_key and execute_url.endswith(f"/api/node/api/{session_key}/execute")
    expect(dialog.get_by_label("curl example")).to_contain_text(execute_url)
    expect(dialog.get_by_test_id("schema-inputs")).to_contain_text("image_url")
    outputs_table = dialog.get_by_test_id("schema-outputs")
    expect(outputs_table).to_contain_text("URL of the image: processed image (from n2, IMAGE__RESIZE)")
    expect(outputs_table).not_to_contain_text("the The")
    shot(page, "02-publish-dialog")
    page.get_by_role("button", name="Close").click()

    image_file = tmp_path / "gradient.png"
    image_file.write_bytes(sample_png())
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_label("Image file for image_url").set_input_files(str(image_file))
    page.get_by_role("button", name="Start run").click()

    results = page.get_by_test_id("results-panel")
    expect(results).to_have_attribute("data-run-status", "completed", timeout=30_000)
    for node_id in ("n1", "n2", "n3"):
        card = node(page, node_id).get_by_test_id("pipeline-node")
        expect(card).to_have_attribute("data-status", "completed")
        expect(node(page, node_id).get_by_test_id("node-status")).to_contain_text("done")
    output_img = results.get_by_role("img", name="Output image")
    expect(output_img).to_be_visible()
    expect(node(page, "n3").get_by_role("img", name="Output image")).to_be_visible()
    shot(page, "03-run-completed")
    assert any("/ws/runs/run_" in url for url in frames), "live status should arrive over the run WebSocket"

    ui_output = requests.get(output_img.get_attribute("src"), timeout=10)
    assert ui_output.status_code == 200
    assert Image.open(io.BytesIO(ui_output.content)).size == (48, 32)

    data_uri = "data:image/png;base64," + base64.b64encode(sample_png()).decode()
    resp = requests.post(execute_url, json={"inputs": {"image_url": data_uri}}, timeout=60)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["success"] is True
    api_output = requests.get(body["outputs"]["image"] if isinstance(body["outputs"]["image"], str)
                              else body["outputs"]["image"]["url"], timeout=10)
    assert pixels(api_output.content) == pixels(ui_output.content)

    # rotating the key (after a confirmation) revokes the old URL at once
    page.get_by_role("button", name="Publish", exact=True).click()
    dialog = page.get_by_test_id("publish-dialog")
    expect(dialog.get_by_label("Session key", exact=True)).to_have_count(0)  # shown once, when issued
    dialog.get_by_role("button", name="Rotate key").click()
    dialog.get_by_role("button", name="Rotate key").click()  # the confirmation
    new_key = dialog.get_by_label("Session key", exact=True).input_value()
    assert new_key and new_key != session_key
    old = requests.post(execute_url, json={"inputs": {"image_url": data_uri}}, timeout=30)
    assert old.status_code in (401, 404)
    new_url = dialog.get_by_label("Execute URL", exact=True).input_value()
    assert requests.get(new_url.replace("/execute", "/docs"), timeout=10).status_code == 200
