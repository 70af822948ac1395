"""SalGAN: visual saliency prediction with generative adversarial networks, in TensorFlow/Keras."""

__version__ = "0.1.0"
