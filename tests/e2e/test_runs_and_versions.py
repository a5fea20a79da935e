"""Runs and versions from the canvas: cancel a running run, open a published version read-only and restore
it as the draft, and the run history page."""

from __future__ import annotations

import base64

from playwright.sync_api import expect

from tests.e2e.conftest import shot
from tests.e2e.ui import (api, gedge, gnode, new_pipeline, node, open_canvas, resize_graph, sample_png,
                         signup_via_api, wait_saved)


def slow_graph(steps: int = 12) -> dict:
    """INPUT__IMAGE then a chain of big resizes (seconds of work) into OUTPUT__."""
    nodes = [gnode("n1", "INPUT__IMAGE", name="image_url")]
    edges = []
    prev = "n1"
    for i in range(steps):
        nid = f"n{i + 2}"
        side = 4096 if i % 2 == 0 else 1024
        nodes.append(gnode(nid, "IMAGE__RESIZE", 240 * (i + 1), 60 * (i % 2), width=side, height=side,
                           mode="stretch", resample="lanczos"))
        edges.append(gedge(f"e{i + 1}", prev, "image", nid, "image"))
        prev = nid
    nodes.append(gnode("out", "OUTPUT__", 240 * (steps + 1), 0))
    edges.append(gedge("eout", prev, "image", "out", "image"))
    return {"nodes": nodes, "edges": edges}


def test_cancel_a_running_run(page, tmp_path):
    account = signup_via_api(page)
    pid = new_pipeline(page, account["token"], "Slow", slow_graph())
    open_canvas(page, pid)
    image = tmp_path / "in.png"
    image.write_bytes(sample_png(512, 512))
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_label("Image file for image_url").set_input_files(str(image))
    page.get_by_role("button", name="Start run").click()

    results = page.get_by_test_id("results-panel")
    expect(results).to_have_attribute("data-run-status", "running", timeout=30_000)
    expect(page.locator('.pnode[data-status="running"]')).to_have_count(1)
    results.get_by_role("button", name="Cancel run").click()
    results.get_by_role("button", name="Cancel run").click()  # the confirmation
    expect(results).to_have_attribute("data-run-status", "cancelled", timeout=30_000)
    output_card = node(page, "out").get_by_test_id("pipeline-node")
    expect(output_card).not_to_have_attribute("data-status", "completed")
    expect(results.get_by_role("button", name="Cancel run")).to_have_count(0)
    shot(page, "06-run-cancelled")

    runs = api(page, account["token"], "GET", f"/api/v1/studio/pipelines/{pid}/runs")
    assert runs[0]["status"] == "cancelled"

    # Resume: the same run goes back to the queue; the input node's stored image is reused, the rest runs
    results.get_by_role("button", name="Resume run").click()
    expect(results).to_have_attribute("data-run-status", "completed", timeout=60_000)
    expect(results.get_by_role("button", name="Resume run")).to_have_count(0)
    expect(node(page, "n1").get_by_test_id("node-note")).to_have_text("reused from before the resume")
    expect(output_card).to_have_attribute("data-status", "completed")
    shot(page, "06b-run-resumed")
    run = api(page, account["token"], "GET", f"/api/v1/studio/runs/{runs[0]['id']}")
    assert run["status"] == "completed" and run["resumes"] == 1


def test_open_a_version_read_only_and_restore_it(page):
    account = signup_via_api(page)
    token = account["token"]
    pid = new_pipeline(page, token, "Versions", resize_graph())
    api(page, token, "POST", f"/api/v1/studio/pipelines/{pid}/publish", {})
    draft = resize_graph()
    draft["nodes"].append(gnode("n4", "IMAGE__GRAYSCALE", 260, 220))
    api(page, token, "PATCH", f"/api/v1/studio/pipelines/{pid}", {"graph": draft})

    open_canvas(page, pid)
    expect(page.locator(".react-flow__node")).to_have_count(4)
    page.get_by_role("button", name="Versions").click()
    page.get_by_role("button", name="Open version 1 read-only").click()
    expect(page.get_by_test_id("readonly-banner")).to_contain_text("v1")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_disabled()
    shot(page, "07-version-read-only")

    banner = page.get_by_test_id("readonly-banner")
    banner.get_by_role("button", name="Restore as draft").click()
    banner.get_by_role("button", name="Restore", exact=True).click()
    expect(page.get_by_test_id("readonly-banner")).to_have_count(0)
    expect(page.get_by_test_id("canvas-notice")).to_contain_text("restored from v1")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    # the restore is one undo step: undo brings the draft with the grayscale node back, redo restores again
    page.get_by_role("button", name="Undo").click()
    expect(page.locator(".react-flow__node")).to_have_count(4)
    page.get_by_role("button", name="Redo").click()
    expect(page.locator(".react-flow__node")).to_have_count(3)
    wait_saved(page)
    page.reload()
    expect(page.locator(".react-flow__node")).to_have_count(3)
    api_graph = api(page, token, "GET", f"/api/v1/studio/pipelines/{pid}")["graph"]
    assert sorted(n["id"] for n in api_graph["nodes"]) == ["n1", "n2", "n3"]


def test_run_history_lists_runs_with_their_artifacts(page, tmp_path):
    account = signup_via_api(page)
    token = account["token"]
    pid = new_pipeline(page, token, "History", resize_graph())

    data_uri = "data:image/png;base64," + base64.b64encode(sample_png()).decode()
    run = api(page, token, "POST", f"/api/v1/studio/pipelines/{pid}/runs",
              {"inputs": {"image_url": data_uri}, "draft": True})
    page.goto(f"/studio/{pid}/runs/")
    row = page.locator(f'[data-testid="run-row"][data-run-id="{run["id"]}"]')
    expect(row).to_be_visible()
    for _ in range(40):  # the worker finishes it within seconds
        if row.get_by_text("done").count():
            break
        page.wait_for_timeout(250)
        page.get_by_role("button", name="Refresh").click()
    expect(row).to_contain_text("done")
    expect(row).to_contain_text("draft")
    row.get_by_role("button", name="Artifacts").click()
    links = page.get_by_test_id("artifact-links")
    # the pipeline's output first, then every intermediate image of the canvas run, each once
    expect(links.get_by_role("link").first).to_contain_text("outputs.")
    hrefs = [a.get_attribute("href") for a in links.get_by_role("link").all()]
    assert len(hrefs) == len(set(hrefs)) >= 2
    assert all(page.request.get(href).status == 200 for href in hrefs)
    shot(page, "08-run-history")
