"""Decoding one image file into square uint8 pixels: mode conversion, crop, resize.

Everything a photo collection throws at a loader is handled here, once, before the cache:
EXIF rotation, RGBA/LA/palette-with-transparency (composited on white, as a viewer shows
them), grayscale and 1-bit, CMYK, 16-bit and float images (scaled to 8 bits by their range,
not clipped). A file that cannot be decoded (zero bytes, truncated, not an image) gives
``None`` and is counted by the caller, never raised: one bad file must not stop a run.

JPEGs are decoded with ``Image.draft``: libjpeg scales by 1/2, 1/4 or 1/8 while decoding,
which is several times faster for photos much larger than the training resolution. The draft
size is chosen so that the crop still has at least ``size`` pixels per side, so the final
Lanczos resize only ever shrinks.
"""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image, ImageOps

#: Bump when the pixels this module produces change: it is part of every cache key.
PREPROCESS_VERSION = 2  # 2: EXIF-rotated annotated crops cut from the stored grid; float images in [0, 1]

Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels (PASCAL VOC order)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB. Transparency is composited on white; 16-bit/float is rescaled."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)  # (H, W)
        top = 65535.0 if mode.startswith("I;16") else max(float(a.max()), 1.0)
        if mode in ("I", "F") and a.max() <= 255:
            top = 255.0  # an 'I' image that only uses 8 bits
        if mode == "F" and a.min() >= 0 and a.max() <= 1:
            top = 1.0  # a float image in [0, 1], the usual convention for float pixels
        a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a).convert("RGB")  # (H, W) uint8 -> L
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV, RGBX...


def square_box(box: Box | None, width: int, height: int) -> Box:
    """The square region to keep: ``box`` (or the whole image) centred in a square of its
    longer side, shifted to stay inside the image; when that square cannot fit, the centred
    square of the shorter image side within it."""
    left, top, right, bottom = box if box is not None else (0, 0, width, height)
    left, top = max(0, left), max(0, top)
    right, bottom = min(width, right), min(height, bottom)
    side = min(max(right - left, bottom - top), width, height)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    x0 = int(round(min(max(cx - side / 2, 0), width - side)))
    y0 = int(round(min(max(cy - side / 2, 0), height - side)))
    return x0, y0, x0 + side, y0 + side


def square_resize(img: Image.Image, size: int, box: Box | None = None) -> np.ndarray:
    """Crop to the square around ``box`` (see ``square_box``), resize to size x size (Lanczos).

    Returns (size, size, 3) uint8.
    """
    img = to_rgb(img)
    region = square_box(box, *img.size)
    img = img.crop(region)
    if img.size != (size, size):
        img = img.resize((size, size), Image.LANCZOS, reducing_gap=3.0)
    return np.asarray(img, dtype=np.uint8)


#: EXIF orientation -> the transpose that shows the stored pixels upright (EXIF tag 0x0112)
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}


def decode_file(path: str, size: int, box: Box | None = None) -> np.ndarray | None:
    """Decode ``path`` into (size, size, 3) uint8, or ``None`` when it is not a usable image.

    ``box`` is in the stored pixel grid (as annotation tools read the file). Without a box the
    photo is turned upright by its EXIF orientation, then centre-cropped; with one, the box is
    cropped from the stored grid first and the crop is then turned upright, so rotated photos
    keep their annotations.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EXIF/ICC chatter from odd files is not the user's concern
            with Image.open(path) as img:
                full_w, full_h = img.size
                if img.format == "JPEG":
                    region = square_box(box, full_w, full_h)
                    side = max(1, region[2] - region[0])
                    scale = size / side  # <= 1 when the crop is larger than the target
                    if scale < 1:
                        img.draft("RGB", (max(1, int(full_w * scale)), max(1, int(full_h * scale))))
                if box is None:
                    return square_resize(ImageOps.exif_transpose(img), size)  # exif_transpose loads the pixels
                orientation = img.getexif().get(0x0112)
                img.load()
                # draft() decoded a smaller grid than the one the box was given in
                sx, sy = img.size[0] / full_w, img.size[1] / full_h
                box = (int(box[0] * sx), int(box[1] * sy), int(round(box[2] * sx)), int(round(box[3] * sy)))
                pixels = square_resize(img, size, box)  # (size, size, 3), stored orientation
                if orientation in _UPRIGHT:
                    pixels = np.asarray(Image.fromarray(pixels).transpose(_UPRIGHT[orientation]))
                return pixels
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, ZeroDivisionError, EOFError):
        return None
