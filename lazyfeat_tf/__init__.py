"""lazyfeat_tf: lazy vs feature training of deep networks in TensorFlow/Keras.

Reproduces and extends Geiger, Spigler, Jacot & Wyart, "Disentangling feature and lazy training in
deep neural networks" (arXiv:1906.08034). See README.md and the module docstrings.
"""

__version__ = "0.1.0"
