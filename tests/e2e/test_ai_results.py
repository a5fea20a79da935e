"""The results panel for the AI nodes: the NSFW score and OCR text of a run, shown as a person sees them.

Skipped when this machine's AI stack cannot load its models (the run fails with MODEL_UNAVAILABLE)."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import expect

from tests.e2e.conftest import shot
from tests.e2e.ui import gedge, gnode, new_pipeline, node, open_canvas, signup_via_api


def text_image() -> bytes:
    img = Image.new("RGB", (360, 120), "white")
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", 48)
    except OSError:
        font = ImageFont.load_default()
    draw.text((20, 30), "HELLO 42", fill="black", font=font)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


GRAPH = {
    "nodes": [
        gnode("n1", "INPUT__IMAGE", name="image_url"),
        gnode("n2", "IMAGE__NSFW_GATE", 260, 0),
        gnode("n3", "IMAGE__OCR", 520, 120),
        gnode("n4", "OUTPUT__", 780, 0),
    ],
    "edges": [
        gedge("e1", "n1", "image", "n2", "image"),
        gedge("e2", "n2", "image", "n3", "image"),
        gedge("e3", "n2", "nsfw_score", "n4", "nsfw_score"),
        gedge("e4", "n3", "text", "n4", "text"),
    ],
}


def test_nsfw_score_and_ocr_text_in_the_results_panel(page, tmp_path):
    account = signup_via_api(page)
    open_canvas(page, new_pipeline(page, account["token"], "Check text", GRAPH))
    image = tmp_path / "text.png"
    image.write_bytes(text_image())
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_label("Image file for image_url").set_input_files(str(image))
    page.get_by_role("button", name="Start run").click()

    results = page.get_by_test_id("results-panel")
    expect(results).to_have_attribute("data-run-status", re.compile("completed|failed"), timeout=120_000)
    if results.get_attribute("data-run-status") == "failed":
        if "unavailable" in results.inner_text().lower():
            pytest.skip(f"AI models not available here: {results.inner_text()[:200]}")
        raise AssertionError(results.inner_text())
    expect(results.get_by_test_id("nsfw-score")).to_contain_text("NSFW score")
    expect(results.get_by_test_id("nsfw-score").locator("meter")).to_have_count(1)
    expect(results.get_by_test_id("ocr-text")).to_contain_text("HELLO")
    expect(node(page, "n4").get_by_test_id("output-preview")).to_contain_text("nsfw_score")
    # on the nodes too: the score on the gate, the OCR text with its lines boxed over the image it read
    expect(node(page, "n2").get_by_test_id("node-nsfw").locator("meter")).to_have_count(1)
    ocr = node(page, "n3").get_by_test_id("node-preview")
    expect(ocr.get_by_test_id("node-ocr-text")).to_contain_text("HELLO")
    expect(ocr.locator(".box").first).to_be_visible()
    ocr.get_by_test_id("node-image").click()
    expect(page.get_by_test_id("lightbox").locator(".box").first).to_be_visible()
    page.keyboard.press("Escape")
    shot(page, "11-ai-results")
