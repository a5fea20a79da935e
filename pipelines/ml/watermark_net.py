"""The watermark detector network and its box encoding (imports torch: load lazily).

A TTFNet-style anchor-free detector, small enough to train on two CPU cores:
a plain conv backbone down to stride 32, a light FPN back up to stride 8, and
two heads on the stride-8 map (heads at stride 4 cost half of all compute for
no gain at IoU 0.5):

* ``heat`` (1 channel): a Gaussian at each watermark's centre, elongated like
  the box (text watermarks are wide and short);
* ``ltrb`` (4 channels): distances from the pixel to the box's left, top,
  right and bottom edges, in input pixels, trained with GIoU at every pixel
  of the Gaussian's core (so a peak anywhere near the centre predicts a good box).

Decoding keeps heatmap peaks (3x3 max-pool) above a score threshold and runs NMS.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STRIDE = 8
BOX_SCALE = 16.0  # ltrb = exp(raw) * BOX_SCALE
# The first committed model; weights files record their own widths (meta["widths"], meta["head"]).
NARROW = ((16, 32, 48, 80, 96), 48)
# Wider where compute is cheap (strides 16 and 32) and in the stride-8 heads, where the narrow model
# levelled off (validation recall ~91% on the training fonts).
WIDE = ((16, 32, 64, 128, 160), 64)


def _cbr(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class _Res(nn.Module):
    def __init__(self, ch: int, dilation: int = 1):
        super().__init__()
        self.a = _cbr(ch, ch, dilation=dilation)
        self.b = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation, bias=False),
                               nn.BatchNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.b(self.a(x)))


class WatermarkNet(nn.Module):
    def __init__(self, widths: tuple[int, ...] = (16, 32, 48, 80, 96), head: int = 48):
        super().__init__()
        w1, w2, w3, w4, w5 = widths
        self.stem = nn.Sequential(_cbr(3, w1, 2), _cbr(w1, w2, 2))  # stride 4
        self.s8 = nn.Sequential(_cbr(w2, w3, 2), _Res(w3))
        self.s16 = nn.Sequential(_cbr(w3, w4, 2), _Res(w4), _Res(w4, 2))
        self.s32 = nn.Sequential(_cbr(w4, w5, 2), _Res(w5, 2), _Res(w5, 4))
        self.lat32 = nn.Conv2d(w5, head, 1)
        self.lat16 = nn.Conv2d(w4, head, 1)
        self.lat8 = nn.Conv2d(w3, head, 1)
        self.smooth = _cbr(head, head)
        self.heat = nn.Sequential(_cbr(head, head), nn.Conv2d(head, 1, 1))
        self.ltrb = nn.Sequential(_cbr(head, head), nn.Conv2d(head, 4, 1))
        nn.init.constant_(self.heat[-1].bias, -4.6)  # prior 0.01: few pixels are centres
        nn.init.zeros_(self.ltrb[-1].bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c4 = self.stem(x)
        c8 = self.s8(c4)
        c16 = self.s16(c8)
        c32 = self.s32(c16)
        p = self.lat32(c32)
        p = self.lat16(c16) + F.interpolate(p, size=c16.shape[-2:], mode="nearest")
        p = self.lat8(c8) + F.interpolate(p, size=c8.shape[-2:], mode="bilinear", align_corners=False)
        p = self.smooth(p)
        return self.heat(p), torch.exp(self.ltrb(p).clamp(max=6.0)) * BOX_SCALE


def normalize(batch_uint8: torch.Tensor) -> torch.Tensor:
    """NHWC uint8 -> NCHW float in [-1, 1]."""
    return batch_uint8.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def decode(heat_logits: torch.Tensor, ltrb: torch.Tensor, threshold: float, max_dets: int = 100,
           nms_iou: float = 0.45) -> list[list[tuple[float, float, float, float, float]]]:
    """Per image: list of (x1, y1, x2, y2, score) in network-input pixels."""
    from torchvision.ops import nms

    heat = torch.sigmoid(heat_logits)
    peaks = heat == F.max_pool2d(heat, 3, stride=1, padding=1)
    heat = heat * peaks
    n, _, h, w = heat.shape
    out = []
    for i in range(n):
        scores, idx = heat[i, 0].flatten().topk(min(max_dets, h * w))
        keep = scores >= threshold
        scores, idx = scores[keep], idx[keep]
        if idx.numel() == 0:
            out.append([])
            continue
        ys, xs = (idx // w).float(), (idx % w).float()
        cx, cy = (xs + 0.5) * STRIDE, (ys + 0.5) * STRIDE
        d = ltrb[i][:, idx // w, idx % w]
        boxes = torch.stack([cx - d[0], cy - d[1], cx + d[2], cy + d[3]], dim=1)
        keep = nms(boxes, scores, nms_iou)
        out.append([(*map(float, boxes[k]), float(scores[k])) for k in keep])
    return out


def encode_targets(boxes: list[tuple[float, float, float, float]], h: int, w: int
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targets on the output grid for one image: heatmap (1,H,W), ltrb boxes (4,H,W), reg weight (H,W)."""
    gh, gw = h // STRIDE, w // STRIDE
    heat = torch.zeros(1, gh, gw)
    box_t = torch.zeros(4, gh, gw)
    weight = torch.zeros(gh, gw)
    ys = (torch.arange(gh).float() + 0.5) * STRIDE
    xs = (torch.arange(gw).float() + 0.5) * STRIDE
    # large boxes first so smaller ones win where they overlap
    for x1, y1, x2, y2 in sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
        bw, bh = x2 - x1, y2 - y1
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        sx, sy = max(bw / 6.0, 1.5), max(bh / 6.0, 1.5)
        g = torch.exp(-((xs[None, :] - cx) ** 2) / (2 * sx * sx) - ((ys[:, None] - cy) ** 2) / (2 * sy * sy))
        # the exact centre cell is a peak of 1 even for boxes narrower than a cell
        ci, cj = min(gh - 1, int(cy // STRIDE)), min(gw - 1, int(cx // STRIDE))
        g[ci, cj] = 1.0
        heat[0] = torch.maximum(heat[0], g)
        core = g > 0.3
        box_t[0][core] = x1
        box_t[1][core] = y1
        box_t[2][core] = x2
        box_t[3][core] = y2
        area = max(bw * bh, 4.0)
        weight[core] = g[core] * torch.log(torch.tensor(area))
    return heat, box_t, weight


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss."""
    pred = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    neg = 1 - pos
    pos_loss = torch.log(pred) * (1 - pred) ** 2 * pos
    neg_loss = torch.log(1 - pred) * pred ** 2 * (1 - target) ** 4 * neg
    num_pos = pos.sum().clamp(min=1)
    return -(pos_loss.sum() + neg_loss.sum()) / num_pos


def giou_loss(ltrb: torch.Tensor, box_t: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """GIoU loss at the weighted pixels; predicted boxes come from each pixel's centre and ltrb."""
    n, _, gh, gw = ltrb.shape
    mask = weight > 0
    if not mask.any():
        return ltrb.sum() * 0
    ys = ((torch.arange(gh, device=ltrb.device).float() + 0.5) * STRIDE)[:, None].expand(gh, gw)
    xs = ((torch.arange(gw, device=ltrb.device).float() + 0.5) * STRIDE)[None, :].expand(gh, gw)
    px1 = xs - ltrb[:, 0]
    py1 = ys - ltrb[:, 1]
    px2 = xs + ltrb[:, 2]
    py2 = ys + ltrb[:, 3]
    tx1, ty1, tx2, ty2 = box_t[:, 0], box_t[:, 1], box_t[:, 2], box_t[:, 3]
    px1, py1, px2, py2 = px1[mask], py1[mask], px2[mask], py2[mask]
    tx1, ty1, tx2, ty2 = tx1[mask], ty1[mask], tx2[mask], ty2[mask]
    w = weight[mask]
    inter = (torch.min(px2, tx2) - torch.max(px1, tx1)).clamp(min=0) * \
            (torch.min(py2, ty2) - torch.max(py1, ty1)).clamp(min=0)
    union = (px2 - px1) * (py2 - py1) + (tx2 - tx1) * (ty2 - ty1) - inter
    iou = inter / union.clamp(min=1e-6)
    enclose = (torch.max(px2, tx2) - torch.min(px1, tx1)) * (torch.max(py2, ty2) - torch.min(py1, ty1))
    giou = iou - (enclose - union) / enclose.clamp(min=1e-6)
    return ((1 - giou) * w).sum() / w.sum().clamp(min=1e-6)


def widen_state_dict(old: dict[str, torch.Tensor], new_model: WatermarkNet) -> dict[str, torch.Tensor]:
    """The ``old`` (narrower) weights placed inside ``new_model``'s wider tensors, function-preserving.

    Each old tensor is copied into the leading slice of the new one. Output channels that are new keep
    ``new_model``'s fresh initialisation; input channels that are new get zero weight in every *old*
    output channel, so the widened network computes exactly what the narrow one did (the new channels
    start contributing as soon as training moves those zeros). Shapes must be equal or larger everywhere.
    """
    state = {k: v.clone() for k, v in new_model.state_dict().items()}
    for name, value in old.items():
        if name not in state:
            raise ValueError(f"unexpected weight {name}")
        target, value = state[name], value.to(state[name].dtype)
        if target.dim() != value.dim() or any(a < b for a, b in zip(target.shape, value.shape)):
            raise ValueError(f"{name}: cannot widen {tuple(value.shape)} to {tuple(target.shape)}")
        if target.dim() == 4:
            o, i = value.shape[:2]
            target[:o, i:] = 0.0
        target[tuple(slice(0, n) for n in value.shape)] = value
    return state
