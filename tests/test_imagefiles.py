"""One image-folder walker for the folder dataset and for ganzoo eval's folders."""

import numpy as np
from PIL import Image

import ganzoo
from ganzoo.eval.sources import open_source


def test_the_folder_dataset_and_eval_read_the_same_files(tmp_path, registry):
    root = tmp_path / "imgs"
    (root / "sub").mkdir(parents=True)
    (root / ".hidden").mkdir()
    rgb = Image.fromarray(np.zeros((8, 8, 3), np.uint8))
    for name, mode, fmt in [("a.png", "RGB", "PNG"), ("b.JPE", "RGB", "JPEG"), ("sub/c.pgm", "L", "PPM"),
                            ("sub/d.PBM", "1", "PPM"), (".e.png", "RGB", "PNG"), (".hidden/f.png", "RGB", "PNG")]:
        rgb.convert(mode).save(root / name, format=fmt)
    (root / "notes.txt").write_text("not an image")
    expected = [str(root / n) for n in ("a.png", "b.JPE", "sub/c.pgm", "sub/d.PBM")]
    assert ganzoo.find_images(root) == expected
    assert all(p.lower().endswith(ganzoo.IMAGE_EXTENSIONS) for p in expected)
    from ganzoo import DatasetRequest

    loaded = registry.dataset("folder").load(DatasetRequest(data_dir=root, image_size=8, params={"labels": False}))
    assert [f.path for f in loaded.files] == expected
    source = open_source(root, num=None, seed=0, device="cpu", batch_size=8, progress=False)
    assert sum(len(b) for b in source.batches(8)) == 4  # eval reads the .jpe and .pgm/.pbm files too
