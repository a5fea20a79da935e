"""What a person does in the browser, as small functions the browser tests share."""

from __future__ import annotations

import io
import itertools
import re
import time
from typing import Any

from PIL import Image
from playwright.sync_api import Page, expect

PASSWORD = "canvas-e2e-Passw0rd"
_seq = itertools.count(1)


def unique_name(prefix: str) -> str:
    return f"{prefix}{int(time.time() * 1000) % 10_000_000}{next(_seq)}"


def sample_png(width: int = 96, height: int = 64) -> bytes:
    """A small gradient image: deterministic, so two runs on it give identical outputs."""
    img = Image.new("RGB", (width, height))
    img.putdata([(x * 255 // width, y * 255 // height, 128) for y in range(height) for x in range(width)])
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def signup(page: Page, username: str | None = None) -> str:
    username = username or unique_name("artist")
    page.goto("/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r"/studio/$"))
    return username


def signup_via_api(page: Page) -> dict[str, Any]:
    """Create an account through the API in the page's browser context (so it holds the refresh cookie)."""
    username = unique_name("maker")
    resp = page.request.post("/api/v1/auth/register", data={
        "username": username, "email": f"{username}@example.com", "password": PASSWORD})
    assert resp.status == 201, resp.text()
    body = resp.json()
    return {"username": username, "token": body["access_token"], "user": body["user"]}


def api(page: Page, token: str, method: str, path: str, body: Any = None) -> Any:
    resp = page.request.fetch(path, method=method, data=body, headers={"Authorization": f"Bearer {token}"})
    assert resp.ok, f"{method} {path} -> {resp.status} {resp.text()}"
    return resp.json() if resp.text() else None


def create_pipeline(page: Page, name: str) -> int:
    page.get_by_label("New pipeline name").fill(name)
    page.get_by_role("button", name="Create pipeline").click()
    page.wait_for_url(re.compile(r"/studio/\d+/$"))
    expect(page.get_by_test_id("studio")).to_be_visible()
    return int(re.search(r"/studio/(\d+)/", page.url)[1])


def node(page: Page, node_id: str):
    return page.locator(f'.react-flow__node[data-id="{node_id}"]')


def drag_node(page: Page, node_type: str, x: int, y: int) -> None:
    """Drag a node type from the palette and drop it at (x, y) of the canvas."""
    before = page.locator(".react-flow__node").count()
    page.drag_and_drop(f'[data-testid="palette-item"][data-node-type="{node_type}"]', ".react-flow__pane",
                       target_position={"x": x, "y": y})
    expect(page.locator(".react-flow__node")).to_have_count(before + 1)


def handle(page: Page, node_id: str, port: str, side: str):
    kind = "source" if side == "out" else "target"
    return node(page, node_id).locator(f'.react-flow__handle.{kind}[data-handleid="{port}"]')


def wire(page: Page, src: str, src_port: str, dst: str, dst_port: str) -> None:
    """Press on an output handle, move to an input handle, release (as a person draws a wire)."""
    a = handle(page, src, src_port, "out").bounding_box()
    b = handle(page, dst, dst_port, "in").bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move((a["x"] + b["x"]) / 2, (a["y"] + b["y"]) / 2, steps=4)
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=4)
    page.mouse.up()


def wait_saved(page: Page) -> None:
    expect(page.get_by_test_id("save-state")).to_have_attribute("data-state", "saved")


def select_node(page: Page, node_id: str) -> None:
    node(page, node_id).locator(".pnode-header").click()
    expect(page.get_by_test_id("inspector")).to_have_attribute("data-node-id", node_id)


def gnode(node_id: str, node_type: str, x: int = 0, y: int = 0, **params: Any) -> dict:
    """A node of the studio API's graph JSON."""
    return {"id": node_id, "type": node_type, "params": params, "position": {"x": x, "y": y}}


def gedge(edge_id: str, src: str, src_port: str, dst: str, dst_port: str) -> dict:
    """An edge of the studio API's graph JSON."""
    return {"id": edge_id, "from": {"node": src, "port": src_port}, "to": {"node": dst, "port": dst_port}}


def resize_graph(width: int = 32, height: int = 32) -> dict:
    """INPUT__IMAGE -> IMAGE__RESIZE -> OUTPUT__, as the studio API stores it."""
    return {
        "nodes": [
            gnode("n1", "INPUT__IMAGE", name="image_url"),
            gnode("n2", "IMAGE__RESIZE", 260, 40, width=width, height=height, mode="stretch"),
            gnode("n3", "OUTPUT__", 520, 0),
        ],
        "edges": [gedge("e1", "n1", "image", "n2", "image"), gedge("e2", "n2", "image", "n3", "image")],
    }


def new_pipeline(page: Page, token: str, name: str, graph: dict | None = None) -> int:
    """Create a pipeline through the studio API; its id."""
    body: dict[str, Any] = {"name": name}
    if graph is not None:
        body["graph"] = graph
    return api(page, token, "POST", "/api/v1/studio/pipelines", body)["id"]


def open_canvas(page: Page, pipeline_id: int) -> None:
    page.goto(f"/studio/{pipeline_id}/")
    expect(page.get_by_test_id("studio")).to_be_visible()
