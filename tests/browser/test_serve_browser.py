"""The demo page and the TF Serving API end to end in headless Chromium, on real images.

The server is `python -m salgan_tf.serve` on a tiny SavedModel (conftest.py). Set
SALGAN_SERVE_SCREENSHOT=docs/serve_screenshot.png to keep the overlay screenshot.
"""
import base64
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from salgan_tf import crop

SALICON_IMAGE = "salicon_api_examples/images/train2014examples/COCO_train2014_000000123067.jpg"
SUN500_IMAGE = "scene_sun500/data/stimuli/233.jpg"  # 334x250 (HxW): portrait, odd size
TIMEOUT_MS = 60_000


def _wait_for_state(page, state):
    page.wait_for_function(f"document.body.dataset.state === '{state}'", timeout=TIMEOUT_MS)


def _image_size(path):
    """(H, W) of an image file."""
    width, height = Image.open(path).size
    return height, width


@pytest.mark.slow
def test_upload_shows_the_overlay_and_downloads_the_map(page, shared_data, tmp_path):
    image_path = shared_data / SALICON_IMAGE
    page.set_input_files("#file-input", str(image_path))
    _wait_for_state(page, "done")
    height, width = _image_size(image_path)
    result = page.locator("#result")
    assert result.is_visible() and not page.locator("#error").is_visible()
    assert (result.get_attribute("data-map-height"), result.get_attribute("data-map-width")) == (
        str(height), str(width))
    assert f"{height}×{width} (H×W)" in page.inner_text("#map-size")
    heat_size = page.evaluate("[document.getElementById('heat-layer').height, "
                              "document.getElementById('heat-layer').width]")
    assert heat_size == [height, width]

    page.locator("#opacity").fill("35")
    assert page.evaluate("document.getElementById('heat-layer').style.opacity") == "0.35"
    assert page.inner_text("#opacity-value") == "35%"
    # The overlay is drawn: the heat layer is not blank (jet colours, opaque).
    drawn = page.evaluate("""() => {
        const canvas = document.getElementById('heat-layer');
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let opaque = 0;
        for (let i = 3; i < data.length; i += 4) opaque += data[i] === 255;
        return opaque / (data.length / 4);
    }""")
    assert drawn == 1.0

    screenshot = tmp_path / "serve_screenshot.png"
    page.locator("#opacity").fill("55")
    page.screenshot(path=str(screenshot), full_page=True)
    assert Image.open(screenshot).size[0] > 0
    if os.environ.get("SALGAN_SERVE_SCREENSHOT"):
        shutil.copyfile(screenshot, os.environ["SALGAN_SERVE_SCREENSHOT"])

    with page.expect_download() as download_info:
        page.click("#download")
    download = download_info.value
    assert download.suggested_filename == "COCO_train2014_000000123067_saliency.png"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    saliency = Image.open(saved)
    assert saliency.format == "PNG" and saliency.mode == "L"
    assert (saliency.height, saliency.width) == (height, width)
    assert np.asarray(saliency).std() > 1.0  # a map, not a blank image


def _post_from_page(page, url, body):
    """fetch() from inside the page: (HTTP status, parsed JSON) of a JSON POST."""
    return page.evaluate("""async ([url, body]) => {
        const response = await fetch(url, {method: 'POST', body: body,
                                           headers: {'Content-Type': 'application/json'}});
        return [response.status, await response.json()];
    }""", [url, body])


def _predict_body(data):
    return '{"instances": [{"b64": "%s"}]}' % base64.b64encode(data).decode("ascii")


@pytest.mark.slow
def test_tf_serving_api_from_the_browser(page, shared_data):
    image_path = shared_data / SUN500_IMAGE
    # The map is summarised in the page (shape, range, spread): returning 83k nested floats
    # through Playwright would cost more than the prediction.
    summary = page.evaluate("""async (body) => {
        const response = await fetch('/v1/models/salgan:predict', {method: 'POST', body: body,
            headers: {'Content-Type': 'application/json'}});
        const reply = await response.json();
        if (!response.ok) return {status: response.status, reply: reply};
        const p = reply.predictions[0];
        const values = p.saliency.flat(2);
        const mean = values.reduce((a, b) => a + b, 0) / values.length;
        const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
        return {status: response.status, height: p.height, width: p.width,
                shape: [p.saliency.length, p.saliency[0].length, p.saliency[0][0].length],
                min: values.reduce((a, b) => Math.min(a, b)), max: values.reduce((a, b) => Math.max(a, b)),
                std: Math.sqrt(variance),
                keys: Object.keys(p).sort()};
    }""", _predict_body(image_path.read_bytes()))
    assert summary["status"] == 200, summary
    height, width = _image_size(image_path)
    assert (summary["height"], summary["width"]) == (height, width)
    assert summary["shape"] == [height, width, 1]
    assert summary["keys"] == ["height", "saliency", "saliency_small", "width"]
    assert 0.0 <= summary["min"] and summary["max"] <= 1.0 and summary["std"] > 1e-3
    status_code = page.evaluate("fetch('/v1/models/salgan').then(r => r.status)")
    assert status_code == 200


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, util):
    folder = tmp_path_factory.mktemp("bad_uploads")
    (folder / "notes.txt").write_text("this is a text file, not an image\n")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "huge.png").write_bytes(util.blank_png(12000, 12000))
    return {"notes.txt": "not a JPEG or PNG image", "empty.jpg": "the file is empty (0 bytes)",
            "huge.png": "12000x12000 (HxW) = 144000000 pixels is larger than the limit"}, folder


@pytest.mark.slow
def test_bad_uploads_show_an_error_and_the_next_upload_works(page, shared_data, bad_files):
    messages, folder = bad_files
    good_image = shared_data / SUN500_IMAGE
    for name, message in messages.items():
        page.set_input_files("#file-input", str(folder / name))
        _wait_for_state(page, "error")
        error = page.locator("#error")
        assert error.is_visible()
        text = error.inner_text()
        assert text.startswith("Error 400: ") and name in text and message in text, text
        assert not page.locator("#result").is_visible()

        status, response = _post_from_page(page, "/v1/models/salgan:predict",
                                            _predict_body((folder / name).read_bytes()))
        assert status == 400 and message in response["error"], response

        page.set_input_files("#file-input", str(good_image))
        _wait_for_state(page, "done")
        assert not page.locator("#error").is_visible()
        assert page.locator("#result").get_attribute("data-map-height") == str(
            _image_size(good_image)[0])


@pytest.mark.slow
def test_too_large_upload_is_refused(page, server, tmp_path):
    # The server runs with --max_request_mb=4: the page refuses before uploading, the API with 413.
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(5 * 2**20))
    page.set_input_files("#file-input", str(big))
    _wait_for_state(page, "error")
    assert "larger than the server's limit of 4.0 MB" in page.inner_text("#error")
    status = page.evaluate("""async () => {
        const body = new Uint8Array(5 * 1024 * 1024);
        const response = await fetch('/api/saliency.png?filename=big.png',
            {method: 'POST', body: body, headers: {'Content-Type': 'application/octet-stream'}});
        return [response.status, (await response.json()).error];
    }""")
    assert status[0] == 413 and "larger than the limit of 4194304 bytes" in status[1]


@pytest.mark.slow
def test_dropping_an_image_on_the_page(page, shared_data):
    image_path = shared_data / SUN500_IMAGE
    data = base64.b64encode(image_path.read_bytes()).decode("ascii")
    page.evaluate("""([name, data]) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, {type: 'image/jpeg'}));
        document.getElementById('drop-zone').dispatchEvent(
            new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""", [image_path.name, data])
    _wait_for_state(page, "done")
    height, width = _image_size(image_path)
    assert f"233.jpg: saliency map {height}×{width} (H×W)" in page.inner_text("#map-size")


@pytest.mark.slow
def test_crop_box_is_drawn_for_the_chosen_aspect(page, shared_data):
    image_path = shared_data / SUN500_IMAGE  # 334x250 (HxW), portrait
    page.set_input_files("#file-input", str(image_path))
    _wait_for_state(page, "done")
    height, width = _image_size(image_path)
    assert not page.locator("#crop-box").is_visible()  # "none" by default
    # The boxes the server computes for this image (salgan_tf.crop.best_box), asked directly.
    data = base64.b64encode(image_path.read_bytes()).decode("ascii")
    boxes = page.evaluate("""async (data) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const response = await fetch('/api/saliency.png?filename=x.jpg', {method: 'POST', body: bytes,
            headers: {'Content-Type': 'application/octet-stream'}});
        return JSON.parse(response.headers.get('X-Crop-Boxes'));
    }""", data)
    for aspect in ("16:9", "9:16", "1:1"):
        page.select_option("#crop-aspect", aspect)
        crop_box = page.locator("#crop-box")
        assert crop_box.is_visible()
        top, left, box_height, box_width = (
            int(v) for v in page.locator("#result").get_attribute("data-crop-box").split(","))
        assert boxes[aspect] == {"top": top, "left": left, "height": box_height,
                                 "width": box_width}
        assert (box_height, box_width) == crop.box_size((height, width), aspect)
        assert 0 <= top <= height - box_height and 0 <= left <= width - box_width
        # Drawn where the box is: its rectangle over the stage, in the same proportions.
        drawn = page.evaluate("""() => {
            const stage = document.getElementById('stage').getBoundingClientRect();
            const box = document.getElementById('crop-box').getBoundingClientRect();
            return [(box.top - stage.top) / stage.height, (box.left - stage.left) / stage.width,
                    box.height / stage.height, box.width / stage.width];
        }""")
        np.testing.assert_allclose(drawn, [top / height, left / width, box_height / height,
                                           box_width / width], atol=0.01)
        assert f"Most salient {aspect} crop" in page.inner_text("#crop-info")
    page.select_option("#crop-aspect", "")
    assert not page.locator("#crop-box").is_visible() and page.inner_text("#crop-info") == ""
