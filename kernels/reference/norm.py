"""Layer, instance and local response normalization.

layernorm: x (M, D) (the caller flattens the leading dims and the normalized_shape), per row
    mean_r = sum x / D, var_r = sum (x - mean_r)^2 / D, invstd_r = 1 / sqrt(var_r + eps),
    y = gamma * (x - mean_r) invstd_r + beta;  gamma, beta (D,); mean, invstd (M,).
    backward: xhat = (x - mean) invstd, h = dy gamma,
    dx = invstd (h - mean_D(h) - xhat mean_D(h xhat)), dgamma += sum_rows dy xhat, dbeta += sum_rows dy.
    ws_dparams (nchunks, 2, D): the kernels' per-thread partial sums of dgamma / dbeta.

instancenorm: x (N, C, S), statistics per plane (n, c) over its S values (S = H*W):
    y = gamma_c (x - mean_nc) invstd_nc + beta_c;  mean, invstd (N, C); gamma, beta (C,).
    if update_running (PyTorch's track_running_stats in training):
        running_mean = (1 - m) running_mean + m mean_n(mean_nc)
        running_var  = (1 - m) running_var  + m mean_n(var_nc * S / (S - 1))
    backward: dx = gamma_c invstd (dy - sum_S dy / S - xhat sum_S(dy xhat) / S),
    dgamma_c += sum_{n,S} dy xhat, dbeta_c += sum_{n,S} dy;  ws_sums (N, C, 2): per-plane sums.
    (Evaluation on running statistics is batch normalization's eval path: kernels/*/batchnorm.py.)

lrn (AlexNet's local response normalization, PyTorch's convention): x (N, C, S),
    scale_c = k + alpha / size * sum_{c' = c - size//2}^{c + (size-1)//2} x_{c'}^2   (zero outside [0, C)),
    y_c = x_c * scale_c^-beta.  backward: with W(c) the window of c,
    dx_j = dy_j scale_j^-beta - (2 alpha beta / size) x_j sum_{c : j in W(c)} dy_c y_c / scale_c.
    scale (N, C, S) is the workspace the forward writes for the backward; ws (N, C, S) a scratch buffer.
"""

import numpy as np

__all__ = ["layernorm_forward", "layernorm_backward", "instancenorm_forward", "instancenorm_backward",
           "lrn_forward", "lrn_backward"]


# ------------------------------------------------------------------------------------ layernorm


def layernorm_forward(y, mean, invstd, x, gamma, beta, eps, nchunks):
    mu = x.mean(axis=1)
    var = ((x - mu[:, None]) ** 2).mean(axis=1)
    mean[...] = mu
    invstd[...] = 1 / np.sqrt(var + eps)
    y[...] = (x - mu[:, None]) * invstd[:, None] * gamma + beta


def layernorm_backward(dx, dgamma, dbeta, ws_dparams, dy, x, mean, invstd, gamma, nchunks):
    xhat = (x - mean[:, None]) * invstd[:, None]
    h = dy * gamma
    dx[...] = invstd[:, None] * (h - h.mean(axis=1, keepdims=True) - xhat * (h * xhat).mean(axis=1, keepdims=True))
    dgamma += (dy * xhat).sum(axis=0)
    dbeta += dy.sum(axis=0)


# ------------------------------------------------------------------------------------ instancenorm


def instancenorm_forward(y, mean, invstd, running_mean, running_var, x, gamma, beta, eps, momentum,
                         update_running):
    s = x.shape[2]
    mu = x.mean(axis=2)
    var = ((x - mu[:, :, None]) ** 2).mean(axis=2)
    mean[...] = mu
    invstd[...] = 1 / np.sqrt(var + eps)
    y[...] = (x - mu[:, :, None]) * invstd[:, :, None] * gamma[:, None] + beta[:, None]
    if update_running:
        running_mean[...] = (1 - momentum) * running_mean + momentum * mu.mean(axis=0)
        running_var[...] = (1 - momentum) * running_var + momentum * (var * s / (s - 1)).mean(axis=0)


def instancenorm_backward(dx, dgamma, dbeta, ws_sums, dy, x, mean, invstd, gamma):
    xhat = (x - mean[:, :, None]) * invstd[:, :, None]
    sum_g = dy.sum(axis=2, keepdims=True)
    sum_gx = (dy * xhat).sum(axis=2, keepdims=True)
    s = x.shape[2]
    dx[...] = (gamma[:, None] * invstd[:, :, None]) * (dy - sum_g / s - xhat * sum_gx / s)
    dgamma += sum_gx[:, :, 0].sum(axis=0)
    dbeta += sum_g[:, :, 0].sum(axis=0)


# ------------------------------------------------------------------------------------ LRN


def _window_sum(a, size):
    """out[:, c] = sum of a[:, c'] for c' in [c - size//2, c + (size-1)//2] (zero padded), as PyTorch."""
    c = a.shape[1]
    pad = np.zeros((a.shape[0], c + size - 1, a.shape[2]), dtype=a.dtype)
    pad[:, size // 2:size // 2 + c] = a
    return sum(pad[:, i:i + c] for i in range(size))


def lrn_forward(y, scale, x, size, alpha, beta, k):
    scale[...] = k + alpha / size * _window_sum(x * x, size)
    y[...] = x * scale ** -beta


def lrn_backward(dx, ws, dy, x, y, scale, size, alpha, beta, k):
    t = dy * y / scale
    # transpose of the window: j receives from c in [j - (size-1)//2, j + size//2]
    c = x.shape[1]
    pad = np.zeros((x.shape[0], c + size - 1, x.shape[2]), dtype=x.dtype)
    pad[:, (size - 1) // 2:(size - 1) // 2 + c] = t
    back = sum(pad[:, i:i + c] for i in range(size))
    dx[...] = dy * scale ** -beta - 2 * alpha * beta / size * x * back
