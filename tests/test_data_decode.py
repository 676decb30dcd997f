"""Decoding: odd image modes converted, bad files give None, crops squared inside the photo."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from datafixtures import photo
from ganzoo.data.decode import decode_file, square_box, to_rgb


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "1", "CMYK", "P", "I;16", "I", "F"])
def test_every_mode_becomes_rgb_uint8(tmp_path, mode):
    img = photo(40, 30, seed=1)
    if mode == "I;16":
        grey = np.asarray(img.convert("L"), dtype=np.uint16) * 257  # full 16-bit range
        img = Image.fromarray(grey)
    elif mode in ("I", "F"):
        img = img.convert("L").convert(mode)
    else:
        img = img.convert(mode)
    suffix = ".tif" if mode in ("CMYK", "F", "I") else ".png"
    path = tmp_path / f"x{suffix}"
    img.save(path)
    out = decode_file(str(path), 16)
    assert out is not None and out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert out.std() > 0  # not flattened to one colour (16-bit is scaled, not clipped to white)


def test_sixteen_bit_is_scaled_not_clipped():
    grey = np.full((8, 8), 32768, dtype=np.uint16)  # mid-grey in 16 bits
    out = np.asarray(to_rgb(Image.fromarray(grey)))
    assert abs(int(out[0, 0, 0]) - 128) <= 1


def test_transparency_is_composited_on_white():
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    assert tuple(np.asarray(to_rgb(rgba))[0, 0]) == (255, 255, 255)


@pytest.mark.parametrize("content", [b"", b"plain text, not an image", None])
def test_bad_files_give_none(tmp_path, content):
    path = tmp_path / "bad.jpg"
    if content is None:  # a truncated JPEG: the first third of a real one
        photo(64, 64, seed=2).save(path, quality=90)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    else:
        path.write_bytes(content)
    assert decode_file(str(path), 16) is None
    assert decode_file(str(tmp_path / "missing.jpg"), 16) is None


def test_square_box_stays_inside_the_photo():
    assert square_box(None, 200, 100) == (50, 0, 150, 100)  # centre crop
    assert square_box((0, 0, 40, 20), 200, 100) == (0, 0, 40, 40)  # squared, shifted inside
    x0, y0, x1, y1 = square_box((150, 10, 199, 90), 200, 100)  # tall box at the right edge
    assert x1 <= 200 and x1 - x0 == y1 - y0 == 80


def test_jpeg_draft_decoding_matches_full_decoding(tmp_path):
    """The fast path (libjpeg scaling while decoding) gives nearly the same crop as a full decode."""
    path = tmp_path / "big.jpg"
    photo(800, 600, seed=3).save(path, quality=95)
    box = (100, 100, 500, 500)
    fast = decode_file(str(path), 32, box).astype(int)
    with Image.open(path) as img:
        full = np.asarray(img.convert("RGB").crop(square_box(box, 800, 600)).resize((32, 32), Image.LANCZOS)).astype(int)
    assert np.abs(fast - full).mean() < 4


def _rotated_jpeg(path, orientation):
    """A 120x80 stored JPEG: red, with a green 20x20 square in its stored top-left corner,
    tagged with an EXIF orientation (6: a viewer turns it 90 degrees clockwise)."""
    stored = np.zeros((80, 120, 3), np.uint8)
    stored[...] = (220, 30, 30)
    stored[:20, :20] = (30, 220, 30)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(path, quality=95, exif=exif)


def _is_green(pixels):  # mean colour of a region, (H, W, 3)
    r, g, _ = pixels.reshape(-1, 3).mean(axis=0)
    return g > 150 and r < 100


def test_exif_rotated_photo_is_shown_upright(tmp_path):
    stored = np.full((80, 120, 3), (220, 30, 30), np.uint8)
    stored[:20] = (30, 220, 30)  # a green band along the stored top edge
    exif = Image.Exif()
    exif[0x0112] = 6  # turned 90 degrees clockwise, the band is the right edge of an 80x120 photo
    Image.fromarray(stored).save(tmp_path / "rotated.jpg", quality=95, exif=exif)
    out = decode_file(str(tmp_path / "rotated.jpg"), 16)  # centre square of the upright photo
    assert _is_green(out[:, -2:]) and not _is_green(out[:2, :])


@pytest.mark.parametrize("orientation, green_corner", [(1, (0, 0)), (6, (0, 1)), (3, (1, 1)), (8, (1, 0))])
def test_annotated_box_is_cut_from_the_stored_grid_then_turned_upright(tmp_path, orientation, green_corner):
    # Annotation tools read the stored pixels, so the box (0, 0, 40, 40) holds the green square
    # in its top-left corner whatever the tag says; upright, that corner moves with the rotation.
    path = tmp_path / f"o{orientation}.jpg"
    _rotated_jpeg(path, orientation)
    out = decode_file(str(path), 16, box=(0, 0, 40, 40))
    quadrants = {(i, j): out[i * 8:(i + 1) * 8, j * 8:(j + 1) * 8] for i in (0, 1) for j in (0, 1)}
    assert [q for q, pixels in quadrants.items() if _is_green(pixels)] == [green_corner]


def test_float_images_in_zero_one_are_scaled_to_full_range(tmp_path):
    ramp = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))  # (32, 32) in [0, 1]
    Image.fromarray(ramp).save(tmp_path / "ramp.tif")
    out = decode_file(str(tmp_path / "ramp.tif"), 32)
    assert out[:, 0].max() <= 1 and out[:, -1].min() >= 254  # black to white, not black to 1/255
