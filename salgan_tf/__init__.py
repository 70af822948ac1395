"""SalGAN: visual saliency prediction with generative adversarial networks, in TensorFlow/Keras.

  import salgan_tf
  model = salgan_tf.load("runs/demo")   # run dir, .weights.h5, SavedModel, .tflite or .onnx
  saliency = model.predict("photo.jpg")

`load`, `Model` and `read_image` live in salgan_tf/api.py; they are imported on first use, so
`import salgan_tf` stays cheap (TensorFlow loads inside `load`).
"""

__version__ = "0.1.0"
__all__ = ["Model", "load", "read_image"]


def __getattr__(name):
    if name in __all__:
        from salgan_tf import api

        return getattr(api, name)
    raise AttributeError(f"module 'salgan_tf' has no attribute {name!r}")
