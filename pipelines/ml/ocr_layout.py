"""Page geometry for OCR: the skew of a page from its detected lines, deskewing, reading order.

A page photographed or scanned a few degrees off level puts a line's left end lower (or higher) than its
right end; sorted by their centres in the image, the lines of such a page come out in the wrong order
once the skew times the line length exceeds the gap between lines. We measure the skew from the text
lines' own long edges, rotate the page level, read and order the lines there, and map nothing back:
each line keeps the polygon the detector found in the caller's image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Below this, rotating the page costs time and blurs glyphs for nothing.
MIN_SKEW_DEGREES = 0.2
# Lines steeper than this are vertical text or noise, not a skewed page.
MAX_SKEW_DEGREES = 30.0
# A line still tilted by more than this on the level page (text at its own angle in a photo) is cut
# out along its own quadrilateral instead of as an upright box.
RECTIFY_DEGREES = 1.5


def estimate_skew(quads: list[np.ndarray]) -> float:
    """The page's skew in degrees (positive: text rises to the right, as ``PIL.Image.rotate`` turns it).

    The length-weighted median of the angles of the lines' top and bottom edges, so one short or
    spurious box does not tilt the page.
    """
    angles, weights = [], []
    for quad in quads:
        for a, b in ((quad[0], quad[1]), (quad[3], quad[2])):
            dx, dy = float(b[0] - a[0]), float(b[1] - a[1])
            if dx <= 0:
                continue
            angle = -math.degrees(math.atan2(dy, dx))  # image y points down
            if abs(angle) <= MAX_SKEW_DEGREES:
                angles.append(angle)
                weights.append(dx)
    if not angles:
        return 0.0
    order = np.argsort(angles)
    cum = np.cumsum(np.asarray(weights)[order])
    return float(np.asarray(angles)[order][np.searchsorted(cum, cum[-1] / 2)])


def line_angle(quad: np.ndarray) -> float:
    """The angle of one line's long edges in degrees (same sign as :func:`estimate_skew`)."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = quad[:4]
    return -math.degrees(math.atan2((y1 - y0) + (y2 - y3), (x1 - x0) + (x2 - x3)))


@dataclass
class Level:
    """A page rotated level: the image and the affine map from the caller's pixels to it."""

    image: np.ndarray  # HxWx3, same channel order as the input
    matrix: np.ndarray  # 2x3
    degrees: float

    def points(self, quad: np.ndarray) -> np.ndarray:
        """``quad``'s points (Nx2, caller's pixels) in the levelled image."""
        return np.hstack([quad, np.ones((len(quad), 1))]) @ self.matrix.T


def level(image: np.ndarray, degrees: float) -> Level:
    """Rotate ``image`` by ``-degrees`` about its centre onto a canvas that holds all of it.

    The corners are filled with the median colour of the image's border (the paper), not black, so
    a line near a corner is not read against an edge.
    """
    import cv2

    h, w = image.shape[:2]
    if abs(degrees) < MIN_SKEW_DEGREES:
        return Level(image, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), 0.0)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), -degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(math.ceil(h * sin + w * cos)), int(math.ceil(h * cos + w * sin))
    matrix[0, 2] += new_w / 2 - w / 2
    matrix[1, 2] += new_h / 2 - h / 2
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    paper = tuple(float(v) for v in np.median(border, axis=0))
    out = cv2.warpAffine(image, matrix, (new_w, new_h), flags=cv2.INTER_CUBIC,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=paper)
    return Level(out, matrix, degrees)


def reading_order(boxes: list[tuple[float, float, float, float]], rtl: list[bool],
                  texts: list[str] | None = None) -> list[int]:
    """Indices of ``boxes`` (x1, y1, x2, y2 on a level page) in reading order.

    Top to bottom by rows (boxes overlapping by half the smaller height share a row); within a row
    left to right, or right to left when most of the row's text (by length, or by width without
    ``texts``) is ``rtl``.
    """
    rows: list[list[int]] = []
    for i in sorted(range(len(boxes)), key=lambda k: (boxes[k][1] + boxes[k][3]) / 2):
        x1, y1, x2, y2 = boxes[i]
        for row in rows:
            ry1 = min(boxes[k][1] for k in row)
            ry2 = max(boxes[k][3] for k in row)
            if min(y2, ry2) - max(y1, ry1) > 0.5 * min(y2 - y1, ry2 - ry1):
                row.append(i)
                break
        else:
            rows.append([i])
    ordered: list[int] = []
    for row in rows:
        size = [len(texts[k]) if texts else boxes[k][2] - boxes[k][0] for k in row]
        right_to_left = sum(n for k, n in zip(row, size) if rtl[k]) * 2 > sum(size)
        ordered += sorted(row, key=lambda k: -boxes[k][2] if right_to_left else boxes[k][0])
    return ordered
