"""salgan_tf.postprocess: the authors' cubic resize + cv2.GaussianBlur((5, 5), 0), as an option."""
import numpy as np
from scipy import ndimage

from salgan_tf import inference
from salgan_tf import postprocess

# Centre row of cv2.GaussianBlur(impulse, (5, 5), 0) measured with OpenCV 4.8.0 (float32 input):
# the binomial [1, 4, 6, 4, 1] / 16 times its centre 6/16.
OPENCV_IMPULSE_CENTRE_ROW = (0.0234375, 0.09375, 0.140625, 0.09375, 0.0234375)


def test_blur_impulse_response_is_opencvs():
    impulse = np.zeros((1, 11, 11, 1), np.float32)
    impulse[0, 5, 5, 0] = 1.0
    response = postprocess.paper_blur(impulse).numpy()[0, ..., 0]
    np.testing.assert_allclose(response[5, 3:8], OPENCV_IMPULSE_CENTRE_ROW, atol=1e-7)
    np.testing.assert_allclose(response.sum(), 1.0, atol=1e-6)


def test_blur_border_is_reflect_101():
    saliency = np.random.default_rng(0).uniform(size=(7, 9)).astype(np.float32)
    taps = np.array([1, 4, 6, 4, 1]) / 16
    # scipy's "mirror" mode reflects about the edge pixel (d c b | a b c d), as BORDER_REFLECT_101.
    expected = ndimage.correlate1d(ndimage.correlate1d(saliency.astype(np.float64), taps, 0,
                                                       mode="mirror"), taps, 1, mode="mirror")
    ours = postprocess.paper_blur(saliency[None, ..., None]).numpy()[0, ..., 0]
    np.testing.assert_allclose(ours, expected, atol=1e-6)


def test_paper_to_original_size_shapes_range_and_constants():
    flat = np.full((32, 48), 0.3, np.float32)
    np.testing.assert_allclose(postprocess.paper_to_original_size(flat, (50, 70)), 0.3, atol=1e-6)
    peaky = np.zeros((32, 48), np.float32)
    peaky[10:12, 20:22] = 1.0
    result = postprocess.paper_to_original_size(peaky, (64, 96))
    assert result.shape == (64, 96) and result.dtype == np.float32
    assert result.min() >= 0.0 and result.max() <= 1.0
    assert postprocess.paper_to_original_size(peaky, (2, 5)).shape == (2, 5)  # no blur, no error


def test_letterbox_crops_the_padding_first():
    small = np.zeros((32, 48), np.float32)  # a 100x100 image letterboxed into 32x48: cols 8..40
    small[:, 8:40] = 0.6
    result = postprocess.paper_to_original_size(small, (100, 100), mode="letterbox")
    np.testing.assert_allclose(result, 0.6, atol=1e-5)


def test_predictor_applies_paper_postprocess_only_when_asked():
    small = np.random.default_rng(1).uniform(size=(1, 32, 48)).astype(np.float32)
    settings = dict(kind="checkpoint", path="fake", image_size=(32, 48), resize_mode="stretch",
                    batch_size=1)
    image = np.zeros((60, 80, 3), np.uint8)
    default = inference.Predictor(lambda batch: small, **settings).predict(image)
    paper = inference.Predictor(lambda batch: small, postprocess="paper", **settings).predict(image)
    np.testing.assert_allclose(paper, postprocess.paper_to_original_size(small[0], (60, 80)))
    assert np.abs(paper - default).max() > 0.01
