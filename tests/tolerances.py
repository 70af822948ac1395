"""How close two code paths running the same float32 network must agree: the suite's contract.

Two paths (a batch of 1 vs 4, Keras vs the SavedModel or a TF1 session, the Validator vs
`evaluate --model`) sum the same float32 products in another order: oneDNN picks kernels by CPU
(AVX2 vs AVX-512) and batch shape, so their maps differ by rounding, by 0 on the developer's Zen 4
and by 2.9e-6 on a Zen 3. The tolerance is derived from float32 accumulation, not measured noise:
- A K-term float32 dot product summed in another order moves by ~sqrt(K) * eps relative to the
  sum of its terms (rounding errors as independent, Higham & Mary 2019; K * eps is the
  adversarial worst case). The generator's widest conv sums K = 3 * 3 * 512 = 4608 terms:
  sqrt(4608) * 1.19e-7 = 8.1e-6 per layer.
- Its 27 conv layers run in series (ReLU and max-pooling pass errors through unscaled): to first
  order the relative errors add, 27 * 8.1e-6 = 2.2e-4 of the logits' magnitude.
- The map is sigmoid(logits): slope <= 1/4, and the test model's logits stay within +-8 (std 2,
  tests/conftest.py `tiny_generator`): maps agree to 1/4 * 8 * 2.2e-4 = 4.4e-4 (`MAP_ATOL`).
- Metrics are float64 functions of those maps: CC, NSS and IG divide by the map's spread (std
  ~0.3: x3), the AUCs move by the share of fixation/pixel pairs closer than 2 * MAP_ATOL
  (<= 2 * MAP_ATOL over a map range of ~1): `METRIC_ATOL` = 1e-3.
A real bug is far outside: one grey level more on the input moves the map by 4.8e-2, an off-by-one
resize by 0.36 (and auc_judd by 1.0e-2, NSS by 4.6e-2); docs/speed.md ("Test tolerances").
"""
import math

import numpy as np

FLOAT32_EPS = float(np.finfo(np.float32).eps)  # 1.19e-7
CONV_LAYERS = 27  # salgan_tf.generator: 13 VGG-16 encoder + 13 decoder 3x3 convs + the 1x1 logits
CONV_TERMS = 3 * 3 * 512  # products summed by the widest conv
LOGIT_RTOL = CONV_LAYERS * math.sqrt(CONV_TERMS) * FLOAT32_EPS  # 2.2e-4
SIGMOID_SLOPE, TEST_LOGIT_BOUND = 0.25, 8.0
MAP_ATOL = SIGMOID_SLOPE * TEST_LOGIT_BOUND * LOGIT_RTOL  # 4.4e-4, maps in [0, 1]
METRIC_ATOL = 1e-3
