"""The optimizer of the paper (Sec. 4.2): AdaGrad, lr 3e-4."""
import keras


def make_optimizer(config):
    """AdaGrad as in Lasagne (accumulator starts at 0, eps 1e-6), loss-scaled for mixed_float16."""
    optimizer = keras.optimizers.Adagrad(learning_rate=config.learning_rate,
                                         initial_accumulator_value=0.0, epsilon=1e-6)
    if config.mixed_precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
