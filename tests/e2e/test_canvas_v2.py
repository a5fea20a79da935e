"""Canvas v2 in the browser: copy/paste/duplicate with the wires between the nodes, node search dropped where
the canvas was clicked, new nodes that cover no other, the refused wire's reason at the pointer, Validate's
"valid", notes, previews on the nodes after a run (full size on a click), the queue panel with two runs at
once, a version diff highlighted on the graph, rollback under the same session key."""

from __future__ import annotations

import base64
import re

from playwright.sync_api import expect

from tests.e2e.conftest import shot
from tests.e2e.test_runs_and_versions import slow_graph
from tests.e2e.ui import (api, drag_node, gedge, gnode, new_pipeline, node, open_canvas, resize_graph, sample_png,
                          signup_via_api, wait_saved, wire)


def boxes_overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


def stored_graph(page, token: str, pid: int) -> dict:
    return api(page, token, "GET", f"/api/v1/studio/pipelines/{pid}")["graph"]


def test_copy_paste_duplicate_search_notes_and_validate(page):
    account = signup_via_api(page)
    token = account["token"]
    pid = new_pipeline(page, token, "Editing", resize_graph())
    open_canvas(page, pid)
    nodes = page.locator(".react-flow__node")
    expect(nodes).to_have_count(3)

    # Validate says so when the graph is valid
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_test_id("canvas-notice")).to_contain_text("Valid")

    # select the input and the resize (with the wire between them), copy, paste: two nodes and one wire more
    node(page, "n1").locator(".pnode-header").click()
    node(page, "n2").locator(".pnode-header").click(modifiers=["Control"])
    expect(page.locator(".react-flow__node.selected")).to_have_count(2)
    page.keyboard.press("Control+c")
    expect(page.get_by_test_id("canvas-notice")).to_contain_text("Copied 2 nodes")
    page.keyboard.press("Control+v")
    expect(nodes).to_have_count(5)
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    expect(page.get_by_test_id("canvas-notice")).to_contain_text("Pasted 2 nodes: n4, n5")
    wait_saved(page)
    graph = stored_graph(page, token, pid)
    pasted = {n["id"]: n for n in graph["nodes"]}
    assert pasted["n4"]["type"] == "INPUT__IMAGE" and pasted["n4"]["params"]["name"] == "image_url_2"
    assert pasted["n5"]["params"]["width"] == 32
    assert {"node": "n4", "port": "image"} in [e["from"] for e in graph["edges"] if e["to"]["node"] == "n5"]

    # Ctrl+D duplicates the selection (the pasted pair) once more
    page.keyboard.press("Control+d")
    expect(nodes).to_have_count(7)
    expect(page.locator(".react-flow__edge")).to_have_count(4)
    shot(page, "20-copy-paste-duplicate")

    # undo takes the duplicate back in one step
    page.keyboard.press("Control+z")
    expect(nodes).to_have_count(5)

    # node search on a double-click of the empty canvas: type, Enter drops the node where it was clicked
    pane = page.locator(".react-flow__pane")
    pane_box = pane.bounding_box()
    click_at = {"x": 120, "y": pane_box["height"] - 90}
    pane.dblclick(position=click_at)
    search = page.get_by_test_id("node-search")
    expect(search).to_be_visible()
    search.get_by_role("searchbox").fill("graysc")
    expect(search.get_by_role("option").first).to_have_attribute("data-node-type", "IMAGE__GRAYSCALE")
    search.get_by_role("searchbox").press("Enter")
    expect(search).to_have_count(0)
    expect(nodes).to_have_count(6)
    dropped = page.locator('.pnode[data-node-type="IMAGE__GRAYSCALE"]').last.bounding_box()
    assert abs(dropped["x"] - (pane_box["x"] + click_at["x"])) < 60
    assert abs(dropped["y"] - (pane_box["y"] + click_at["y"])) < 60

    # right-click opens it too; Escape closes it
    pane.click(position={"x": pane_box["width"] - 80, "y": 40}, button="right")
    expect(search).to_be_visible()
    page.keyboard.press("Escape")
    expect(search).to_have_count(0)

    # the Add button twice: the second node does not cover the first
    page.get_by_role("button", name="Add Rotate").click()
    page.get_by_role("button", name="Add Rotate").click()
    rotates = page.locator('.pnode[data-node-type="IMAGE__ROTATE"]')
    expect(rotates).to_have_count(2)
    assert not boxes_overlap(rotates.nth(0).bounding_box(), rotates.nth(1).bounding_box())

    # a note annotates the graph and is saved with it
    page.get_by_role("button", name="Note", exact=True).click()
    note = page.get_by_test_id("note-node")
    expect(note).to_have_count(1)
    note.get_by_role("textbox").fill("Thumbnails for the shop")
    wait_saved(page)
    assert stored_graph(page, token, pid)["notes"][0]["text"] == "Thumbnails for the shop"
    shot(page, "21-search-and-note")
    page.reload()
    expect(page.get_by_test_id("note-node").get_by_role("textbox")).to_have_value("Thumbnails for the shop")


def test_refused_wire_says_why_at_the_pointer(page):
    account = signup_via_api(page)
    open_canvas(page, new_pipeline(page, account["token"], "Wires"))
    drag_node(page, "INPUT__TEXT", 40, 140)
    drag_node(page, "IMAGE__RESIZE", 330, 200)
    wire(page, "n1", "text", "n2", "image")
    tip = page.get_by_test_id("wire-tip")
    expect(tip).to_contain_text("(text) cannot feed n2.image (image)")
    target = node(page, "n2").locator('.react-flow__handle.target[data-handleid="image"]').bounding_box()
    box = tip.bounding_box()
    assert abs(box["x"] - target["x"]) < 60 and abs(box["y"] - target["y"]) < 60, (box, target)
    shot(page, "22-refused-wire-tip")


def test_previews_on_the_nodes_after_a_run(page, tmp_path):
    account = signup_via_api(page)
    graph = resize_graph(width=48, height=32)
    graph["nodes"].insert(2, gnode("n4", "IMAGE__GRAYSCALE", 260, 240))
    graph["edges"].append(gedge("e3", "n2", "image", "n4", "image"))
    graph["edges"].append(gedge("e4", "n4", "image", "n3", "gray"))
    open_canvas(page, new_pipeline(page, account["token"], "Previews", graph))
    image = tmp_path / "in.png"
    image.write_bytes(sample_png())
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_label("Image file for image_url").set_input_files(str(image))
    page.get_by_role("button", name="Start run").click()
    expect(page.get_by_test_id("results-panel")).to_have_attribute("data-run-status", "completed", timeout=60_000)

    # the input, the intermediate resize and the grayscale each show their image on the node
    for node_id, width in (("n1", 96), ("n2", 48), ("n4", 48)):
        img = node(page, node_id).get_by_test_id("node-preview").get_by_role("img")
        expect(img).to_be_visible()
        expect(img).to_have_js_property("naturalWidth", width)
    shot(page, "23-previews-on-nodes")

    # a click opens it full size
    node(page, "n2").get_by_test_id("node-image").click()
    lightbox = page.get_by_test_id("lightbox")
    expect(lightbox).to_be_visible()
    expect(lightbox.get_by_role("img")).to_have_js_property("naturalWidth", 48)
    shot(page, "24-preview-full-size")
    page.keyboard.press("Escape")
    expect(lightbox).to_have_count(0)



def test_cached_nodes_are_marked_with_their_preview(page):
    """A run whose upscale came from the node cache, opened on its graph (?run=): marked cached, image shown."""
    account = signup_via_api(page)
    token = account["token"]
    graph = {
        "nodes": [gnode("n1", "INPUT__IMAGE", name="image_url"),
                  gnode("n2", "IMAGE__UPSCALE", 260, 0, model="realesr-animevideov3", scale=2),
                  gnode("n3", "OUTPUT__", 520, 0)],
        "edges": [gedge("e1", "n1", "image", "n2", "image"), gedge("e2", "n2", "image", "n3", "image")],
    }
    pid = new_pipeline(page, token, "Cached", graph)
    data_uri = "data:image/png;base64," + base64.b64encode(sample_png(24, 16)).decode()
    run_ids = []
    for _ in range(2):
        run = api(page, token, "POST", f"/api/v1/studio/pipelines/{pid}/runs",
                  {"inputs": {"image_url": data_uri}, "draft": True})
        for _ in range(120):
            if api(page, token, "GET", f"/api/v1/studio/runs/{run['id']}")["status"] == "completed":
                break
            page.wait_for_timeout(250)
        run_ids.append(run["id"])
    page.goto(f"/studio/{pid}/?run={run_ids[1]}")
    expect(page.get_by_test_id("results-panel")).to_have_attribute("data-run-status", "completed")
    upscale = node(page, "n2")
    expect(upscale.get_by_test_id("node-note")).to_contain_text("cached")
    expect(upscale.locator(".pnode.run-cached")).to_have_count(1)
    expect(upscale.get_by_test_id("node-preview").get_by_role("img")).to_have_js_property("naturalWidth", 48)
    shot(page, "24b-cached-node")


def test_queue_panel_shows_two_runs_at_once(page, live):
    account = signup_via_api(page)
    token = account["token"]
    first = new_pipeline(page, token, "Queue one", slow_graph(4))  # a few seconds of work
    second = new_pipeline(page, token, "Queue two", resize_graph(16, 16))
    inputs = [sample_png(512, 512), sample_png()]
    live.pause_worker()
    try:
        runs = [api(page, token, "POST", f"/api/v1/studio/pipelines/{pid}/runs",
                    {"inputs": {"image_url": "data:image/png;base64," + base64.b64encode(png).decode()},
                     "draft": True})
                for pid, png in zip((first, second), inputs, strict=True)]
        page.goto("/studio/queue/")
        panel = page.get_by_test_id("queue-panel")
        expect(panel.get_by_test_id("queue-row")).to_have_count(2)
        rows = [panel.locator(f'[data-testid="queue-row"][data-run-id="{r["id"]}"]') for r in runs]
        for row, name in zip(rows, ("Queue one", "Queue two"), strict=True):
            expect(row).to_have_attribute("data-status", "queued")
            expect(row).to_contain_text(name)
            expect(row.get_by_role("progressbar")).to_be_visible()
        expect(rows[1].get_by_test_id("queue-position")).to_have_text("#2 in queue")
    finally:
        live.resume_worker()
    # the first runs while the second waits for the worker: both in the panel at once. The worker is held
    # as soon as the first has started, so the second stays queued however fast or slow this machine is.
    for _ in range(600):
        if api(page, token, "GET", f"/api/v1/studio/runs/{runs[0]['id']}")["status"] == "running":
            break
        page.wait_for_timeout(20)
    live.pause_worker()
    try:
        expect(rows[0]).to_have_attribute("data-status", "running", timeout=30_000)
        expect(rows[1]).to_have_attribute("data-status", "queued")
        expect(rows[1].get_by_test_id("queue-position")).to_have_text("next in queue")
        shot(page, "25-queue-two-runs")
        # cancel the waiting one from the panel, then resume it: it runs once the first is done
        panel.get_by_role("button", name=f"Cancel {runs[1]['id']}").click()
        expect(rows[1]).to_have_attribute("data-status", "cancelled")
        expect(rows[0]).to_have_attribute("data-status", "running")
    finally:
        live.resume_worker()
    panel.get_by_role("button", name=f"Resume {runs[1]['id']}").click()
    expect(rows[0]).to_have_attribute("data-status", "completed", timeout=60_000)
    expect(rows[1]).to_have_attribute("data-status", "completed", timeout=30_000)
    # the link opens the run on its graph
    rows[1].get_by_role("link", name="Queue two").click()
    page.wait_for_url(re.compile(rf"/studio/{second}/\?run="))
    expect(page.get_by_test_id("results-panel")).to_have_attribute("data-run-status", "completed")
    expect(node(page, "n3").get_by_test_id("pipeline-node")).to_have_attribute("data-status", "completed")


def test_version_diff_on_the_graph_and_rollback_keeps_the_key(page):
    account = signup_via_api(page)
    token = account["token"]
    pid = new_pipeline(page, token, "Diff", resize_graph(width=32))
    raw_key = api(page, token, "POST", f"/api/v1/studio/pipelines/{pid}/publish", {})["session_key"]
    v2 = resize_graph(width=64)
    v2["nodes"].append(gnode("n4", "IMAGE__GRAYSCALE", 520, 220))
    v2["edges"] += [gedge("e3", "n2", "image", "n4", "image"), gedge("e4", "n4", "image", "n3", "gray")]
    api(page, token, "PATCH", f"/api/v1/studio/pipelines/{pid}", {"graph": v2})
    api(page, token, "POST", f"/api/v1/studio/pipelines/{pid}/publish", {})
    prefix = api(page, token, "GET", f"/api/v1/studio/pipelines/{pid}")["session_key_prefix"]

    open_canvas(page, pid)
    page.get_by_role("button", name="Versions").click()
    page.get_by_test_id("compare-form").get_by_role("button", name="Show changes").click()
    banner = page.get_by_test_id("diff-banner")
    expect(banner).to_contain_text("Changes from v1 to v2")
    expect(banner.get_by_test_id("diff-lines")).to_contain_text("n2: width 32 → 64")
    changed = node(page, "n2").get_by_test_id("pipeline-node")
    expect(changed).to_have_attribute("data-diff", "changed")
    expect(changed.get_by_test_id("node-diff")).to_contain_text("width: 32 → 64")
    expect(node(page, "n1").get_by_test_id("pipeline-node")).to_have_attribute("data-diff", "")
    expect(node(page, "n4").get_by_test_id("pipeline-node")).to_have_attribute("data-diff", "added")
    expect(page.locator(".react-flow__edge.diff-added")).to_have_count(2)
    expect(banner.get_by_test_id("diff-lines")).to_contain_text("+ n4 (IMAGE__GRAYSCALE) added")
    shot(page, "26-version-diff")
    banner.get_by_role("button", name="Back to draft").click()
    expect(banner).to_have_count(0)

    page.get_by_role("button", name="Versions").click()
    row = page.locator('[data-testid="version-row"][data-version="1"]')
    row.get_by_role("button", name="Roll back to v1").click()
    row.get_by_role("button", name="Roll back", exact=True).click()
    notice = page.get_by_test_id("canvas-notice")
    expect(notice).to_contain_text("Rolled back: v3 is live with v1's graph")
    expect(notice).to_contain_text(prefix)
    shot(page, "27-rolled-back")

    detail = api(page, token, "GET", f"/api/v1/studio/pipelines/{pid}")
    assert detail["published_version"] == 3 and detail["session_key_prefix"] == prefix
    v3 = api(page, token, "GET", f"/api/v1/studio/pipelines/{pid}/versions/3")
    assert next(n for n in v3["graph"]["nodes"] if n["id"] == "n2")["params"]["width"] == 32
    # the caller's key is the one it had: it still answers, for the rolled-back graph
    docs = page.request.get(f"/api/node/api/{raw_key}/docs")
    assert docs.ok, docs.text()
