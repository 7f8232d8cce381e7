"""Integer codes shared by the reference and compiled kernels (numba cannot dispatch on strings cheaply).

Activation codes select the fused epilogue of ``linear_forward`` / ``conv2d_forward``. Every fused
activation has a derivative expressible from its OUTPUT y (ReLU: y>0, LeakyReLU(alpha>=0): y>0,
Sigmoid: y(1-y), Tanh: 1-y^2), so backward needs no pre-activation buffer.
"""

ACT_NONE = 0
ACT_RELU = 1
ACT_LEAKY_RELU = 2
ACT_SIGMOID = 3
ACT_TANH = 4

ACTIVATIONS = {"none": ACT_NONE, "relu": ACT_RELU, "leaky_relu": ACT_LEAKY_RELU,
               "sigmoid": ACT_SIGMOID, "tanh": ACT_TANH}

FUSED_EPILOGUE_ACTS = (ACT_RELU, ACT_LEAKY_RELU, ACT_SIGMOID, ACT_TANH)  # what linear/conv epilogues apply
