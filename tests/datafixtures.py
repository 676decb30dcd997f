"""Small dataset fixtures in the real on-disk layouts (Stanford Dogs, Kaggle dogs, CIFAR-10
python batches, odd image folders) and a local HTTP server for download tests."""

from __future__ import annotations

import http.server
import pickle
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

BREEDS = ("n02085620-Chihuahua", "n02085782-Japanese_spaniel")


def photo(width: int, height: int, seed: int) -> Image.Image:
    """A smooth random RGB picture (gradients plus a blob), like a photo to a JPEG coder."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(width, height)
    base = rng.uniform(0, 255, 3)
    slope = rng.uniform(-200, 200, (2, 3))
    pixels = base + xx[..., None] * slope[0] + yy[..., None] * slope[1]
    cx, cy = rng.uniform(0.2, 0.8, 2)
    pixels += 80 * np.exp(-((xx - cx * width / max(width, height)) ** 2 + (yy - cy) ** 2) * 20)[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def voc(path: Path, breed: str, size: tuple[int, int], boxes: list[tuple[int, int, int, int]]) -> None:
    """A PASCAL VOC annotation as Stanford Dogs ships it (no file extension)."""
    objects = "".join(
        f"<object><name>{breed.split('-', 1)[1]}</name><pose>Unspecified</pose><truncated>0</truncated>"
        f"<difficult>0</difficult><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax>"
        "</bndbox></object>" for x0, y0, x1, y1 in boxes)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<annotation><folder>{breed.split('-')[0]}</folder><filename>{path.name}</filename>"
                    f"<source><database>ImageNet database</database></source><size><width>{size[0]}</width>"
                    f"<height>{size[1]}</height><depth>3</depth></size><segment>0</segment>{objects}</annotation>")


def make_dogs(root: Path, kaggle: bool = False) -> dict:
    """Stanford Dogs in the original layout (or Kaggle's all-dogs/): 2 breeds, 3 photos each.

    Chihuahua _1 holds two dogs, _2 a tiny dog (skipped by min_box) and a normal one; one
    JPEG is corrupt (annotated, so it yields nothing) and one photo has no annotation.
    Returns the expected counts.
    """
    plan = {  # stem -> (size, boxes or None for no annotation)
        f"{BREEDS[0].split('-')[0]}_1": ((200, 150), [(10, 20, 90, 140), (110, 10, 190, 120)]),
        f"{BREEDS[0].split('-')[0]}_2": ((160, 120), [(5, 5, 20, 18), (40, 20, 150, 110)]),
        f"{BREEDS[0].split('-')[0]}_3": ((120, 160), [(10, 10, 110, 150)]),
        f"{BREEDS[1].split('-')[0]}_1": ((180, 180), [(30, 30, 150, 170)]),
        f"{BREEDS[1].split('-')[0]}_2": ((140, 100), None),
        f"{BREEDS[1].split('-')[0]}_3": ((100, 100), [(10, 10, 90, 90)]),
    }
    corrupt = f"{BREEDS[1].split('-')[0]}_3"
    for i, (stem, (size, boxes)) in enumerate(plan.items()):
        breed = next(b for b in BREEDS if b.startswith(stem.split("_")[0]))
        folder = root / ("all-dogs" if kaggle else f"Images/{breed}")
        folder.mkdir(parents=True, exist_ok=True)
        if stem == corrupt:
            (folder / f"{stem}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        else:
            photo(*size, seed=i).save(folder / f"{stem}.jpg", quality=90)
        if boxes is not None:
            voc(root / "Annotation" / breed / stem, breed, size, boxes)
    # 2 + 1 (tiny skipped) + 1 + 1 + 1 (centre crop) + 0 (corrupt) = 6 crops
    return {"crops": 6, "tiny": 1, "corrupt": 1, "per_breed": [4, 2]}


def write_cifar(root: Path, per_batch: int = 20, batches=("data_batch_1", "data_batch_2", "test_batch")) -> Path:
    """CIFAR-10 python batches in torchvision's format (pickled dicts with bytes keys)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for b, name in enumerate(batches):
        labels = [(i + b) % 10 for i in range(per_batch)]
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        data[:, 0] = labels  # red channel of pixel (0, 0) tells the label
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [f"{i}.png".encode() for i in range(per_batch)]}, f, protocol=2)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names, b"num_cases_per_batch": per_batch, b"num_vis": 3072}, f, protocol=2)
    return folder


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    cut_after: dict[str, int] = {}  # path -> bytes sent before the connection drops (once)
    ranges: bool = True
    requests: list = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        body = self.files.get(self.path)
        self.requests.append((self.path, self.headers.get("Range")))
        if body is None:
            self.send_error(404)
            return
        start = 0
        header = self.headers.get("Range")
        if header and self.ranges and header.startswith("bytes="):
            start = int(header[6:].split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cut = self.cut_after.pop(self.path, None)
        self.wfile.write(body[start:cut if cut is not None else None])
        if cut is not None:
            self.wfile.flush()
            self.close_connection = True


@contextmanager
def http_server(files: dict[str, bytes], cut_after: dict[str, int] | None = None, ranges: bool = True):
    """Serve ``files`` (URL path -> bytes) on 127.0.0.1; yields (base URL, request log)."""
    handler = type("Handler", (_Handler,), {"files": dict(files), "cut_after": dict(cut_after or {}),
                                            "ranges": ranges, "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", handler.requests
    finally:
        server.shutdown()
        server.server_close()
