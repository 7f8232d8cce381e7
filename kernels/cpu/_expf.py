"""A vectorizable float32 exp for the CPU kernels (numba has no SVML here, so ``math.exp`` in a loop is a
scalar libm call per element and the loop cannot vectorize).

``exp_(x)``: for float32 ``x`` the Cephes ``expf`` algorithm (range reduction x = n ln2 + r, |r| <= ln2/2,
a degree-7 polynomial for e^r, 2^n built from its IEEE bits): max error ~2 ulp, plain arithmetic that
LLVM vectorizes. Inputs below -87.3 give 0 (a denormal e^x would be lost anyway), above 88.7 inf, NaN stays
NaN. For float64 ``x`` it is ``math.exp`` (the float64 gradient checks keep full precision).
"""

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

_LOG2E = 1.44269504088896341
_C1 = 0.693359375
_C2 = -2.12194440e-4
_LO = -87.33654
_HI = 88.72283


@intrinsic
def _pow2_f32(typingctx, fx):
    """2^fx for an integral float32 fx in [-126, 127], built from its IEEE bits: float32 -> int32 -> add the
    bias, shift into the exponent field, bitcast (all 32-bit lane ops, so the loop vectorizes)."""
    if fx != types.float32:
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        n = builder.fptosi(args[0], i32)
        n = builder.add(n, ir.Constant(i32, 127))
        n = builder.shl(n, ir.Constant(i32, 23))
        return builder.bitcast(n, ir.FloatType())

    return types.float32(types.float32), codegen


def exp_(x):
    """e^x (vectorizable for float32; see the module docstring)."""
    return math.exp(x)


@overload(exp_, jit_options={"fastmath": {"contract", "reassoc"}})
def _exp_overload(x):
    if x != types.float32:
        return lambda x: math.exp(x)

    def impl(x):
        xc = min(max(x, types.float32(_LO)), types.float32(_HI))
        fx = np.floor(xc * types.float32(_LOG2E) + types.float32(0.5))  # float32 (math.floor gives int64)
        r = xc - fx * types.float32(_C1) - fx * types.float32(_C2)
        p = types.float32(1.9875691500e-4)
        p = p * r + types.float32(1.3981999507e-3)
        p = p * r + types.float32(8.3334519073e-3)
        p = p * r + types.float32(4.1665795894e-2)
        p = p * r + types.float32(1.6666665459e-1)
        p = p * r + types.float32(5.0000001201e-1)
        p = p * r * r + r + types.float32(1.0)
        hi = fx > types.float32(127.0)  # 2^128 has no float32: build 2^127 and double the result
        two_n = _pow2_f32(fx - (types.float32(1.0) if hi else types.float32(0.0)))
        y = p * two_n * (types.float32(2.0) if hi else types.float32(1.0))
        if x < types.float32(_LO):
            y = types.float32(0.0)
        if x > types.float32(_HI):
            y = types.float32(math.inf)
        if x != x:
            y = x
        return y

    return impl
