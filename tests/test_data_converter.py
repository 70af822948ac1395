"""The conversion tool: real records read back, bad input skipped or strict, atomic output.

Kill -9 and failed reruns of the converter are in tests/test_faults_data.py.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import scipy.io
import tensorflow as tf
from PIL import Image

from salgan_tf.data import converter
from salgan_tf.data import density
from salgan_tf.data import pipeline
from salgan_tf.data import readers
from salgan_tf.data import schema
from salgan_tf.data import shards

QUIET = dict(progress=False, log=lambda message: None)


def _records(folder):
    return sorted(tf.io.gfile.glob(os.path.join(str(folder), "*.tfrecord")))


def test_osie_records_read_back_exactly(shared_data, tmp_path):
    raw = list(readers.osie.read(str(shared_data / "osie")))[:3]
    manifest = converter.convert("osie", str(shared_data / "osie"), str(tmp_path), limit=3,
                                 num_shards=2, workers=1, **QUIET)
    assert manifest["num_examples"] == 3 and manifest["num_skipped"] == 0
    assert manifest["num_fixations"] == sum(e.num_fixations for e in raw)
    assert [s["file"] for s in manifest["shards"]] == [
        "osie-all-00000-of-00002.tfrecord", "osie-all-00001-of-00002.tfrecord"]
    shards.verify_manifest(str(tmp_path))
    examples = list(pipeline.evaluation_dataset(os.path.join(str(tmp_path), "*.tfrecord")))
    for want, got in zip(raw, examples):
        assert got["name"].numpy().decode() == want.name
        original = np.asarray(Image.open(want.image_path).convert("RGB"))
        np.testing.assert_array_equal(got["image"], tf.io.decode_jpeg(open(want.image_path, "rb")
                                                                      .read()))  # same bytes
        assert got["image"].shape == original.shape
        np.testing.assert_array_equal(got["fixation_rows"], want.fixation_rows)
        np.testing.assert_array_equal(got["fixation_cols"], want.fixation_cols)
        np.testing.assert_array_equal(got["fixation_observers"], want.fixation_observers)
        expected = density.density_map(want.fixation_rows, want.fixation_cols, (600, 800), 24.0)
        np.testing.assert_allclose(got["map"][..., 0], expected, atol=0.5 / 255 + 1e-6)


def test_resize_stores_small_images_but_original_grid_fixations(shared_data, tmp_path):
    converter.convert("sun500", str(shared_data / "scene_sun500"), str(tmp_path), limit=2,
                      resize=(192, 256), workers=1, **QUIET)
    for serialized in tf.data.TFRecordDataset(_records(tmp_path)):
        parsed = schema.parse_example(serialized)
        assert (int(parsed["height"]), int(parsed["width"])) == (192, 256)
        assert int(parsed["fixation_rows"].numpy().max()) < int(parsed["original_height"])
        assert pipeline.decode_map(parsed["map"]).shape == (192, 256, 1)
    batch = next(iter(pipeline.make_dataset(_records(tmp_path), batch_size=2)))
    assert batch["image"].shape == (2, 192, 256, 3)


def _write_bad_inputs(root):
    """A SALICON 2017 layout with one good image and one of each kind of bad input."""
    for folder in ("images", "maps", "fixations"):
        (root / folder / "train").mkdir(parents=True)
    rgb = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    gaze = np.empty((1, 1), dtype=[("location", "O"), ("timestamp", "O"), ("fixations", "O")])

    def add(stem, image_writer, map_size=(24, 32), fixations=((3, 4),), extension=".jpg"):
        image_writer(root / "images" / "train" / f"{stem}{extension}")
        if map_size is not None:
            Image.fromarray(np.full(map_size, 200, np.uint8)).save(
                root / "maps" / "train" / f"{stem}.png")
        gaze[0, 0] = (np.zeros((0, 2)), np.zeros((0, 1)), np.asarray(fixations, np.float64))
        scipy.io.savemat(str(root / "fixations" / "train" / f"{stem}.mat"),
                         {"resolution": np.array([[24, 32]]), "gaze": gaze})

    add("a_good", lambda p: Image.fromarray(rgb).save(p))
    add("b_cmyk", lambda p: Image.fromarray(rgb).convert("CMYK").save(p))
    add("c_gray", lambda p: Image.fromarray(rgb).convert("L").save(p))
    add("d_png16", lambda p: Image.fromarray(np.full((24, 32), 40000, np.uint16)).save(p),
        extension=".png")
    add("e_truncated", lambda p: p.write_bytes((root / "images" / "train" / "a_good.jpg")
                                               .read_bytes()[:300]))
    add("f_empty", lambda p: p.write_bytes(b""))
    add("g_map_size", lambda p: Image.fromarray(rgb).save(p), map_size=(12, 16))
    add("h_outside", lambda p: Image.fromarray(rgb).save(p), fixations=((3, 4), (40, 5)))
    add("i_no_map", lambda p: Image.fromarray(rgb).save(p), map_size=None)
    return {"e_truncated": "cannot decode", "f_empty": "empty file",
            "g_map_size": "map is 12x16", "h_outside": "fixations outside the 24x32 image",
            "i_no_map": "missing file"}


def test_bad_input_is_skipped_and_counted(tmp_path):
    expected_errors = _write_bad_inputs(tmp_path / "in")
    manifest = converter.convert("salicon2017", str(tmp_path / "in"), str(tmp_path / "out"),
                                 split="train", workers=1, **QUIET)
    assert manifest["num_examples"] == 4 and manifest["num_skipped"] == 5
    skipped = {s["name"]: s["error"] for s in manifest["skipped"]}
    assert set(skipped) == set(expected_errors)
    for name, fragment in expected_errors.items():
        assert fragment in skipped[name]
        assert name in skipped[name]  # the message names the file
    names = [schema.parse_example(s)["name"].numpy().decode()
             for s in tf.data.TFRecordDataset(_records(tmp_path / "out"))]
    assert names == ["a_good", "b_cmyk", "c_gray", "d_png16"]
    on_disk = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert on_disk["num_skipped"] == 5


def test_strict_stops_and_leaves_no_shard(tmp_path):
    _write_bad_inputs(tmp_path / "in")
    with pytest.raises(converter.ConversionError, match="e_truncated.jpg: cannot decode"):
        converter.convert("salicon2017", str(tmp_path / "in"), str(tmp_path / "out"),
                          split="train", strict=True, num_shards=3, workers=1, **QUIET)
    assert sorted(os.listdir(tmp_path)) == ["in"]  # no output folder, no staging folder


def test_parallel_workers_give_the_same_records(tmp_path):
    _write_bad_inputs(tmp_path / "in")
    converter.convert("salicon2017", str(tmp_path / "in"), str(tmp_path / "one"), split="train",
                      workers=1, **QUIET)
    converter.convert("salicon2017", str(tmp_path / "in"), str(tmp_path / "two"), split="train",
                      workers=2, **QUIET)
    one = json.loads((tmp_path / "one" / "manifest.json").read_text())["shards"]
    two = json.loads((tmp_path / "two" / "manifest.json").read_text())["shards"]
    assert [s["sha256"] for s in one] == [s["sha256"] for s in two]


def test_crash_mid_shard_leaves_no_half_shard(tmp_path, monkeypatch):
    """Simulated crash (an exception from inside the writer loop) while writing shard 2 of 3."""
    _write_bad_inputs(tmp_path / "in")
    calls = {"n": 0}
    real = schema.serialize_example

    def crashing(**fields):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated kill")
        return real(**fields)

    monkeypatch.setattr(schema, "serialize_example", crashing)
    with pytest.raises(KeyboardInterrupt):
        converter.convert("salicon2017", str(tmp_path / "in"), str(tmp_path / "out"),
                          split="train", num_shards=3, workers=1, **QUIET)
    assert sorted(os.listdir(tmp_path)) == ["in"]  # neither shards nor staging nor manifest


def test_killed_writer_never_leaves_a_shard_under_its_real_name(tmp_path):
    """SIGKILL (no Python cleanup at all) while a shard is being written."""
    target = tmp_path / "x-00000-of-00001.tfrecord"
    script = textwrap.dedent(f"""
        import sys, time
        from salgan_tf.data import shards
        def slow():
            for i in range(1000):
                yield b"record %d" % i
                if i == 2:
                    print("writing", flush=True)
                time.sleep(0.05)
        shards.write_shard({str(target)!r}, slow())
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    try:
        assert process.stdout.readline().strip() == b"writing"
        time.sleep(0.2)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert not target.exists()
    leftovers = os.listdir(tmp_path)  # only the hidden temporary file: no real name
    assert len(leftovers) == 1 and leftovers[0].startswith(".tmp-")


def test_manifest_detects_a_changed_shard(tmp_path):
    from salgan_tf.data import synthetic
    paths = synthetic.write_synthetic_tfrecords(str(tmp_path), 2, 16, 16, num_shards=1)
    shards.verify_manifest(str(tmp_path))
    with open(paths[0], "ab") as handle:
        handle.write(b"x")
    with pytest.raises(shards.ManifestError, match="changed since it was written"):
        shards.verify_manifest(str(tmp_path))


def test_resize_flag_is_width_by_height():
    assert converter.parse_resize("256x192") == (192, 256)
    assert converter.parse_resize(None) is None
    with pytest.raises(ValueError, match="WxH"):
        converter.parse_resize("256")


def test_cli_reports_skips_in_its_exit_status(tmp_path):
    """`python -m salgan_tf.convert` end to end (a subprocess: the CLI defines absl flags)."""
    _write_bad_inputs(tmp_path / "in")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-m", "salgan_tf.convert", "--dataset=salicon2017",
         f"--input={tmp_path / 'in'}", f"--output={tmp_path / 'out'}", "--split=train",
         "--resize=32x16", "--workers=1", "--noprogress"],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "e_truncated.jpg: cannot decode" in result.stderr
    assert "wrote 4 examples" in result.stderr and "skipped 5 bad input" in result.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["resize"] == [16, 32] and manifest["num_examples"] == 4
    strict = subprocess.run(
        [sys.executable, "-m", "salgan_tf.convert", "--dataset=salicon2017",
         f"--input={tmp_path / 'in'}", f"--output={tmp_path / 'strict'}", "--split=train",
         "--workers=1", "--noprogress", "--strict"],
        capture_output=True, text=True, env=env, timeout=300)
    assert strict.returncode == 1 and "--strict: stopped at bad input" in strict.stderr
    assert not (tmp_path / "strict").exists()
