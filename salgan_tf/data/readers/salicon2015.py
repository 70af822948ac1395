"""SALICON 2015 (v1.0) reader: COCO-style JSON with mouse "fixations" per AMT worker.

Layout (salicon-api; ../shared/data/salicon_api_examples/README.md):
`<root>/annotations/fixations_<split>.json` and the images under `<root>/images/<split>/` (or
`<root>/images/`). JSON: `images[]` (id, file_name, width, height) and `annotations[]` (image_id,
worker_id, fixations: list of **[row, col]**, 1-based integers). Observer id = worker_id.
Maps are made from fixations with sigma = 19 px (the salicon-api `gaussian_filter(sigma=19)`).
Splits are the annotation files found, e.g. `train2014`, `val2014`, `train2014examples`.
"""
import glob
import json
import os

import numpy as np

from salgan_tf.data.readers import common

NAME = "salicon2015"
SIGMA_PX = 19.0


def available_splits(input_dir):
    """Split names from `annotations/fixations_<split>.json` files."""
    pattern = os.path.join(input_dir, "annotations", "fixations_*.json")
    return sorted(os.path.basename(p)[len("fixations_"):-len(".json")]
                  for p in glob.glob(pattern))


def read(input_dir, split=None):
    """Yields one `RawExample` per image of the split (default: the only split present)."""
    splits = available_splits(input_dir)
    if split is None:
        if len(splits) != 1:
            raise ValueError(f"{input_dir}: choose --split from {splits}")
        split = splits[0]
    json_path = os.path.join(input_dir, "annotations", f"fixations_{split}.json")
    common.require(json_path, f"SALICON annotation file (splits found: {splits})")
    try:
        with open(json_path) as handle:
            data = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise common.BadInputError(f"{json_path}: invalid JSON ({error})") from error
    if data.get("type", "fixations") != "fixations" or "annotations" not in data:
        raise common.BadInputError(f"{json_path}: not a SALICON fixations annotation file")
    image_dir = common.find_dir(input_dir, os.path.join("images", split), "images") or input_dir
    points = {}
    for annotation in data["annotations"]:
        fixations = np.asarray(annotation["fixations"], np.int64).reshape(-1, 2)
        points.setdefault(annotation["image_id"], []).append(
            (fixations, int(annotation.get("worker_id", -1))))
    for image in sorted(data["images"], key=lambda im: im["file_name"]):
        height, width = int(image["height"]), int(image["width"])
        entries = points.get(image["id"], [])
        rows = [common.one_based_to_index(f[:, 0], height) for f, _ in entries]
        cols = [common.one_based_to_index(f[:, 1], width) for f, _ in entries]
        observers = [np.full(len(f), worker) for f, worker in entries]
        yield common.make_example(
            os.path.splitext(image["file_name"])[0], os.path.join(image_dir, image["file_name"]),
            np.concatenate(rows) if rows else [], np.concatenate(cols) if cols else [],
            np.concatenate(observers) if observers else [], sigma=SIGMA_PX,
            image_size=(height, width))
