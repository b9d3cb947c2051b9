"""The values a config field may take, and the dataset facts its validation needs.

The library modules import their choices from here (layers the activations, losses the loss names,
models the architectures, data the dataset names and sources): the config is the leaf of the
package's dependencies, so a config file loads without TensorFlow.
"""

DTYPES = ("float32", "float64")
DISTRIBUTE = ("auto", "tpu", "gpu", "cpu")
ARCHITECTURES = ("fc", "cnn")
ACTIVATIONS = ("relu", "softplus")
LOSSES = ("hinge", "soft_hinge", "quadratic_hinge")
DYNAMICS = ("gradient_flow", "sgd", "adam")
KERNEL_METHODS = ("auto", "structured", "jacobian")

DATASETS = ("mnist", "fashion_mnist", "emnist_letters", "cifar10", "synthetic")
DATA_SOURCES = ("tfds", "idx", "synthetic")
SOURCES_OF = {
    "mnist": ("tfds", "idx"),
    "fashion_mnist": ("tfds", "idx"),
    "emnist_letters": ("tfds", "idx"),
    "cifar10": ("tfds",),
    "synthetic": ("synthetic",),
}
"""The sources that can provide each dataset (the first is the one an error message suggests)."""
IMAGE_SHAPES = {
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
    "emnist_letters": (28, 28, 1),
    "cifar10": (32, 32, 3),
}
"""`[H, W, C]` of one image of each image dataset."""
