"""Groups in the browser: the Group button frames the selected nodes; dragging the frame moves the nodes inside
it by the same offset and leaves a node outside where it was, as one undo step; the group and the positions
are saved and come back on a reload; Ctrl+D duplicates the group with its nodes; deleting the frame leaves its
nodes."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import shot
from tests.e2e.ui import api, gedge, gnode, new_pipeline, node, open_canvas, signup_via_api, wait_saved

TRANSLATE = re.compile(r"translate\(\s*(-?[\d.]+)px,\s*(-?[\d.]+)px\)")


def flow_position(page, node_id: str) -> tuple[float, float]:
    """Where React Flow has a node, in flow coordinates (its transform), whatever the zoom."""
    style = node(page, node_id).get_attribute("style") or ""
    x, y = TRANSLATE.search(style).groups()
    return float(x), float(y)


def stored(page, token: str, pid: int) -> dict:
    graph = api(page, token, "GET", f"/api/v1/studio/pipelines/{pid}")["graph"]
    return {
        "nodes": {n["id"]: (n["position"]["x"], n["position"]["y"]) for n in graph["nodes"]},
        "groups": graph.get("groups", []),
    }


def test_a_group_carries_its_nodes(page):
    account = signup_via_api(page)
    token = account["token"]
    graph = {
        "nodes": [
            gnode("n1", "INPUT__IMAGE", 0, 0, name="image_url"),
            gnode("n2", "IMAGE__RESIZE", 260, 40, width=32, height=32, mode="stretch"),
            gnode("n3", "OUTPUT__", 620, 0),
        ],
        "edges": [gedge("e1", "n1", "image", "n2", "image"), gedge("e2", "n2", "image", "n3", "image")],
    }
    pid = new_pipeline(page, token, "Grouped", graph)
    open_canvas(page, pid)
    expect(page.locator(".react-flow__node")).to_have_count(3)

    # select the input and the resize, frame them in a group and title it
    node(page, "n1").locator(".pnode-header").click()
    node(page, "n2").locator(".pnode-header").click(modifiers=["Control"])
    page.get_by_role("button", name="Group", exact=True).click()
    group = page.get_by_test_id("group-node")
    expect(group).to_have_count(1)
    page.get_by_label("Group group1 title").fill("Thumbnails")
    wait_saved(page)
    before = stored(page, token, pid)
    frame = before["groups"][0]
    assert frame["title"] == "Thumbnails"
    assert frame["position"]["x"] < 0 and frame["position"]["y"] < 0, frame  # padded around n1 at (0, 0)
    assert frame["position"]["x"] + frame["width"] < 620, "n3 stays outside the frame"

    # a node inside the frame is still clickable
    node(page, "n2").locator(".pnode-header").click()
    expect(page.get_by_test_id("inspector")).to_have_attribute("data-node-id", "n2")

    # drag the frame by its empty bottom strip (below the nodes, clear of the resize handles)
    box = group.bounding_box()
    start = (box["x"] + box["width"] / 2, box["y"] + box["height"] - 14)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 60, start[1] + 50, steps=5)
    page.mouse.move(start[0] + 120, start[1] + 100, steps=5)
    page.mouse.up()
    wait_saved(page)
    after = stored(page, token, pid)
    offset = (
        after["groups"][0]["position"]["x"] - frame["position"]["x"],
        after["groups"][0]["position"]["y"] - frame["position"]["y"],
    )
    assert offset[0] > 30 and offset[1] > 30, offset
    for node_id in ("n1", "n2"):
        moved = (after["nodes"][node_id][0] - before["nodes"][node_id][0],
                 after["nodes"][node_id][1] - before["nodes"][node_id][1])
        assert moved == offset, (node_id, moved, offset)
    assert after["nodes"]["n3"] == before["nodes"]["n3"], "a node outside the frame stays"
    shot(page, "29-group-dragged")

    # the drag is one undo step: undo puts the frame and both nodes back, redo moves them again
    page.locator(".react-flow__pane").click(position={"x": 10, "y": 10})
    page.keyboard.press("Control+z")
    wait_saved(page)
    assert stored(page, token, pid)["nodes"] == before["nodes"]
    page.keyboard.press("Control+Shift+z")
    wait_saved(page)
    assert stored(page, token, pid) == after

    # a reload finds the group, its title and the moved positions
    page.reload()
    expect(page.get_by_label("Group group1 title")).to_have_value("Thumbnails")
    for node_id, (x, y) in after["nodes"].items():
        assert flow_position(page, node_id) == (x, y), node_id
    gx, gy = after["groups"][0]["position"]["x"], after["groups"][0]["position"]["y"]
    assert flow_position(page, "group1") == (gx, gy)

    # Ctrl+D on the group duplicates it with its nodes and the wire between them; undo takes that back
    group.first.locator(".group-header").click(position={"x": 2, "y": 2})
    page.keyboard.press("Control+d")
    expect(page.get_by_test_id("canvas-notice")).to_contain_text("Pasted 3 nodes: n4, n5, group2")
    expect(page.locator(".react-flow__node")).to_have_count(7)
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    page.keyboard.press("Control+z")
    expect(page.locator(".react-flow__node")).to_have_count(4)

    # deleting the frame leaves its nodes
    group.locator(".group-header").click(position={"x": 2, "y": 2})
    page.keyboard.press("Delete")
    expect(group).to_have_count(0)
    expect(page.locator(".react-flow__node")).to_have_count(3)
    wait_saved(page)
    final = stored(page, token, pid)
    assert final["groups"] == [] and final["nodes"] == after["nodes"]
