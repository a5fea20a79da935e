"""A browser's own EventSource follows a Fizzly request's stream (issue: SSE clients were refused with 406).

With its access token in the query (an EventSource cannot send an Authorization header), the page opens the
stream of a queued request, receives every node's submit/completion and the final output with its URL,
then, when the server ends the stream, reconnects by itself with Last-Event-ID and is told (204) that
nothing more will come: no event is delivered twice."""

from __future__ import annotations

import base64
import re
import time

from accounts.models import User
from tests.e2e.ui import PASSWORD, new_pipeline, resize_graph, sample_png, signup

STREAM_JS = """
url => new Promise((resolve) => {
  const seen = [];
  let opens = 0;
  const source = new EventSource(url);
  source.onopen = () => { opens += 1; };
  for (const name of ["submit", "completion", "output", "error"]) {
    // the seed's "error" event shares its name with EventSource's own connection error (no data)
    source.addEventListener(name, (e) => { if (e.data) seen.push({name, id: e.lastEventId, data: JSON.parse(e.data)}); });
  }
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) resolve({seen, opens, state: source.readyState});
  };
  setTimeout(() => { source.close(); resolve({seen, opens, state: -1}); }, 20000);
})
"""


def test_event_source_in_chromium_reads_the_stream_and_stops_after_it(page, live):
    username = signup(page)
    User.objects.filter(username=username).update(tier="pro")
    login = page.request.post("/api/v1/auth/login", data={"username": username, "password": PASSWORD})
    token = login.json()["access_token"]
    pipeline_id = new_pipeline(page, token, "Streamed", resize_graph(24, 16))
    publish = page.request.post(
        f"/api/v1/studio/pipelines/{pipeline_id}/publish", headers={"Authorization": f"Bearer {token}"}
    )
    assert publish.ok, publish.text()
    slug = page.request.get(
        f"/api/v1/studio/pipelines/{pipeline_id}", headers={"Authorization": f"Bearer {token}"}
    ).json()["slug"]
    image = "data:image/png;base64," + base64.b64encode(sample_png()).decode()
    submitted = page.request.post(
        f"/workflows/{username}/{slug}",
        data={"inputs": {"image_url": image}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert submitted.ok, submitted.text()
    request_id = submitted.json()["request_id"]

    page.goto("/account/")  # any page of ours: the stream is same-origin
    stream = f"/workflows/{username}/{slug}/requests/{request_id}/status/stream"
    result = page.evaluate(STREAM_JS, f"{stream}?token={token}")

    names = [e["name"] for e in result["seen"]]
    assert names == ["submit", "completion"] * 3 + ["output"], names
    ids = [e["id"] for e in result["seen"]]
    assert len(set(ids)) == len(ids) and all(ids)  # every event once, each with its id
    resized = next(e for e in result["seen"] if e["name"] == "completion" and e["data"]["node"] == "n2")
    assert resized["data"]["output"]["width"] == 24 and "signature=" in resized["data"]["output"]["url"]
    assert "url" in result["seen"][-1]["data"]["outputs"]["image"]
    # the browser reconnected with Last-Event-ID by itself and was told to stop
    assert result["state"] == 2, result
    stream_path = re.escape(stream)
    deadline = time.monotonic() + 10  # the access log line is written once the response has gone out
    while time.monotonic() < deadline:
        log = live.logs.read_text()
        if re.search(stream_path + r'" 200 ', log) and re.search(stream_path + r'" 204 ', log):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"no 200 then 204 for the stream in the access log:\n{log[-2000:]}")
    assert token not in log  # query strings (the token) never reach the log
