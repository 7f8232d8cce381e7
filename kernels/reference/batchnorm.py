"""Batch normalization over (N, C, S): statistics per channel c over the N*S values x[:, c, :].

S = 1 for BatchNorm1d on (N, C), L for (N, C, L), H*W for BatchNorm2d; callers pass x.reshape(N, C, S).
M = N*S values per channel.

forward_train:  mean_c = sum x / M;  var_c = sum (x - mean_c)^2 / M  (biased: used to normalize)
                invstd_c = 1 / sqrt(var_c + eps);  y = act(gamma_c * (x - mean_c) * invstd_c + beta_c)
                if update_running:  running_mean = (1 - m) running_mean + m mean_c
                                    running_var  = (1 - m) running_var  + m var_c * M / (M - 1)  (unbiased)
                (m = momentum, or 1/num_batches_tracked for PyTorch's momentum=None: the caller passes it)
forward_eval:   mean_c = running_mean_c, invstd_c = 1 / sqrt(running_var_c + eps), y as above.
backward:       xhat = (x - mean) invstd, g = dy * act'(y) (ACT_RELU: y > 0), dbeta += sum g,
                dgamma += sum g xhat;
                batch_stats (training):  dx = gamma invstd / M * (M g - sum g - xhat sum g xhat)
                otherwise (running stats are constants): dx = gamma invstd g.
act: ACT_NONE or ACT_RELU (fused BN + ReLU); the reference applies the ReLU as a separate step.
y, dx, x, dy (N, C, S); mean, invstd, gamma, beta, dgamma, dbeta, running_mean, running_var (C,).
mean and invstd are workspaces the forward writes for the backward.
"""

import numpy as np

from kernels.codes import ACT_RELU

__all__ = ["batchnorm_forward_train", "batchnorm_forward_eval", "batchnorm_backward"]


def _normalize(y, x, mean, invstd, gamma, beta, act):
    c = (1, -1, 1)
    y[...] = (x - mean.reshape(c)) * invstd.reshape(c) * gamma.reshape(c) + beta.reshape(c)
    if act == ACT_RELU:
        np.maximum(y, 0, out=y)


def batchnorm_forward_train(y, mean, invstd, running_mean, running_var, x, gamma, beta, eps, momentum,
                            update_running, act):
    m = x.shape[0] * x.shape[2]
    mu = x.mean(axis=(0, 2))
    var = ((x - mu.reshape(1, -1, 1)) ** 2).mean(axis=(0, 2))
    mean[...] = mu
    invstd[...] = 1 / np.sqrt(var + eps)
    _normalize(y, x, mean, invstd, gamma, beta, act)
    if update_running:
        running_mean[...] = (1 - momentum) * running_mean + momentum * mu
        running_var[...] = (1 - momentum) * running_var + momentum * var * m / (m - 1)


def batchnorm_forward_eval(y, mean, invstd, x, gamma, beta, running_mean, running_var, eps, act):
    mean[...] = running_mean
    invstd[...] = 1 / np.sqrt(running_var + eps)
    _normalize(y, x, mean, invstd, gamma, beta, act)


def batchnorm_backward(dx, dgamma, dbeta, dy, x, y, mean, invstd, gamma, act, batch_stats):
    c = (1, -1, 1)
    g = np.where(y > 0, dy, 0) if act == ACT_RELU else dy
    xhat = (x - mean.reshape(c)) * invstd.reshape(c)
    sum_g = g.sum(axis=(0, 2))
    sum_gx = (g * xhat).sum(axis=(0, 2))
    dbeta += sum_g
    dgamma += sum_gx
    scale = (gamma * invstd).reshape(c)
    if batch_stats:
        m = x.shape[0] * x.shape[2]
        dx[...] = scale * (g - sum_g.reshape(c) / m - xhat * (sum_gx.reshape(c) / m))
    else:
        dx[...] = scale * g
