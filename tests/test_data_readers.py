"""Readers: each on the real files in ../shared/data, or a synthetic fixture of the documented
layout where no real file exists (SALICON 2017, CAT2000)."""
import json

import numpy as np
import pytest
import scipy.io
from PIL import Image

from salgan_tf.data import readers
from salgan_tf.data.readers import common


def _collect(reader, root, *args):
    return list(reader.read(str(root), *args))


# --------------------------------------------------------------------------- real data

def test_osie_reads_all_98321_fixations_in_the_osie_convention(shared_data):
    root = shared_data / "osie"
    examples = _collect(readers.osie, root)
    assert len(examples) == 700
    assert [e.name for e in examples[:2]] == ["1001", "1002"] and examples[-1].name == "1700"
    assert sum(e.num_fixations for e in examples) == 98321
    for e in examples:
        assert e.fixation_rows.min() >= 0 and e.fixation_rows.max() < 600
        assert e.fixation_cols.min() >= 0 and e.fixation_cols.max() < 800
        assert set(np.unique(e.fixation_observers)) <= set(range(15))
        assert e.sigma == 24.0 and e.map_path is None
    # image 1001, subject 1, by hand from the .mat: col = clip(round(x), 1, 800) - 1
    mat = scipy.io.loadmat(str(root / "data" / "eye" / "fixations.mat"))
    subject = mat["fixations"][0, 0][0, 0]["subjects"][0, 0][0, 0]
    xs, ys = subject["fix_x"].ravel(), subject["fix_y"].ravel()
    first = examples[0]
    mine = first.fixation_observers == 0
    np.testing.assert_array_equal(first.fixation_cols[mine],
                                  np.clip(np.floor(xs + 0.5), 1, 800) - 1)
    np.testing.assert_array_equal(first.fixation_rows[mine],
                                  np.clip(np.floor(ys + 0.5), 1, 600) - 1)
    assert examples[0].image_path.endswith("data/stimuli/1001.jpg")


def test_osie_test_split_is_1001_to_1100_and_train_the_rest(shared_data):
    root = shared_data / "osie"
    test = [e.name for e in _collect(readers.osie, root, "test")]
    train = [e.name for e in _collect(readers.osie, root, "train")]
    assert test == [str(i) for i in range(1001, 1101)]
    assert train == [str(i) for i in range(1101, 1701)]


def test_sun500_reads_500_images_of_many_sizes(shared_data):
    root = shared_data / "scene_sun500"
    examples = _collect(readers.sun500, root)
    assert len(examples) == 500
    assert sum(e.num_fixations for e in examples) == 43894
    sizes = {e.image_size for e in examples}
    assert len(sizes) == 130 and (2736, 3648) in sizes
    for e in examples:
        h, w = e.image_size
        assert 0 <= e.fixation_rows.min() and e.fixation_rows.max() < h
        assert 0 <= e.fixation_cols.min() and e.fixation_cols.max() < w
        assert e.fixation_observers.max() < 12
    # metadata sizes are the JPEG sizes (header only, a few images)
    for e in examples[::97]:
        assert common.image_size_of(e.image_path) == e.image_size
    subjects = [len(np.unique(e.fixation_observers)) for e in examples]
    assert subjects.count(12) == 450 and subjects.count(11) == 48 and subjects.count(10) == 2


def test_salicon2015_json_rows_cols_one_based(shared_data):
    root = shared_data / "salicon_api_examples"
    assert readers.salicon2015.available_splits(str(root)) == ["train2014examples"]
    examples = _collect(readers.salicon2015, root)
    assert len(examples) == 10
    assert sum(e.num_fixations for e in examples) == 73630
    data = json.loads((root / "annotations" / "fixations_train2014examples.json").read_text())
    image = sorted(data["images"], key=lambda im: im["file_name"])[0]
    annotations = [a for a in data["annotations"] if a["image_id"] == image["id"]]
    first = examples[0]
    assert first.name == image["file_name"][:-4] and first.image_size == (480, 640)
    worker = annotations[0]["worker_id"]
    mine = first.fixation_observers == worker
    points = np.concatenate([np.asarray(a["fixations"]).reshape(-1, 2) for a in annotations
                             if a["worker_id"] == worker])
    np.testing.assert_array_equal(first.fixation_rows[mine], points[:, 0] - 1)
    np.testing.assert_array_equal(first.fixation_cols[mine], points[:, 1] - 1)
    assert len(np.unique(first.fixation_observers)) == len(annotations)
    assert all(e.sigma == 19.0 for e in examples)
    with pytest.raises(common.BadInputError, match="missing SALICON annotation file"):
        _collect(readers.salicon2015, root, "val2014")


def test_mit1003_maps_and_fixation_locations(shared_data):
    root = shared_data / "mit1003_subset_cvzoya"
    examples = {e.name: e for e in _collect(readers.mit1003, root)}
    assert len(examples) == 11
    i210 = examples.pop("i210")
    assert i210.num_fixations == 259 and i210.map_path.endswith("FIXATIONMAPS/i210.jpg")
    binary = scipy.io.loadmat(str(root / "code_forVisualization" / "demo_ims" / "FIXATIONLOCS" /
                                  "i210.mat"))["fixations"]
    assert binary[i210.fixation_rows, i210.fixation_cols].all()
    for name, e in examples.items():
        assert e.num_fixations == 0
        assert e.map_path.endswith(f"ALLFIXATIONMAPSICCV/{name}.jpg")
        with Image.open(e.map_path) as m, Image.open(e.image_path) as im:
            assert m.size == im.size


# --------------------------------------------------------------------------- synthetic layouts

def _jpeg(path, height, width, value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height, width, 3), value, np.uint8)).save(path)


def _gaze(observers):
    gaze = np.empty((len(observers), 1), dtype=[("location", "O"), ("timestamp", "O"),
                                                 ("fixations", "O")])
    for i, fixations in enumerate(observers):
        gaze[i, 0] = (np.asarray(fixations, np.float64) * 1.0, np.zeros((1, 1)),
                      np.asarray(fixations, np.float64))
    return gaze


def make_salicon2017(root, split="train"):
    """Two 24x32 images in the SALICON 2017 layout; returns the expected fixations."""
    for stem in ("COCO_a", "COCO_b"):
        _jpeg(root / "images" / split / f"{stem}.jpg", 24, 32)
        (root / "maps" / split).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((24, 32), np.uint8)).save(root / "maps" / split / f"{stem}.png")
    (root / "fixations" / split).mkdir(parents=True, exist_ok=True)
    # [x, y], 1-based: observer 0 looks at x=1,y=1 and x=32,y=24; observer 1 at x=5,y=10
    scipy.io.savemat(str(root / "fixations" / split / "COCO_a.mat"), {
        "image": "COCO_a", "resolution": np.array([[24, 32]], np.float64),
        "gaze": _gaze([[[1, 1], [32, 24]], [[5, 10]]])})
    scipy.io.savemat(str(root / "fixations" / split / "COCO_b.mat"), {
        "image": "COCO_b", "resolution": np.array([[24, 32]], np.float64),
        "gaze": _gaze([[[3, 4]]])})


def test_salicon2017_gaze_structs_are_x_y(tmp_path):
    make_salicon2017(tmp_path)
    a, b = _collect(readers.salicon2017, tmp_path, "train")
    assert a.name == "COCO_a" and a.image_size == (24, 32)
    np.testing.assert_array_equal(a.fixation_rows, [0, 23, 9])
    np.testing.assert_array_equal(a.fixation_cols, [0, 31, 4])
    np.testing.assert_array_equal(a.fixation_observers, [0, 0, 1])
    assert a.map_path.endswith("maps/train/COCO_a.png")
    np.testing.assert_array_equal(b.fixation_rows, [3])
    # a broken .mat becomes an example with an error naming the file, not a crash
    (tmp_path / "fixations" / "train" / "COCO_b.mat").write_bytes(b"not a mat file")
    _, broken = _collect(readers.salicon2017, tmp_path, "train")
    assert "COCO_b.mat" in broken.error
    with pytest.raises(ValueError, match="splits"):
        _collect(readers.salicon2017, tmp_path, "test")


def make_cat2000(root):
    """Action/001, Action/002 and Art/001 at 18x30 in the CAT2000 trainSet layout."""
    for category, stem in (("Action", "001"), ("Action", "002"), ("Art", "001")):
        _jpeg(root / "trainSet" / "Stimuli" / category / f"{stem}.jpg", 18, 30)
        _jpeg(root / "trainSet" / "FIXATIONMAPS" / category / f"{stem}.jpg", 18, 30, 0)
        locations = np.zeros((18, 30), np.uint8)
        locations[2, 3] = locations[17, 29] = 1
        (root / "trainSet" / "FIXATIONLOCS" / category).mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(str(root / "trainSet" / "FIXATIONLOCS" / category / f"{stem}.mat"),
                         {"fixLocs": locations})


def test_cat2000_layout(tmp_path):
    make_cat2000(tmp_path)
    examples = _collect(readers.cat2000, tmp_path)
    assert [e.name for e in examples] == ["Action_001", "Action_002", "Art_001"]
    np.testing.assert_array_equal(examples[0].fixation_rows, [2, 17])
    np.testing.assert_array_equal(examples[0].fixation_cols, [3, 29])
    np.testing.assert_array_equal(examples[0].fixation_observers, [-1, -1])
    assert examples[2].map_path.endswith("FIXATIONMAPS/Art/001.jpg")
    # the trainSet folder itself works too
    assert len(_collect(readers.cat2000, tmp_path / "trainSet")) == 3


def test_one_based_conversion_clips_half_a_pixel_only():
    index = common.one_based_to_index([0.4, 0.62, 1.0, 1.49, 10.4, 10.6, 12.0], 10)
    np.testing.assert_array_equal(index, [0, 0, 0, 0, 9, 9, 11])  # 12.0 stays outside


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(ValueError, match="known: .*osie"):
        readers.get_reader("imagenet")
