"""Tests of the speed benchmark's parts: FLOP counts, CPU peak, the PyTorch reference, the script.

The benchmark's timings are never asserted; what is pinned is what its GFLOP/s and its
TF-vs-PyTorch comparison rest on: the FLOP count (against TF's own op statistics), the backward
rule, the peak arithmetic, and that the PyTorch net is the same function as the Keras one.
"""
import pathlib
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops  # per-op FLOP statistics

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bench"))
import flops  # noqa: E402

from salgan_tf import discriminator as discriminator_lib  # noqa: E402
from salgan_tf import generator as generator_lib  # noqa: E402

SIZE = (32, 48)
GENERATOR_PARAMS = 31_787_009


def _tf_op_flops(model, inputs_spec):
    """{layer name: FLOPs} of every Conv2D / MatMul op in the traced forward graph, taken from
    TF's own per-op 'flops' statistics (the ones tf.compat.v1.profiler sums)."""
    forward = tf.function(lambda *x: model(list(x) if len(x) > 1 else x[0], training=False))
    graph = forward.get_concrete_function(*inputs_spec).graph
    per_layer = {}
    for op in graph.get_operations():
        if op.type in ("Conv2D", "MatMul"):
            stats = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops")
            layer = op.name.split("/")[1].rsplit("_", 1)[0]  # "<model>/<layer>_1/convolution"
            per_layer[layer] = per_layer.get(layer, 0) + stats.value
    return per_layer


def _counted(rows):
    return {row.name: row.flops for row in rows if row.kind in ("conv", "dense")}


def test_generator_flops_match_tf_op_statistics():
    model = generator_lib.build_generator(SIZE)
    rows = flops.layer_flops(model)
    assert _counted(rows) == _tf_op_flops(model, [tf.TensorSpec([1, *SIZE, 3], tf.float32)])
    assert len(_counted(rows)) == 13 + 13 + 1  # encoder, decoder, 1x1 output conv


def test_discriminator_flops_match_tf_op_statistics():
    model = discriminator_lib.build_discriminator(SIZE)
    rows = flops.layer_flops(model)
    assert _counted(rows) == _tf_op_flops(model, [tf.TensorSpec([1, *SIZE, 3], tf.float32),
                                                  tf.TensorSpec([1, *SIZE, 1], tf.float32)])


def test_generator_flops_scale_with_pixels_and_first_conv_by_hand():
    rows = flops.layer_flops(generator_lib.build_generator(SIZE))
    first = rows[0]
    assert first.name == "block1_conv1"
    assert first.flops == 2 * 3 * 3 * 3 * 64 * 32 * 48
    doubled = flops.layer_flops(generator_lib.build_generator((64, 48)))
    assert flops.forward_flops(doubled) == 2 * flops.forward_flops(rows)


def _row(name, gflops, trainable):
    return flops.LayerFlops(name, "conv", (1,), gflops, 0, trainable)


def test_backward_skips_gradients_nobody_needs():
    # frozen (10) -> trainable (100) -> trainable (1000), as VGG blocks 1-3 before block 4.
    rows = [_row("frozen", 10, False), _row("a", 100, True), _row("b", 1000, True)]
    # Weights only: "a" needs its weight gradient but no input gradient; "b" needs both.
    assert flops.backward_flops(rows, weight_grads=True, input_grad=False) == 100 + 2 * 1000
    # Input gradient only (D in the generator update): every layer passes a gradient down.
    assert flops.backward_flops(rows, weight_grads=False, input_grad=True) == 1110
    assert flops.backward_flops(rows, weight_grads=True, input_grad=True) == 10 + 2 * 1100


def test_train_step_flops_add_up():
    g = [_row("g_frozen", 10, False), _row("g", 100, True)]
    d = [_row("d", 1, True), _row("d2", 2, True)]
    steps = flops.train_step_flops(g, d)
    assert steps["bce_step"] == 110 + 100
    # D update: G fwd 110 + 2 D fwd (3) + 2 D weight backwards (1 + 2*2 = 5);
    # G update: G fwd 110 + D fwd 3 + D input backward 3 + G backward 100.
    assert steps["adversarial_step"] == (110 + 6 + 10) + (110 + 3 + 3 + 100)


def test_layer_flops_rejects_unknown_weighted_layer():
    import keras

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.BatchNormalization(name="bn")(inputs))
    with pytest.raises(ValueError, match="bn.*BatchNormalization"):
        flops.layer_flops(model)


ZEN4_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
cpu MHz\t\t: 2500.000
siblings\t: 2
cpu cores\t: 2
flags\t\t: fpu avx2 fma avx512f avx512_bf16

processor\t: 1
vendor_id\t: AuthenticAMD
"""


def test_cpu_peak_zen4_arithmetic():
    peak = flops.cpu_peak(ZEN4_CPUINFO, cores=2)
    assert peak.micro.name.startswith("AMD Zen 4")
    assert peak.fp32_flops_per_cycle == 2 * 8 * 2
    assert peak.fp32_gflops == pytest.approx(2 * 2.5 * 32)
    assert peak.bf16_gflops == pytest.approx(2 * 160.0)
    assert flops.cpu_peak(ZEN4_CPUINFO, cores=1, ghz=3.0).fp32_gflops == pytest.approx(96.0)
    assert any("2 cores x 2.500 GHz" in line for line in peak.describe())


def test_cpu_peak_unknown_cpu_is_marked_assumed():
    text = ZEN4_CPUINFO.replace("AuthenticAMD", "GenuineIntel").replace("avx512_bf16", "")
    peak = flops.cpu_peak(text, cores=1)
    assert peak.micro.fma_bits == 512 and peak.micro.bf16_factor == 1
    assert "ASSUMED" in peak.micro.source


def test_cpu_peak_missing_field_names_the_file():
    text = ZEN4_CPUINFO.replace("cpu family\t: 25\n", "")
    with pytest.raises(ValueError, match="fake/cpuinfo.*cpu family"):
        flops.cpu_peak(text, path="fake/cpuinfo")


def test_measured_fma_rate_matches_derived_factor():
    """The FMA loop's FLOPs per measured cycle must equal FMA units x lanes x 2 of the table."""
    peak = flops.read_cpu_peak(cores=1)
    if peak.micro.name == "unknown":
        pytest.skip(f"CPU not in bench/flops.py's table ({peak.micro_source})")
    rates, how = flops.measure_core_rates(1, attempts=2)
    if rates is None:
        pytest.skip(how)
    flops_per_cycle = rates["fp32_gflops"] / rates["clock_ghz"]
    assert flops_per_cycle == pytest.approx(peak.fp32_flops_per_cycle, rel=0.1)
    if rates["bf16_gflops"]:
        assert rates["bf16_gflops"] / rates["fp32_gflops"] == pytest.approx(
            peak.micro.bf16_factor, rel=0.1)


def test_parse_image_size():
    assert flops.parse_image_size("192x256") == (192, 256)
    with pytest.raises(ValueError, match="HxW"):
        flops.parse_image_size("192,256")


# -- PyTorch reference ------------------------------------------------------------------------


@pytest.fixture
def torch_reference():
    pytest.importorskip("torch", reason="PyTorch (bench only) not installed")
    import torch_reference

    return torch_reference


def test_torch_reference_parameter_count(torch_reference):
    torch_model = torch_reference.SalGANGeneratorTorch()
    assert torch_reference.count_parameters(torch_model) == GENERATOR_PARAMS
    assert generator_lib.build_generator(SIZE).count_params() == GENERATOR_PARAMS


def test_torch_reference_equals_keras_with_copied_weights(torch_reference):
    import keras
    import torch

    keras_model = generator_lib.build_generator(SIZE)
    # He-scaled random kernels and biases keep activations O(1) through all 27 convs (Glorot
    # init shrinks them to ~1e-4), so a wrong kernel layout or layer order shows in the logits.
    rng = np.random.default_rng(0)
    for layer in keras_model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = layer.get_weights()
            fan_in = np.prod(kernel.shape[:3])
            layer.set_weights([rng.normal(0, np.sqrt(2 / fan_in), kernel.shape).astype("float32"),
                               rng.normal(0, 0.1, bias.shape).astype("float32")])
    torch_model = torch_reference.SalGANGeneratorTorch().eval()
    torch_reference.copy_keras_weights(keras_model, torch_model)
    images = rng.normal(0, 60, (2, *SIZE, 3)).astype(np.float32)
    # Compare logits (before the sigmoid), where a wrong layer order or transposed kernel shows.
    keras_logits = keras.Model(keras_model.input,
                               keras_model.get_layer("saliency_logits").output)(images).numpy()
    with torch.inference_mode():
        torch_logits = torch_model.layers[:-1](torch.from_numpy(images).permute(0, 3, 1, 2))
    torch_logits = torch_logits.permute(0, 2, 3, 1).numpy()
    assert np.std(keras_logits) > 1.0  # the comparison means something
    np.testing.assert_allclose(torch_logits, keras_logits, rtol=1e-4,
                               atol=1e-4 * np.abs(keras_logits).max())
    assert torch_reference.max_abs_diff(keras_model, torch_model, images) < 1e-4


def test_copy_keras_weights_rejects_other_model(torch_reference):
    import keras

    other = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="x")])
    with pytest.raises(ValueError, match="no conv layer 'block1_conv1'"):
        torch_reference.copy_keras_weights(other, torch_reference.SalGANGeneratorTorch())


# -- the script -------------------------------------------------------------------------------


def test_speed_script_prints_every_inference_variant(capsys):
    import speed

    speed.main(["--quick", "--repeats=1", "--skip_train", "--skip_gemm", "--skip_torch",
                "--settle=0", "--cpu_ghz=2.5"])
    out = capsys.readouterr().out
    table = out.split("1. Generator inference, 32x48 (HxW), batch 2")[1]
    for label in speed.TF_VARIANTS:
        line = next(l for l in table.splitlines() if l.startswith(label + " "))
        images_per_s = float(line[len(label):].split()[0])
        assert images_per_s > 0
    assert "fp32 peak = " in out and "load average" in out
