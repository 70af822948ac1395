"""The paper's post-processing as an export option: every runtime returns the same map.

One tiny generator (32x48), exported with `postprocess="paper"`: the SavedModel's two signatures
(in the graph), LiteRT fp32 and ONNX (recorded in their metadata, applied by the loader) and
`salgan-predict --postprocess=paper` on the training run must agree within 1e-3 on one image of
another size and aspect; an export without the option must keep the plain inverse resize.
"""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from salgan_tf import inference
from salgan_tf import postprocess
from salgan_tf.export import model_settings
from salgan_tf.export import saved_model as saved_model_lib
from salgan_tf.export import tflite as tflite_lib

IMAGE_SIZE = (32, 48)
TOLERANCE = 1e-3  # the bound between runtimes


@pytest.fixture(scope="module")
def paper_exports(util, tmp_path_factory):
    """`(run dir, SavedModel dir, .tflite path, .onnx path or None)`, all with paper."""
    folder = tmp_path_factory.mktemp("paper_exports")
    generator, run_dir, _ = util.exported_model(IMAGE_SIZE)
    version_dir = saved_model_lib.export_saved_model(generator, str(folder / "salgan" / "1"),
                                                     postprocess="paper")
    tflite_path = tflite_lib.write(*tflite_lib.convert(version_dir, "none"),
                                   str(folder / "salgan.tflite"))
    onnx_path = None
    try:
        from salgan_tf.export import onnx as onnx_lib

        onnx_path = onnx_lib.write(onnx_lib.convert(saved_model=version_dir),
                                   str(folder / "salgan.onnx"))
    except ImportError:
        pass
    return run_dir, version_dir, tflite_path, onnx_path


def _image(util):
    """A 45x70 (HxW) image: another size and aspect than the network's 32x48."""
    return util.smooth_images(1, (45, 70), seed=3)[0].round().astype(np.uint8)


@pytest.mark.slow
def test_every_runtime_returns_the_same_paper_map(util, paper_exports, tmp_path):
    run_dir, version_dir, tflite_path, onnx_path = paper_exports
    if onnx_path is None:
        pytest.skip("tf2onnx/onnxruntime not installed (pip install '.[onnx]')")
    image = _image(util)
    reference = inference.load_predictor(run_dir, postprocess="paper").predict(image)
    loaded = util.loaded(version_dir)
    served = loaded.signatures["serving_default"](images=[util.encode(image)])
    assert (int(served["height"][0]), int(served["width"][0])) == image.shape[:2]
    maps = {
        "SavedModel serving_default": served["saliency"].numpy()[0, ..., 0],
        "SavedModel predict_tensor": loaded.signatures["predict_tensor"](
            images=image[None].astype(np.float32))["saliency"].numpy()[0, ..., 0],
    }
    for path in (version_dir, tflite_path, onnx_path):
        predictor = inference.load_predictor(path)
        assert predictor.postprocess == "paper", path  # read from the export, not passed here
        maps[predictor.kind] = predictor.predict(image)
    for name, saliency in maps.items():
        assert saliency.shape == image.shape[:2], name
        assert np.abs(saliency - reference).max() < TOLERANCE, name

    # predict's CLI writes 8-bit PNGs: the same map to half a level.
    (tmp_path / "in").mkdir()
    Image.fromarray(image).save(tmp_path / "in" / "photo.png")
    result = subprocess.run(
        [sys.executable, "-m", "salgan_tf.predict", f"--model={run_dir}",
         f"--input={tmp_path / 'in'}", f"--output={tmp_path / 'maps'}", "--postprocess=paper"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    written = np.asarray(Image.open(tmp_path / "maps" / "photo.png")) / 255.0
    assert np.abs(written - reference).max() <= 0.5 / 255 + 1e-6

    # The option changes the map (else this test proves nothing): paper != the plain resize.
    plain = inference.load_predictor(run_dir).predict(image)
    assert np.abs(plain - reference).max() > 10 * TOLERANCE


@pytest.mark.slow  # the exports fixture converts to LiteRT and ONNX
def test_the_saved_model_carries_the_option_in_the_graph(util, paper_exports):
    _, version_dir, _, _ = paper_exports
    loaded = util.loaded(version_dir)
    assert loaded.postprocess.numpy().decode() == "paper"
    image = _image(util)
    small = loaded.network(inference.load_predictor(version_dir).to_network_input(
        image.astype(np.float32))[None]).numpy()[0, ..., 0]
    served = loaded.signatures["serving_default"](images=[util.encode(image)])
    np.testing.assert_allclose(served["saliency"].numpy()[0, ..., 0],
                               postprocess.paper_to_original_size(small, image.shape[:2]),
                               atol=1e-5)


@pytest.mark.slow  # the exports fixture converts to LiteRT and ONNX
def test_metadata_records_the_option_and_an_override_wins(paper_exports):
    run_dir, version_dir, tflite_path, _ = paper_exports
    assert model_settings.read_tflite(tflite_path)[0]["postprocess"] == "paper"
    assert inference.load_predictor(tflite_path, postprocess="none").postprocess == "none"
    assert inference.load_predictor(run_dir).postprocess == "none"
    with pytest.raises(ValueError, match="postprocess must be one of"):
        inference.load_predictor(run_dir, postprocess="blur")
    _, metadata = tflite_lib.convert(version_dir, "none", postprocess="none")
    assert metadata["postprocess"] == "none"
    with pytest.raises(ValueError, match="postprocess must be one of"):
        tflite_lib.convert(version_dir, "none", postprocess="blur")


def test_without_the_option_the_export_is_unchanged(util):
    _, run_dir, version_dir = util.exported_model(IMAGE_SIZE)
    loaded = util.loaded(version_dir)
    assert loaded.postprocess.numpy().decode() == "none"
    image = _image(util)
    served = loaded.signatures["serving_default"](images=[util.encode(image)])
    plain = inference.load_predictor(run_dir).predict(image)  # the inverse bilinear resize
    np.testing.assert_allclose(served["saliency"].numpy()[0, ..., 0], plain, atol=1e-5)
    assert inference.load_predictor(version_dir).postprocess == "none"
