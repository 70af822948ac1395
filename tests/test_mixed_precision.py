"""Mixed precision: compute in bf16/fp16, keep float32 master weights, float32 maps and losses."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from salgan_tf import config as config_lib
from salgan_tf import discriminator as discriminator_lib
from salgan_tf import generator as generator_lib
from salgan_tf import steps as steps_lib
from salgan_tf import optimizers

SIZE = (32, 32)


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"], indirect=True)
def test_step_runs_with_float32_master_weights(policy, train_batch):
    config = config_lib.TrainConfig(output_dir="", mixed_precision=policy)
    keras.utils.set_random_seed(0)  # the same nets whatever ran before in this process
    generator = generator_lib.build_generator(SIZE)
    discriminator = discriminator_lib.build_discriminator(SIZE)
    compute = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}[policy]
    assert generator.get_layer("block4_conv1").compute_dtype == compute
    assert generator.output.dtype == "float32"  # final sigmoid kept in float32
    assert discriminator.output.dtype == "float32"
    g_opt, d_opt = optimizers.make_optimizer(config), optimizers.make_optimizer(config)
    assert isinstance(g_opt, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    block5 = generator.get_layer("block5_conv3").kernel
    before = block5.numpy().copy()
    steps = steps_lib.SalGANSteps(generator, discriminator, g_opt, d_opt)

    def step_moves_generator():
        out = steps.adversarial_step(train_batch(SIZE))
        assert all(np.isfinite(v.numpy()) and v.dtype == tf.float32 for v in out.values())
        assert np.isfinite(block5.numpy()).all()
        return not np.array_equal(before, block5.numpy())

    if policy == "mixed_bfloat16":
        assert step_moves_generator()
    else:
        # Loss scaling: a float16 step whose scaled gradients overflow is skipped (weights kept)
        # and halves the scale; one that does not overflow is applied. The untrained G's nearly
        # constant map makes D's standardization amplify G's adversarial gradient, so at Keras'
        # initial scale 2**15 the first step overflows. Stepping until the halvings reach a scale
        # that does not overflow takes ~10 s a step on a 2-core CPU, so the test sets scale 1.
        scale = float(g_opt.initial_scale)
        moved = step_moves_generator()
        halved = float(g_opt.dynamic_scale) == scale / 2
        assert moved != halved, (moved, float(g_opt.dynamic_scale))
        if not moved:
            g_opt.dynamic_scale.assign(1.0)
            assert step_moves_generator()
    for model in (generator, discriminator):
        assert {v.dtype for v in model.weights} == {"float32"}
