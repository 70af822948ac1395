"""Tests of bench/flops.py: FLOPs from TF's profiler, counting only the ops a call runs.

What the speed table's GFLOP/s rest on is pinned here: the generator's known count, that dead
backward ops of a traced train step are left out (TF prunes them before running), and that a
graph whose work hides in a nested function call is refused rather than under-counted.
"""
import pathlib
import sys

import keras
import pytest
import tensorflow as tf

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # bench/
import flops  # noqa: E402

from salgan_tf import generator as generator_lib  # noqa: E402

SIZE = (32, 48)
# Conv FLOPs of one generator forward at 192x256 (docs/speed.md); they scale with the pixels,
# and 32x48 has 1/32 of them.
GENERATOR_CONV_FLOPS_192x256 = 79_901_491_200


def _conv_flops(kernel, c_in, c_out, height, width):
    return 2 * kernel * kernel * c_in * c_out * height * width


def test_generator_forward_conv_flops_pinned():
    model = generator_lib.build_generator(SIZE)
    forward = tf.function(lambda x: model(x, training=False))
    by_type = flops.graph_flops(forward.get_concrete_function(
        tf.TensorSpec([1, *SIZE, 3], tf.float32)))
    assert by_type["Conv2D"] == GENERATOR_CONV_FLOPS_192x256 // 32
    assert set(by_type) == {"Conv2D", "BiasAdd", "MaxPool", "AddV2", "Mul"}
    matrix, share = flops.matrix_share(by_type)
    assert matrix == by_type["Conv2D"] and 0.999 < share < 1


def test_graph_flops_scales_with_batch():
    conv = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)
    forward = tf.function(conv)
    one = flops.graph_flops(forward.get_concrete_function(tf.TensorSpec([1, 8, 6, 3])))
    three = flops.graph_flops(forward.get_concrete_function(tf.TensorSpec([3, 8, 6, 3])))
    assert one == {"Conv2D": _conv_flops(3, 3, 4, 8, 6)}
    assert three["Conv2D"] == 3 * one["Conv2D"]


def test_graph_flops_leaves_out_ops_nobody_uses():
    a, b = tf.ones([4, 5]), tf.ones([5, 6])

    @tf.function
    def one_used_matmul():
        tf.linalg.matmul(a, b)  # result unused: pruned before running, so not counted
        return tf.linalg.matmul(a, b) + 1.0

    by_type = flops.graph_flops(one_used_matmul.get_concrete_function())
    assert by_type == {"MatMul": 2 * 4 * 5 * 6, "AddV2": 4 * 6}


def test_train_step_counts_no_backward_into_frozen_layers():
    # frozen conv -> trainable conv, as VGG blocks 1-3 before block 4: the traced step holds
    # gradient ops for the frozen layer too, but nothing that runs needs them.
    inputs = keras.Input((8, 6, 3))
    frozen = keras.layers.Conv2D(5, 3, padding="same", use_bias=False, trainable=False)
    trained = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)
    model = keras.Model(inputs, trained(frozen(inputs)))
    optimizer = keras.optimizers.SGD(0.1)
    optimizer.build(model.trainable_variables)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x))
        variables = model.trainable_variables
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    concrete = step.get_concrete_function(tf.TensorSpec([1, 8, 6, 3]))
    by_type = flops.graph_flops(concrete)
    assert by_type["Conv2D"] == _conv_flops(3, 3, 5, 8, 6) + _conv_flops(3, 5, 4, 8, 6)
    assert by_type["Conv2DBackpropFilter"] == _conv_flops(3, 5, 4, 8, 6)
    assert by_type["Conv2DBackpropInput"] == 0
    graph_types = {op.type for op in concrete.graph.get_operations()}
    assert "Conv2DBackpropInput" in graph_types  # the dead op is in the graph, not counted


def test_graph_flops_refuses_nested_function_calls():
    inner = tf.function(lambda x: tf.linalg.matmul(x, x), jit_compile=True)
    outer = tf.function(lambda x: inner(x) + 1.0)
    with pytest.raises(ValueError, match="calls other functions.*PartitionedCall"):
        flops.graph_flops(outer.get_concrete_function(tf.TensorSpec([3, 3])))


@pytest.mark.slow
def test_salgan_train_steps_flops():
    """The steps' conv/matmul FLOPs equal the rule that bench/flops.py used to apply by hand:
    backward = forward once for input gradients above the first trainable layer, once for the
    weight gradients of trainable layers (docs/speed.md)."""
    counts = flops.salgan_flops(SIZE, 1)
    assert flops.matrix_share(counts["forward"])[0] == GENERATOR_CONV_FLOPS_192x256 // 32
    assert flops.matrix_share(counts["bce_step"])[0] == 6_291_062_784
    assert flops.matrix_share(counts["adversarial_step"])[0] == 9_264_884_896


def test_parse_image_size():
    assert flops.parse_image_size("192x256") == (192, 256)
    with pytest.raises(ValueError, match="HxW"):
        flops.parse_image_size("192,256")
