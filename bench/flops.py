"""FLOPs of the SalGAN generator and train steps, counted by TensorFlow's profiler.

TF registers a FLOP count per op type (tensorflow/python/profiler/internal/flops_registry.py and
nn_ops.py): Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter 2 * kh * kw * Cin * Cout *
Hout * Wout per image (a multiply-add = 2 FLOPs), MatMul the same, BiasAdd, MaxPool and the
elementwise ops one per element. `tf.compat.v1.profiler.profile` sums them over a graph;
`graph_flops` runs it on the traced graph of a `tf.function` and keeps only the ops the function
actually runs:

- A traced train step holds backward ops nobody needs (the gradient tape differentiates the
  frozen VGG blocks 1-3 too); TF's graph optimizer (Grappler) prunes them before running the
  step, so they are left out here as well: only ops that the outputs or the state updates
  (the function's control outputs) depend on are counted.
- The profiler cannot look inside a nested function call (`jit_compile` steps call their
  replica function that way), so a graph with call ops is refused; count the same step traced
  without XLA, which has the same math.

  python bench/flops.py [--image_size=192x256] [--batch=1]

prints TF's per-op report of the generator forward and the FLOPs per image of the forward pass,
`SalGANSteps.bce_step` and `.adversarial_step`, by op type.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import sys

# Ops whose body lives in another function: the profiler would count them as 0 FLOPs.
_CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall", "While", "StatelessWhile",
                       "If", "StatelessIf", "Case", "StatelessCase"})
# The dense-algebra ops (what runs at FMA speed); everything else the profiler counts is
# elementwise work (bias adds, pooling, losses, optimizer updates).
MATRIX_OPS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "MatMul")


def _live_op_names(graph):
    """Names of the ops that the graph's outputs or control outputs depend on."""
    stack = [t.op for t in graph.outputs] + list(graph.control_outputs)
    live = set()
    while stack:
        op = stack.pop()
        if op.name in live:
            continue
        live.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return live


def graph_flops(concrete_function, *, report=False):
    """FLOPs by op type of one call of a traced `tf.function`, from TF's profiler.

    Args:
      concrete_function: from `tf_function.get_concrete_function(...)`, with static shapes.
      report: also print the profiler's own per-op table (every op, live or not).

    Returns:
      `collections.Counter` {op type: FLOPs} over the ops the call runs.

    Raises:
      ValueError: the graph calls other functions (their FLOPs would be missed).
    """
    import tensorflow as tf

    graph = concrete_function.graph
    calls = sorted(op.name for op in graph.get_operations() if op.type in _CALL_OPS)
    if calls:
        raise ValueError(f"graph of {concrete_function.name} calls other functions ({calls[:3]}); "
                         "TF's profiler does not count inside them (trace without jit_compile)")
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation())
    options = (options.with_stdout_output() if report else options.with_empty_output()).build()
    root = tf.compat.v1.profiler.profile(graph, cmd="scope", options=options)
    live = _live_op_names(graph)
    by_type = collections.Counter()
    stack = list(root.children)
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.float_ops and node.name in live:
            by_type[graph.get_operation_by_name(node.name).type] += node.float_ops
    return by_type


def matrix_share(by_type):
    """FLOPs of the dense-algebra ops and their fraction of the total."""
    matrix = sum(by_type[op] for op in MATRIX_OPS)
    return matrix, matrix / max(1, sum(by_type.values()))


# ---------------------------------------------------------------------------------------------
# The traced functions bench/speed.py times, with the FLOPs counted on the same graphs.


def example_batch(image_size, batch):
    """A train batch dict (random caffe-range images, random maps in [0, 1])."""
    import numpy as np
    import tensorflow as tf

    from salgan_tf.data import maps as maps_lib

    rng = np.random.default_rng(0)
    images = rng.normal(0, 60, (batch, *image_size, 3)).astype(np.float32)
    maps = tf.constant(rng.uniform(size=(batch, *image_size, 1)).astype(np.float32))
    return {"image": tf.constant(images), "map": maps, "map_small": maps_lib.downsample_maps(maps)}


def make_steps(generator, discriminator, *, policy="float32", jit_compile=False):
    """`SalGANSteps` with the training defaults (AdaGrad, the paper's alpha and weight decay)."""
    from salgan_tf import config as config_lib
    from salgan_tf import optimizers
    from salgan_tf import steps as steps_lib

    config = config_lib.TrainConfig(output_dir="", mixed_precision=policy,
                                    jit_compile=jit_compile)
    return steps_lib.SalGANSteps(
        generator, discriminator, optimizers.make_optimizer(config),
        optimizers.make_optimizer(config), alpha=config.alpha, weight_decay=config.weight_decay,
        downsample=config.downsample, jit_compile=jit_compile)


def salgan_flops(image_size, batch, *, report=False):
    """FLOPs by op type of one call of the float32 generator forward and of both train steps.

    Returns:
      {"forward": Counter, "bce_step": Counter, "adversarial_step": Counter}, for `batch` images.
    """
    import tensorflow as tf

    from salgan_tf import discriminator as discriminator_lib
    from salgan_tf import generator as generator_lib

    generator = generator_lib.build_generator(image_size)
    discriminator = discriminator_lib.build_discriminator(image_size)
    data = example_batch(image_size, batch)
    forward = tf.function(lambda x: generator(x, training=False))
    counts = {"forward": graph_flops(forward.get_concrete_function(data["image"]),
                                     report=report)}
    steps = make_steps(generator, discriminator)
    for name in ("bce_step", "adversarial_step"):
        counts[name] = graph_flops(getattr(steps, name).get_concrete_function(data))
    return counts


def parse_image_size(text):
    """'192x256' (H x W) -> (192, 256)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"image size {text!r} must look like HxW, e.g. 192x256")
    return int(match.group(1)), int(match.group(2))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image_size", default="192x256", help="HxW")
    parser.add_argument("--batch", type=int, default=1, help="images per traced call")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    image_size = parse_image_size(args.image_size)
    counts = salgan_flops(image_size, args.batch, report=True)
    print(f"\nGFLOP per image at {image_size[0]}x{image_size[1]} (HxW), traced with batch "
          f"{args.batch} (TF profiler, live ops only):")
    for name, by_type in counts.items():
        matrix, share = matrix_share(by_type)
        types = ", ".join(f"{op} {flops / args.batch / 1e9:.3f}"
                          for op, flops in by_type.most_common(5))
        print(f"  {name:<17} {sum(by_type.values()) / args.batch / 1e9:8.3f}  (conv/matmul "
              f"{100 * share:.2f}%; {types})")


if __name__ == "__main__":
    sys.exit(main())
