"""Editing on the canvas: wires that must not connect, the server's validation on the nodes, delete,
undo/redo, and the page on a narrow window."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.conftest import shot
from tests.e2e.ui import (api, drag_node, new_pipeline, node, open_canvas, resize_graph, select_node,
                         signup_via_api, wait_saved, wire)


def test_refused_wire_validation_errors_delete_and_undo(page):
    account = signup_via_api(page)
    pid = new_pipeline(page, account["token"], "Checks")
    open_canvas(page, pid)

    drag_node(page, "INPUT__TEXT", 40, 140)
    drag_node(page, "IMAGE__RESIZE", 330, 200)

    # text cannot feed an image input: the wire is refused and the reason shown
    wire(page, "n1", "text", "n2", "image")
    expect(page.get_by_test_id("canvas-notice")).to_contain_text("cannot feed")
    expect(page.locator(".react-flow__edge")).to_have_count(0)

    # the server's validation lands on the offending node (and the graph-level problem in the overview)
    wait_saved(page)
    errors = node(page, "n2").get_by_test_id("node-errors")
    expect(errors).to_contain_text("input 'image' is not connected")
    expect(node(page, "n2").locator('.port[data-port="image"].port-error')).to_have_count(1)
    page.locator(".react-flow__pane").click(position={"x": 100, "y": 450})
    expect(page.get_by_test_id("general-errors")).to_contain_text("OUTPUT__")

    # a parameter out of range: flagged in the panel at once, then by the server on the node
    select_node(page, "n2")
    page.get_by_label("width").fill("99999")
    expect(page.locator('[data-param="width"] .field-error').first).to_contain_text("At most 16384")
    wait_saved(page)
    expect(errors).to_contain_text("width")
    shot(page, "04-validation-errors")

    # publishing an invalid graph is refused with the problems on the canvas
    page.get_by_role("button", name="Publish", exact=True).click()
    page.get_by_test_id("publish-dialog").get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_test_id("canvas-notice")).to_contain_text("Publish refused")

    # keyboard delete, then undo and redo
    select_node(page, "n1")
    node(page, "n1").locator(".pnode-header").press("Delete")
    expect(page.locator(".react-flow__node")).to_have_count(1)
    page.keyboard.press("Control+z")
    expect(page.locator(".react-flow__node")).to_have_count(2)
    page.keyboard.press("Control+Shift+z")
    expect(page.locator(".react-flow__node")).to_have_count(1)
    page.get_by_role("button", name="Undo").click()
    expect(node(page, "n1")).to_be_visible()
    wait_saved(page)
    stored = api(page, account["token"], "GET", f"/api/v1/studio/pipelines/{pid}")
    assert [n["id"] for n in stored["graph"]["nodes"]] == ["n1", "n2"]
    assert stored["graph"]["nodes"][1]["params"]["width"] == 99999


def test_canvas_works_on_a_narrow_window(page):
    account = signup_via_api(page)
    pid = new_pipeline(page, account["token"], "Narrow", resize_graph())
    page.set_viewport_size({"width": 420, "height": 860})
    open_canvas(page, pid)
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.get_by_role("button", name="Publish", exact=True)).to_be_visible()
    canvas = page.get_by_test_id("canvas").bounding_box()
    assert canvas["width"] <= 420 and canvas["height"] > 300
    shot(page, "05-narrow-window")
    page.get_by_role("button", name="Add Grayscale").click()
    expect(page.locator(".react-flow__node")).to_have_count(4)
