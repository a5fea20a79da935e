"""The two node types Sartiq's offline tasks run: IMAGE__ADJUST (framing) and IMAGE__BACKGROUND_FIX."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from pipelines.graph import validate_graph
from pipelines.nodes.base import ImageValue, NodeContext, NodeError, get_node_type

CTX = NodeContext(run_id="r", node_id="n")


def adjust(image, **params):
    node = get_node_type("IMAGE__ADJUST")
    out = node().run(CTX, {"image": ImageValue(image)}, node.resolved_params(params))["image"]
    return out.image, out.metadata["adjustment"]


def marked(size=(200, 100)):
    """Grey, with a red left edge and a blue top edge, to see which part a crop kept."""
    image = Image.new("RGB", size, (128, 128, 128))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 4, size[1]), fill=(255, 0, 0))
    draw.rectangle((0, 0, size[0], 4), fill=(0, 0, 255))
    return image


@pytest.mark.parametrize(
    ("position", "keeps_left"), [("center", False), ("left", True), ("right", False), ("top_left", True)]
)
def test_crop_keeps_the_box_at_its_position(position, keeps_left):
    out, applied = adjust(marked(), mode="crop", aspect_ratio=1.0, cropping_position=position)
    assert applied == "crop" and out.size == (100, 100)
    assert (out.getpixel((1, 50)) == (255, 0, 0)) is keeps_left


def test_pad_extends_with_the_border_colour_and_keeps_every_pixel():
    image = Image.new("RGB", (200, 100), (10, 200, 30))
    out, applied = adjust(image, mode="pad", aspect_ratio=1.0)
    assert applied == "pad" and out.size == (200, 200)
    assert out.getpixel((0, 0)) == (10, 200, 30) and out.getpixel((100, 199)) == (10, 200, 30)


def test_pad_of_an_image_with_alpha_is_transparent():
    out, _ = adjust(Image.new("RGBA", (200, 100), (1, 2, 3, 255)), mode="pad", aspect_ratio=1.0)
    assert out.getpixel((0, 0))[3] == 0 and out.getpixel((100, 100))[3] == 255


def test_auto_pads_above_five_percent_and_crops_below():
    assert adjust(marked(), mode="auto", aspect_ratio=1.0)[1] == "pad"
    out, applied = adjust(marked(), mode="auto", aspect_ratio=1.96)
    assert applied == "crop" and out.size == (196, 100)


def test_tolerance_leaves_a_close_ratio_alone():
    out, applied = adjust(marked(), mode="crop", aspect_ratio=1.9, tolerance=0.06)
    assert applied == "none" and out.size == (200, 100)
    out, applied = adjust(marked(), mode="crop", target_width=190, target_height=100, tolerance=0.06)
    assert applied == "none" and out.size == (190, 100)


@pytest.mark.parametrize(
    ("how", "size"),
    [("height", (300, 100)), ("width", (300, 100)), ("fit", (300, 100)), ("fill", (300, 100))],
)
def test_scale_gives_exactly_the_target_size(how, size):
    out, applied = adjust(
        marked(), mode="scale", target_width=size[0], target_height=size[1], scaling_proportions=how
    )
    assert applied == "scale" and out.size == size


def test_scale_by_height_crops_the_sides_fit_pads_them():
    image = marked((200, 100))
    out, _ = adjust(
        image,
        mode="scale",
        target_width=100,
        target_height=100,
        scaling_proportions="height",
        cropping_position="left",
    )
    assert out.getpixel((1, 50)) == (255, 0, 0)  # the left edge kept, the right cropped
    plain = Image.new("RGB", (200, 100), (128, 128, 128))
    ImageDraw.Draw(plain).rectangle((80, 30, 120, 70), fill=(255, 0, 0))
    out, _ = adjust(plain, mode="scale", target_width=100, target_height=100, scaling_proportions="fit")
    assert out.getpixel((50, 2)) == (128, 128, 128)  # padded above and below with the border's median
    assert out.getpixel((50, 50)) == (255, 0, 0)


def on_backdrop(size=(200, 100), box=(20, 30, 60, 100)):
    image = Image.new("RGB", size, (220, 220, 220))
    ImageDraw.Draw(image).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=(20, 20, 20))
    return image


def subject_rows_cols(image):
    pixels = [
        (x, y) for y in range(image.height) for x in range(image.width) if image.getpixel((x, y))[0] < 100
    ]
    xs, ys = [p[0] for p in pixels], [p[1] for p in pixels]
    return min(xs), min(ys), max(xs) + 1, max(ys) + 1


def test_crop_with_margins_moves_and_grows_the_box_to_keep_them():
    out, applied = adjust(on_backdrop(), mode="crop", aspect_ratio=1.0, margin_left=0.1, margin_bottom=0.1)
    x0, y0, x1, y1 = subject_rows_cols(out)
    assert applied == "crop" and out.width == out.height
    assert x0 >= 0.1 * out.width - 1 and out.height - y1 >= 0.1 * out.height - 1
    assert out.getpixel((0, out.height - 1)) == (220, 220, 220)  # padded below with the backdrop


def test_scale_with_margins_matches_the_vertical_margins_exactly():
    out, applied = adjust(
        on_backdrop(),
        mode="scale",
        target_width=100,
        target_height=200,
        scaling_proportions="height",
        margin_top=0.25,
        margin_bottom=0.25,
    )
    x0, y0, x1, y1 = subject_rows_cols(out)
    assert applied == "scale" and out.size == (100, 200)
    assert abs(y0 - 50) <= 1 and abs(y1 - 150) <= 1
    assert abs((x0 + x1) / 2 - 50) <= 1  # centred between equal (absent) side margins


def test_margins_come_from_a_reference_image():
    node = get_node_type("IMAGE__ADJUST")
    reference = ImageValue(on_backdrop((100, 100), (25, 25, 75, 75)))  # a quarter of margin on each side
    params = node.resolved_params({"mode": "crop", "aspect_ratio": 1.0})
    out = node().run(CTX, {"image": ImageValue(on_backdrop()), "reference": reference}, params)["image"]
    x0, y0, x1, y1 = subject_rows_cols(out.image)
    assert out.metadata["margins"]["margin_top"] == 0.25
    assert y0 >= 0.25 * out.image.height - 1 and out.image.height - y1 >= 0.25 * out.image.height - 1


def test_margins_need_a_subject():
    with pytest.raises(NodeError) as err:
        adjust(Image.new("RGB", (50, 50), (9, 9, 9)), mode="crop", aspect_ratio=1.0, margin_top=0.1)
    assert err.value.code == "NO_SUBJECT" and not err.value.server_fault


def test_adjust_needs_a_target():
    with pytest.raises(NodeError):
        adjust(marked(), mode="crop")
    with pytest.raises(NodeError):
        adjust(marked(), mode="scale", aspect_ratio=1.0)


# -- background fix -------------------------------------------------------------------------------------


def studio(backdrop=(200, 210, 220), subject=(30, 40, 50), size=(120, 80), mode="RGB"):
    image = Image.new(mode, size, backdrop + ((255,) if mode == "RGBA" else ()))
    ImageDraw.Draw(image).rectangle((40, 20, 80, 79), fill=subject + ((255,) if mode == "RGBA" else ()))
    return image


def fix(image, palette_color=(240, 200, 180), **params):
    node = get_node_type("IMAGE__BACKGROUND_FIX")
    palette = ImageValue(Image.new("RGB", (10, 10), palette_color))
    inputs = {"image": ImageValue(image), "palette": palette}
    out = node().run(CTX, inputs, node.resolved_params(params))["image"]
    return out.image, out.metadata


def test_replace_paints_the_backdrop_and_keeps_the_subject():
    out, meta = fix(studio(), strategy="replace", edge_blur_sigma=0, mask_expansion_percentage=0)
    assert out.getpixel((2, 2)) == (240, 200, 180)
    assert out.getpixel((60, 50)) == (30, 40, 50)
    assert meta["backdrop_color"] == [200, 210, 220] and meta["palette_color"] == [240, 200, 180]
    assert 0.2 < meta["subject_fraction"] < 0.3


def test_color_shift_is_full_above_the_light_threshold_and_none_below_the_shadow_one():
    bright, _ = fix(studio(backdrop=(230, 230, 230)), edge_blur_sigma=0, mask_expansion_percentage=0)
    assert bright.getpixel((2, 2)) == pytest.approx((240, 200, 180), abs=2)
    dark, _ = fix(studio(backdrop=(100, 100, 100)), edge_blur_sigma=0, mask_expansion_percentage=0)
    assert dark.getpixel((2, 2)) == (100, 100, 100)


def test_edges_are_soft_with_a_blur_and_hard_without():
    hard, _ = fix(studio(), strategy="replace", edge_blur_sigma=0, mask_expansion_percentage=0)
    soft, _ = fix(studio(), strategy="replace", edge_blur_sigma=4, mask_expansion_percentage=0)
    assert hard.getpixel((38, 50)) == (240, 200, 180)
    assert soft.getpixel((38, 50)) != (240, 200, 180)


def test_mask_expansion_protects_a_margin_around_the_subject():
    out, _ = fix(studio(), strategy="replace", edge_blur_sigma=0, mask_expansion_percentage=0.05)
    assert out.getpixel((37, 50)) == (200, 210, 220)  # 3 px from the subject, inside the 6 px margin
    assert out.getpixel((2, 2)) == (240, 200, 180)


def test_alpha_is_kept():
    out, _ = fix(studio(mode="RGBA"))
    assert out.mode == "RGBA"


def test_shadow_above_light_is_an_input_error():
    with pytest.raises(NodeError) as err:
        fix(studio(), light_threshold=100, shadow_threshold=200)
    assert not err.value.server_fault


def test_both_nodes_validate_in_a_graph():
    graph = {
        "nodes": [
            {"id": "a", "type": "INPUT__IMAGE", "params": {"name": "a"}},
            {"id": "b", "type": "INPUT__IMAGE", "params": {"name": "b"}},
            {"id": "fix", "type": "IMAGE__BACKGROUND_FIX", "params": {}},
            {"id": "adj", "type": "IMAGE__ADJUST", "params": {"mode": "pad", "aspect_ratio": 0.8}},
            {"id": "out", "type": "OUTPUT__", "params": {}},
        ],
        "edges": [
            {"id": "1", "from": {"node": "a", "port": "image"}, "to": {"node": "fix", "port": "image"}},
            {"id": "2", "from": {"node": "b", "port": "image"}, "to": {"node": "fix", "port": "palette"}},
            {"id": "3", "from": {"node": "fix", "port": "image"}, "to": {"node": "adj", "port": "image"}},
            {"id": "4", "from": {"node": "adj", "port": "image"}, "to": {"node": "out", "port": "result"}},
        ],
    }
    assert validate_graph(graph) == []
