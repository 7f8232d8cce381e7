"""Weight initializers (in place, seeded) and the one global Generator of DESIGN §6.

``fastnn.manual_seed(s)`` reseeds the generator that layer constructors and these functions draw
from, like ``torch.manual_seed``; every initializer also takes an explicit ``rng``
(a ``np.random.Generator``; None means the global one). ``fastnn.nn.init`` is this module.

PyTorch's ``torch.nn.init`` names and formulas (fans of an ``(out, in, *kernel)`` weight exactly as
``torch.nn.init._calculate_fan_in_and_fan_out``; gains as ``calculate_gain``), with two spelling
differences kept from fastnn 0.1: the random source is ``rng=`` (torch: ``generator=``) and
kaiming's leaky-ReLU slope is ``negative_slope=`` (torch: ``a=``). ``variance_scaling_`` follows
Keras' VarianceScaling (including ``distribution="normal"`` meaning the truncated normal, as in
Keras), on PyTorch's weight layout. Every function returns its array.

By name, for layers' ``init=`` / ``bias_init=``: see ``get_initializer`` and INITIALIZERS.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable

import numpy as np

_rng = np.random.default_rng(0)

#: Keras' correction: the std of a standard normal truncated to [-2, 2] (so a truncated normal drawn
#: with std s / TRUNCATED_STD has std s).
TRUNCATED_STD = 0.87962566103423978

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator used for default initialization; returns it."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def default_rng() -> np.random.Generator:
    return _rng


def _gen(rng: np.random.Generator | None) -> np.random.Generator:
    if rng is None:
        return _rng
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy Generator or None, got {type(rng).__name__}")
    return rng


# --- fans and gains ------------------------------------------------------------------------------

def fan_in_fan_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """PyTorch's fans: (in * receptive field, out * receptive field) for (out, in, *kernel) shapes."""
    if len(shape) < 2:
        raise ValueError(f"fan in/out needs at least 2 dimensions, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_fan_in_and_fan_out(a: np.ndarray) -> tuple[int, int]:
    """``fan_in_fan_out(a.shape)`` (torch.nn.init._calculate_fan_in_and_fan_out)."""
    return fan_in_fan_out(tuple(a.shape))


def _fan(shape: tuple[int, ...], mode: str, who: str) -> float:
    modes = ("fan_in", "fan_out") if who.startswith("kaiming") else ("fan_in", "fan_out", "fan_avg")
    if mode not in modes:
        raise ValueError(f"{who}: mode {mode!r} not supported, please use one of {', '.join(modes)}")
    fan_in, fan_out = fan_in_fan_out(shape)
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's values): 1 for linear/conv*/sigmoid, 5/3 for
    tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu (slope ``param``, default 0.01),
    3/4 for selu."""
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of "
                     f"{', '.join(_LINEAR_FNS)}, sigmoid, tanh, relu, leaky_relu, selu")


# --- plain distributions -------------------------------------------------------------------------

def constant_(tensor: np.ndarray, val: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """tensor = val, in place (``rng`` is accepted for a uniform signature and unused)."""
    tensor[...] = val
    return tensor


def zeros_(a: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """a = 0, in place."""
    a[...] = 0
    return a


def ones_(tensor: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """tensor = 1, in place."""
    tensor[...] = 1
    return tensor


def uniform_(a: np.ndarray, low: float = 0.0, high: float = 1.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """a ~ U(low, high), in place."""
    a[...] = _gen(rng).uniform(low, high, size=a.shape)
    return a


def normal_(tensor: np.ndarray, mean: float = 0.0, std: float = 1.0,
            rng: np.random.Generator | None = None) -> np.ndarray:
    """tensor ~ N(mean, std^2), in place."""
    if std < 0:
        raise ValueError(f"normal_: std must be >= 0, got {std}")
    tensor[...] = _gen(rng).normal(mean, std, size=tensor.shape)
    return tensor


def trunc_normal_(tensor: np.ndarray, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """tensor ~ N(mean, std^2) truncated to [a, b] (absolute bounds, as PyTorch), in place; drawn by
    inverting the normal CDF on a uniform sample (exact; no rejection loop)."""
    if std <= 0 or not a < b:
        raise ValueError(f"trunc_normal_: needs std > 0 and a < b, got std={std}, a={a}, b={b}")
    from scipy.special import ndtr, ndtri  # here: importing scipy.special costs ~40 ms of start-up

    lo, hi = (a - mean) / std, (b - mean) / std
    flip = lo > 0  # both bounds in the upper tail: sample the mirrored interval, where the CDF is accurate
    if flip:
        lo, hi = -hi, -lo
    z = ndtri(_gen(rng).uniform(ndtr(lo), ndtr(hi), size=tensor.shape))
    if flip:
        z = -z
    tensor[...] = np.clip(mean + std * z, a, b)
    return tensor


# --- fan-scaled initializers ---------------------------------------------------------------------

def xavier_uniform_(tensor: np.ndarray, gain: float = 1.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """Glorot uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_fan_out(tensor.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, rng)


def xavier_normal_(tensor: np.ndarray, gain: float = 1.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_fan_out(tensor.shape)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def kaiming_uniform_(a: np.ndarray, negative_slope: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", rng: np.random.Generator | None = None) -> np.ndarray:
    """He uniform: U(-bound, bound), bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity,
    negative_slope) (sqrt(2) for relu and for leaky_relu with slope 0) — PyTorch's kaiming_uniform_."""
    if a.size == 0:
        return a
    fan = _fan(a.shape, mode, "kaiming_uniform_")
    gain = calculate_gain(nonlinearity, negative_slope)
    bound = gain * math.sqrt(3.0 / fan)
    return uniform_(a, -bound, bound, rng)


def kaiming_normal_(tensor: np.ndarray, negative_slope: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", rng: np.random.Generator | None = None) -> np.ndarray:
    """He normal: N(0, std^2), std = gain / sqrt(fan) — PyTorch's kaiming_normal_."""
    if tensor.size == 0:
        return tensor
    fan = _fan(tensor.shape, mode, "kaiming_normal_")
    gain = calculate_gain(nonlinearity, negative_slope)
    return normal_(tensor, 0.0, gain / math.sqrt(fan), rng)


def variance_scaling_(tensor: np.ndarray, scale: float = 1.0, mode: str = "fan_in",
                      distribution: str = "truncated_normal", rng: np.random.Generator | None = None) -> np.ndarray:
    """Keras' VarianceScaling: samples with variance ``scale / n``, n = fan_in, fan_out or their mean
    (``fan_avg``), fans as PyTorch computes them. ``distribution``:

    - ``"truncated_normal"`` (and ``"normal"``, its Keras alias): N(0, s^2) truncated to +-2 s with
      s = sqrt(scale / n) / 0.87962566103423978, so the variance after truncation is scale / n;
    - ``"untruncated_normal"``: N(0, scale / n);
    - ``"uniform"``: U(-limit, limit), limit = sqrt(3 scale / n).

    ``variance_scaling_(w, 2.0, "fan_in", "untruncated_normal")`` is kaiming_normal_ (relu);
    ``variance_scaling_(w, 1.0, "fan_avg", "uniform")`` is xavier_uniform_.
    """
    if not scale > 0:
        raise ValueError(f"variance_scaling_: scale must be a positive float, got {scale!r}")
    dist = distribution.lower() if isinstance(distribution, str) else distribution
    if dist == "normal":
        dist = "truncated_normal"
    if dist not in ("truncated_normal", "untruncated_normal", "uniform"):
        raise ValueError(f"variance_scaling_: distribution {distribution!r} not supported, please use one of "
                         f"truncated_normal (alias normal), untruncated_normal, uniform")
    n = max(1.0, _fan(tensor.shape, mode, "variance_scaling_"))
    var = scale / n
    if dist == "truncated_normal":
        s = math.sqrt(var) / TRUNCATED_STD
        return trunc_normal_(tensor, 0.0, s, -2.0 * s, 2.0 * s, rng)
    if dist == "untruncated_normal":
        return normal_(tensor, 0.0, math.sqrt(var), rng)
    limit = math.sqrt(3.0 * var)
    return uniform_(tensor, -limit, limit, rng)


def orthogonal_(tensor: np.ndarray, gain: float = 1.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al.), PyTorch's algorithm: trailing dimensions
    flattened to (rows, cols), QR of a standard normal matrix (transposed when rows < cols), Q's columns
    multiplied by sign(diag(R)) so Q is Haar-distributed. W W^T = gain^2 I when rows <= cols, else
    W^T W = gain^2 I."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only arrays with 2 or more dimensions are supported, got shape {tensor.shape}")
    if tensor.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.size // rows
    flat = _gen(rng).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    tensor[...] = (q * gain).reshape(tensor.shape)
    return tensor


def torch_default_(weight: np.ndarray, bias: np.ndarray | None, rng: np.random.Generator | None = None) -> None:
    """PyTorch's default for Linear/Conv: kaiming_uniform_(a=sqrt(5)) on W, i.e. U(+-1/sqrt(fan_in)),
    and U(+-1/sqrt(fan_in)) on the bias."""
    kaiming_uniform_(weight, negative_slope=math.sqrt(5), rng=rng)
    if bias is not None:
        torch_default_bias_(bias, weight, rng)


def torch_default_bias_(bias: np.ndarray, weight: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """PyTorch's default bias of a Linear/Conv layer: U(+-1/sqrt(fan_in of ``weight``))."""
    fan_in = fan_in_fan_out(weight.shape)[0]
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform_(bias, -bound, bound, rng)


# --- by name ---------------------------------------------------------------------------------------

def _vs(scale: float, mode: str, distribution: str) -> Callable[..., np.ndarray]:
    def init(tensor: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return variance_scaling_(tensor, scale, mode, distribution, rng)
    return init


#: Initializers by name (``init="xavier_uniform"``). Torch names use PyTorch's defaults (kaiming_*:
#: fan_in, leaky_relu with slope 0 = relu gain); the Keras names are exactly Keras' initializers
#: (glorot_* / he_* / lecun_*: VarianceScaling with scale 1 / 2 / 1 and fan_avg / fan_in / fan_in,
#: their "normal" being the truncated normal).
INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    "zeros": zeros_, "ones": ones_, "uniform": uniform_, "normal": normal_, "trunc_normal": trunc_normal_,
    "xavier_uniform": xavier_uniform_, "xavier_normal": xavier_normal_,
    "kaiming_uniform": kaiming_uniform_, "kaiming_normal": kaiming_normal_,
    "orthogonal": orthogonal_, "variance_scaling": variance_scaling_,
    "glorot_uniform": _vs(1.0, "fan_avg", "uniform"), "glorot_normal": _vs(1.0, "fan_avg", "truncated_normal"),
    "he_uniform": _vs(2.0, "fan_in", "uniform"), "he_normal": _vs(2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": _vs(1.0, "fan_in", "uniform"), "lecun_normal": _vs(1.0, "fan_in", "truncated_normal"),
}


def get_initializer(name: str) -> Callable[..., np.ndarray]:
    """The initializer called ``name`` (INITIALIZERS; a trailing underscore is accepted):
    ``get_initializer("kaiming_normal")(w, rng=rng)``."""
    if not isinstance(name, str):
        raise TypeError(f"initializer name: expected a string, got {type(name).__name__}")
    fn = INITIALIZERS.get(name.lower().rstrip("_"))
    if fn is None:
        raise ValueError(f"unknown initializer {name!r}; known: {', '.join(sorted(INITIALIZERS))}")
    return fn


def apply_init(spec, array: np.ndarray, rng: np.random.Generator | None, who: str) -> None:
    """Fill ``array`` from a layer's ``init=`` / ``bias_init=`` argument: a name (INITIALIZERS, drawn from
    ``rng``), a number (a constant: ``bias_init=0.1`` for ReLU layers), or a callable taking the array
    (in place; a returned array of the same shape is copied in)."""
    if isinstance(spec, str):
        try:
            get_initializer(spec)(array, rng=rng)
        except ValueError as e:
            raise ValueError(f"{who}: {e}") from None
        return
    if isinstance(spec, numbers.Real) and not isinstance(spec, bool):
        constant_(array, float(spec))
        return
    if callable(spec):
        out = spec(array)
        if out is not None and out is not array:
            out = np.asarray(out)
            if out.shape != array.shape:
                raise ValueError(f"{who}: the initializer returned shape {out.shape}, expected {array.shape}")
            array[...] = out
        return
    raise TypeError(f"{who}: expected an initializer name, a number or a callable, got {type(spec).__name__}")


def init_layer_(weight: np.ndarray, bias: np.ndarray | None, rng: np.random.Generator | None = None,
                init=None, bias_init=None, who: str = "layer") -> None:
    """A Linear/Conv layer's initialization: PyTorch's default (``torch_default_``) for whatever of
    ``init`` (weight) and ``bias_init`` is None, else ``apply_init``; the weight is drawn first."""
    if init is None and bias_init is None:
        torch_default_(weight, bias, rng)  # bitwise the 0.1 default: the same draws in the same order
        return
    if init is None:
        torch_default_(weight, None, rng)
    else:
        apply_init(init, weight, rng, f"{who} init")
    if bias is not None:
        if bias_init is None:
            torch_default_bias_(bias, weight, rng)
        else:
            apply_init(bias_init, bias, rng, f"{who} bias_init")


# ``fastnn.nn.init`` is this module (``import fastnn.nn.init`` works too).
sys.modules.setdefault("fastnn.nn.init", sys.modules[__name__])
