"""The words the publish dialog shows for a pipeline's outputs read as English, for every node type.

The dialog's Outputs table shows each output's description from the published version (and FractalQ's
/docs): it is built from the description of the node port wired into the Output node. It once read
"URL of the The decoded input image"."""

from __future__ import annotations

import re

import pytest

from pipelines.nodes.base import registry
from pipelines.services import derive_schema, output_spec

PORTS = [(t.type, p) for t in registry().values() for p in t.outputs]


@pytest.mark.parametrize(("node_type", "port"), PORTS, ids=[f"{t}.{p.name}" for t, p in PORTS])
def test_every_output_description_reads_well(node_type, port):
    text = output_spec(port, {"id": "n2", "type": node_type})["description"]
    assert not re.search(r"\b(the|a|an)\s+(the|a|an)\b", text, re.IGNORECASE), text
    assert not re.search(r"\b[a-z][A-Z]", text), f"an acronym lost its capital: {text}"
    assert text.endswith(f"(from n2, {node_type})"), text
    if port.type == "image":
        assert text.startswith("URL of the image: "), text


def test_the_published_outputs_say_what_the_caller_gets():
    graph = {
        "nodes": [
            {"id": "n1", "type": "INPUT__IMAGE", "params": {"name": "image_url"}},
            {"id": "n2", "type": "IMAGE__GRAYSCALE", "params": {}},
            {"id": "n3", "type": "OUTPUT__", "params": {}},
        ],
        "edges": [
            {"from": {"node": "n1", "port": "image"}, "to": {"node": "n2", "port": "image"}},
            {"from": {"node": "n1", "port": "image"}, "to": {"node": "n3", "port": "original"}},
            {"from": {"node": "n2", "port": "image"}, "to": {"node": "n3", "port": "gray"}},
        ],
    }
    outputs = derive_schema(graph)[1]
    assert outputs["original"]["description"] == (
        "URL of the image: the decoded input image (from n1, INPUT__IMAGE)"
    )
    assert outputs["gray"]["description"] == "URL of the image: processed image (from n2, IMAGE__GRAYSCALE)"
