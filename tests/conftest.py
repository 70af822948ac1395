"""Shared pytest fixtures: real-data folders, tiny synthetic records, training batches and the
tiny test model (exported once per session).

Tests get the helpers as fixtures. A script that a test runs in a subprocess (outside pytest,
e.g. tests/distributed_helpers.py) may import the plain functions from this module.

The test model: the real SalGAN generator at a tiny size (32x32 or 64x48) with fixed seeds. An
untrained VGG stack shrinks its activations layer after layer (logit std ~1e-4 here), so its map
is constant to 4 decimals and useless for checking int8 fidelity. `tiny_generator` therefore
rescales the last 1x1 conv (`saliency_logits`) so that, on seeded synthetic images, the logits
have mean 0 and std 2: the map then spans [0, 1] (std ~0.3 per image) and depends on the image
through the whole network. Deterministic: same seed, same weights, same map.
"""
import ctypes
import functools
import io
import os
import pathlib
import shutil
import struct
import types
import zlib

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY_RECORDS_SHAPE = (32, 48)  # (H, W) of the `records` fixture's images


def shared_data_root():
    """Returns the real-data folder: `$SALGAN_DATA`, else `../shared/data` beside the repo."""
    env = os.environ.get("SALGAN_DATA")
    return pathlib.Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data():
    """Path to ../shared/data (or $SALGAN_DATA); skips the test with the reason when absent."""
    root = shared_data_root()
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (set SALGAN_DATA to the shared/data folder)")
    return root


@pytest.fixture(scope="session")
def osie_dir():
    """The OSIE folder of the real data; skips the test with the reason when absent."""
    root = shared_data_root() / "osie"
    if not root.is_dir():
        pytest.skip(f"OSIE not found at {root} (set SALGAN_DATA to the shared/data folder)")
    return root


@pytest.fixture(scope="session")
def records(tmp_path_factory):
    """Glob of 4 tiny synthetic TFRecord examples (32x48, seed 3, 2 shards) with images, maps
    and fixations: the evaluate and report tests' data."""
    from salgan_tf.data import synthetic

    out = tmp_path_factory.mktemp("records")
    synthetic.write_synthetic_tfrecords(str(out), n=4, height=TINY_RECORDS_SHAPE[0],
                                        width=TINY_RECORDS_SHAPE[1], seed=3, num_shards=2)
    return str(out / "synthetic-*.tfrecord")


# --------------------------------------------------------------------------- training batches


def read_epoch_log(run_dir):
    """The per-epoch records of a training run's `epochs.jsonl` (one dict per finished epoch)."""
    import json
    with open(pathlib.Path(run_dir) / "epochs.jsonl") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(name="read_epoch_log")
def read_epoch_log_fixture():
    """`read_epoch_log(run_dir)`: the records of a run's epochs.jsonl, as users read them."""
    return read_epoch_log


def train_batch(size, n=2, seed=0):
    """A training batch of `n` random images at `size` (H, W): {"image": float32 [n, H, W, 3]
    ~N(0, 60) (caffe-preprocessed scale), "map": float32 [n, H, W, 1] in [0, 1], "map_small":
    the maps downsampled as the discriminator sees them}."""
    import tensorflow as tf

    from salgan_tf.data import maps as maps_lib

    rng = np.random.default_rng(seed)
    maps = rng.uniform(size=(n, *size, 1)).astype("float32")
    return {"image": tf.constant(rng.normal(0, 60, (n, *size, 3)), tf.float32),
            "map": tf.constant(maps), "map_small": maps_lib.downsample_maps(maps)}


@pytest.fixture(scope="session", name="train_batch")
def train_batch_fixture():
    """`train_batch(size, n=2, seed=0)`, the one synthetic training batch of the step tests."""
    return train_batch


# --------------------------------------------------------------------------- images


def random_rgb(height, width, seed=0):
    """uint8 `[H, W, 3]` uniform noise."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def encode(array, fmt="PNG", **save_options):
    """Encoded image bytes of a uint8 array (`save_options` go to PIL, e.g. quality, exif)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt, **save_options)
    return buffer.getvalue()


def blank_png(height, width):
    """A valid 1-bit grayscale PNG of any size, written row by row (12000x12000 is ~20 kB)."""
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))

    compressor = zlib.compressobj(9)
    row = b"\x00" + bytes((width + 7) // 8)  # filter byte "None" + packed bits
    rows_per_piece = max(1, 2**20 // len(row))
    pieces = []
    for start in range(0, height, rows_per_piece):
        pieces.append(compressor.compress(row * min(rows_per_piece, height - start)))
    pieces.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(pieces))
            + chunk(b"IEND", b""))


def smooth_images(count, size, seed=0):
    """float32 `[count, H, W, 3]` RGB 0-255: upsampled 4x4 noise (smooth, image-like)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, (count, 4, 4, 3)).astype(np.float32)
    return np.clip(tf.image.resize(low, size, method="bicubic").numpy(), 0, 255)


# --------------------------------------------------------------------------- serving


def brightness_network(batch):
    """Fake network: float32 [N, h, w, 3] RGB 0-255 -> [N, h, w] mean brightness in [0, 1]."""
    return np.asarray(batch, np.float32).mean(axis=-1) / 255.0


def held_network(started, release):
    """Fake network that sets the Event `started`, then answers zeros once `release` is set:
    holds a prediction in flight for as long as a serving test needs."""
    def network(batch):
        started.set()
        assert release.wait(60), "the test never released the prediction"
        return np.zeros(np.shape(batch)[:3], np.float32)

    return network


FAKE_NETWORK_SIZE = (32, 48)  # (h, w) of `fake_predictor`'s network input


def fake_predictor(network=brightness_network, resize_mode="stretch"):
    """A real `inference.Predictor` (real resizing both ways) around a fake `network`, by default
    `brightness_network`: each serving test can tell where the map's bright side should be."""
    from salgan_tf import inference

    return inference.Predictor(network, kind="fake", path="/models/fake",
                               image_size=FAKE_NETWORK_SIZE, resize_mode=resize_mode,
                               batch_size=4)


@pytest.fixture(scope="session", name="fake_predictor")
def fake_predictor_fixture():
    """`fake_predictor(network=brightness_network, resize_mode="stretch")`."""
    return fake_predictor


# --------------------------------------------------------------------------- the test model


def tiny_generator(image_size=(32, 32), seed=0):
    """The SalGAN generator at `image_size` with a non-degenerate output (module docstring)."""
    import keras

    from salgan_tf import generator as generator_lib
    from salgan_tf import preprocessing

    keras.utils.set_random_seed(seed)
    generator = generator_lib.build_generator(image_size)
    layer = generator.get_layer(generator_lib.OUTPUT_LOGITS_LAYER)
    logits = keras.Model(generator.input, layer.output)(
        preprocessing.vgg_preprocess(smooth_images(8, image_size, seed))).numpy()
    kernel, bias = layer.get_weights()
    scale = 2.0 / logits.std()
    layer.set_weights([kernel * scale, (bias - logits.mean()) * scale])
    return generator


def keras_saliency(generator, rgb_at_network_size):
    """Reference: the Keras generator on caffe-preprocessed RGB, `[N, h, w, 1]` numpy."""
    from salgan_tf import preprocessing

    return generator(preprocessing.vgg_preprocess(rgb_at_network_size), training=False).numpy()


def write_training_run(run_dir, generator, resize_mode="stretch"):
    """A training output dir (config.json + checkpoints/ckpt-1) holding `generator`."""
    import tensorflow as tf

    from salgan_tf import config as config_lib

    height, width = generator.input_shape[1:3]
    config_lib.save(config_lib.TrainConfig(output_dir=run_dir, image_height=height,
                                           image_width=width, resize_mode=resize_mode), run_dir)
    tf.train.CheckpointManager(tf.train.Checkpoint(generator=generator),
                               os.path.join(run_dir, "checkpoints"), 1).save()
    return run_dir


class _ExportedModels:
    """The (slow-ish) exported test models, each built once per session under `work_dir`."""

    def __init__(self, work_dir):
        self.work_dir = work_dir

    def exported_model(self, image_size=(32, 32), resize_mode="stretch", max_pixels=2_000_000):
        """`(generator, training run dir, SavedModel version dir)` of `tiny_generator`."""
        return self._exported_model(tuple(image_size), resize_mode, max_pixels)

    @functools.lru_cache(maxsize=None)
    def _exported_model(self, image_size, resize_mode, max_pixels):
        from salgan_tf.export import saved_model as saved_model_lib

        generator = tiny_generator(image_size)
        name = f"{image_size[0]}x{image_size[1]}_{resize_mode}_{max_pixels}"
        run_dir = write_training_run(os.path.join(self.work_dir, "run_" + name), generator,
                                     resize_mode)
        version_dir = saved_model_lib.export_saved_model(
            generator, os.path.join(self.work_dir, "model_" + name, "1"),
            resize_mode=resize_mode, max_pixels=max_pixels)
        return generator, run_dir, version_dir

    @functools.lru_cache(maxsize=None)
    def loaded(self, version_dir):
        """`tf.saved_model.load(version_dir)`, once per session."""
        import tensorflow as tf

        return tf.saved_model.load(version_dir)


@pytest.fixture(scope="session")
def util(tmp_path_factory):
    """The image and test-model helpers of the export / inference / predict / serve tests:
    `random_rgb`, `encode`, `blank_png`, `smooth_images`, `held_network`, `tiny_generator`, `keras_saliency`,
    `write_training_run`, and `exported_model(image_size=(32, 32), resize_mode="stretch",
    max_pixels=2_000_000)` / `loaded(version_dir)`, cached for the session. The exported models
    (~125 MB each) are deleted when the session ends."""
    work_dir = tmp_path_factory.mktemp("exported_models")
    models = _ExportedModels(str(work_dir))
    yield types.SimpleNamespace(
        random_rgb=random_rgb, encode=encode, blank_png=blank_png, smooth_images=smooth_images,
        held_network=held_network,
        tiny_generator=tiny_generator, keras_saliency=keras_saliency,
        write_training_run=write_training_run, exported_model=models.exported_model,
        loaded=models.loaded)
    shutil.rmtree(work_dir, ignore_errors=True)


class FileOpens:
    """Counts open() calls on the files of one folder, from any thread or library (TensorFlow's
    C++ readers included), with Linux inotify (IN_OPEN)."""

    IN_OPEN = 0x20

    def __init__(self, folder):
        libc = ctypes.CDLL(None, use_errno=True)
        self._fd = libc.inotify_init1(os.O_NONBLOCK)
        if self._fd < 0 or libc.inotify_add_watch(self._fd, os.fsencode(folder),
                                                  self.IN_OPEN) < 0:
            pytest.skip(f"inotify unavailable (errno {ctypes.get_errno()})")

    def counts(self):
        """{file name: opens since the watch started} (the folder's own opens left out); closes
        the watch."""
        counts, data = {}, b""
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                break
            data += chunk
        os.close(self._fd)
        offset = 0
        while offset < len(data):
            _, _, _, length = struct.unpack_from("iIII", data, offset)
            name = data[offset + 16:offset + 16 + length].rstrip(b"\0").decode()
            if name:  # an empty name is the folder itself (listed by a glob)
                counts[name] = counts.get(name, 0) + 1
            offset += 16 + length
        return counts


@pytest.fixture
def file_opens():
    """`FileOpens`: `opens = file_opens(folder)`, ..., `opens.counts()`."""
    return FileOpens
