// SalGAN demo page: send one image to /api/saliency.png, overlay the returned map as a heat map.
// No libraries and no network beyond this server, so the page works offline.
// document.body.dataset.state is "idle", "busy", "done" or "error" (tests wait on it).
"use strict";

const page = {info: null, mapUrl: null, cropBoxes: null};

function byId(id) { return document.getElementById(id); }

// Jet colour map (blue = not salient ... red = most salient), one RGB triple per map level 0-255.
const JET = Array.from({length: 256}, (_, level) => {
  const t = level / 255;
  const channel = (centre) => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * t - centre))));
  return [channel(3), channel(2), channel(1)];
});

function setState(state) { document.body.dataset.state = state; }

function showError(message) {
  byId("error").textContent = message;
  byId("error").hidden = false;
  byId("status").textContent = "";
  setState("error");
}

function formatBytes(bytes) {
  return bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MB` : `${(bytes / 1024).toFixed(1)} kB`;
}

function showInfo() {
  page.info = JSON.parse(byId("server-info").textContent);
  const [height, width] = page.info.image_size;
  byId("model-info").textContent =
    `Model: ${page.info.kind} "${page.info.path}", network input ${height}×${width} (H×W), ` +
    `${page.info.resize_mode}. Limits: ${formatBytes(page.info.max_request_bytes)} per request, ` +
    `${(page.info.max_pixels / 1e6).toFixed(0)} megapixels per image.`;
  const select = byId("crop-aspect");
  for (const aspect of page.info.crop_aspects) select.add(new Option(aspect, aspect));
}

// Draws the server's most salient box for the chosen aspect over the overlay (or hides it).
function showCrop() {
  const box = page.cropBoxes && page.cropBoxes[byId("crop-aspect").value];
  const element = byId("crop-box");
  const result = byId("result");
  element.hidden = !box;
  if (!box) {
    byId("crop-info").textContent = "";
    delete result.dataset.cropBox;
    return;
  }
  const height = Number(result.dataset.mapHeight);
  const width = Number(result.dataset.mapWidth);
  element.style.top = `${100 * box.top / height}%`;
  element.style.left = `${100 * box.left / width}%`;
  element.style.height = `${100 * box.height / height}%`;
  element.style.width = `${100 * box.width / width}%`;
  result.dataset.cropBox = [box.top, box.left, box.height, box.width].join(",");
  byId("crop-info").textContent =
    `Most salient ${byId("crop-aspect").value} crop: rows ${box.top}–${box.top + box.height - 1}, ` +
    `columns ${box.left}–${box.left + box.width - 1} (${box.height}×${box.width}, H×W).`;
}

function applyOpacity() {
  const percent = byId("opacity").value;
  byId("heat-layer").style.opacity = percent / 100;
  byId("opacity-value").textContent = `${percent}%`;
}

async function render(file, mapBlob) {
  const options = {colorSpaceConversion: "none", premultiplyAlpha: "none"};
  const map = await createImageBitmap(mapBlob, options);
  // The server applied the JPEG's EXIF orientation for this route, as the browser does here.
  const image = await createImageBitmap(file);
  const imageLayer = byId("image-layer");
  const heatLayer = byId("heat-layer");
  for (const canvas of [imageLayer, heatLayer]) {
    canvas.width = map.width;
    canvas.height = map.height;
  }
  imageLayer.getContext("2d").drawImage(image, 0, 0, map.width, map.height);
  const context = heatLayer.getContext("2d", {willReadFrequently: true});
  context.drawImage(map, 0, 0);
  const pixels = context.getImageData(0, 0, map.width, map.height);
  const data = pixels.data;
  for (let i = 0; i < data.length; i += 4) {
    const [red, green, blue] = JET[data[i]];
    data[i] = red; data[i + 1] = green; data[i + 2] = blue; data[i + 3] = 255;
  }
  context.putImageData(pixels, 0, 0);
  applyOpacity();
}

async function predict(file) {
  byId("error").hidden = true;
  byId("result").hidden = true;
  if (file.size > page.info.max_request_bytes) {
    showError(`${file.name}: ${formatBytes(file.size)} is larger than the server's limit of ` +
              `${formatBytes(page.info.max_request_bytes)} per request.`);
    return;
  }
  setState("busy");
  byId("status").textContent = `Predicting ${file.name} …`;
  let response;
  try {
    response = await fetch(`/api/saliency.png?filename=${encodeURIComponent(file.name)}`, {
      method: "POST", body: file,
      // The server takes raw bytes as application/octet-stream (a text file's own type,
      // text/plain, is one other sites could send; the server refuses it).
      headers: {"Content-Type": "application/octet-stream"},
    });
  } catch (error) {
    showError(`${file.name}: the server did not answer (${error.message}).`);
    return;
  }
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).error; } catch (error) { /* not JSON: keep the status text */ }
    showError(`Error ${response.status}: ${message}`);
    return;
  }
  const mapBlob = await response.blob();
  try {
    await render(file, mapBlob);
  } catch (error) {
    showError(`${file.name}: the browser could not draw the image or its map (${error.message}).`);
    return;
  }
  const height = response.headers.get("X-Saliency-Height");
  const width = response.headers.get("X-Saliency-Width");
  if (page.mapUrl) URL.revokeObjectURL(page.mapUrl);
  page.mapUrl = URL.createObjectURL(mapBlob);
  const download = byId("download");
  download.href = page.mapUrl;
  download.download = `${file.name.replace(/\.[^.]*$/, "")}_saliency.png`;
  byId("map-size").textContent =
    `${file.name}: saliency map ${height}×${width} (H×W), 8-bit PNG, ${formatBytes(mapBlob.size)}.`;
  const result = byId("result");
  result.dataset.mapHeight = height;
  result.dataset.mapWidth = width;
  page.cropBoxes = JSON.parse(response.headers.get("X-Crop-Boxes") || "{}");
  showCrop();
  result.hidden = false;
  byId("status").textContent = `Done: ${file.name}`;
  setState("done");
}

function setUp() {
  const dropZone = byId("drop-zone");
  const input = byId("file-input");
  input.addEventListener("change", () => {
    if (input.files.length) predict(input.files[0]);
    input.value = "";  // choosing the same file again fires "change" again
  });
  // A file dropped anywhere else must not make the browser navigate away from the page.
  for (const name of ["dragover", "drop"]) {
    window.addEventListener(name, (event) => event.preventDefault());
  }
  dropZone.addEventListener("dragover", (event) => {
    event.preventDefault();
    dropZone.classList.add("dragover");
  });
  dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dragover"));
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropZone.classList.remove("dragover");
    if (event.dataTransfer.files.length) predict(event.dataTransfer.files[0]);
  });
  byId("opacity").addEventListener("input", applyOpacity);
  byId("crop-aspect").addEventListener("change", showCrop);
  showInfo();
}

document.addEventListener("DOMContentLoaded", setUp);
