"""``gemm_into(c, a, b, beta)``: c = a @ b + beta * c on BLAS for strided 2-D views, inside numba kernels.

numba's ``np.dot(a, b, out)`` copies a view whose rows are not contiguous and cannot accumulate (beta = 0). This
calls the same BLAS (SciPy's, through numba's ``numba_xxgemm`` helper) with leading dimensions taken from the
views' strides: each of c, a, b (float32 or float64, one dtype) must have unit stride along one axis, rows
(``x[:, lo:hi]`` of a C-contiguous matrix: any row stride) or columns (its transpose); c along rows. The conv
backward uses it to multiply shifted windows of a padded plane in place, without an im2col copy
(kernels/cpu/conv.py).
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.linalg import check_blas_return, ensure_blas, get_blas_kind

from kernels.cpu._jit import jit

_N, _T = ord("n"), ord("t")


@intrinsic
def _xxgemm(typingctx, transa, transb, m, n, k, a, lda, b, ldb, beta, c, ldc):
    """BLAS ?gemm, column-major: c = op(a) @ op(b) + beta * c, alpha 1; the arrays give only dtype and data."""
    if not all(isinstance(x, types.Array) for x in (a, b, c)) or len({a.dtype, b.dtype, c.dtype}) != 1:
        return None
    ensure_blas()   # as numba's np.dot: a clear ImportError without SciPy (kernels/_env.py loaded its BLAS)
    dtype = c.dtype
    kind = get_blas_kind(dtype, "gemm_into")

    def codegen(context, builder, signature, args):
        char, intp, void_p = ir.IntType(8), cgutils.intp_t, cgutils.voidptr_t
        fnty = ir.FunctionType(ir.IntType(32), [char, char, char, intp, intp, intp, void_p, void_p, intp,
                                                void_p, intp, void_p, void_p, intp])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        ta, tb, mv, nv, kv, av, ldav, bv, ldbv, betav, cv, ldcv = args
        sig = signature.args

        def data(i, value):
            return builder.bitcast(context.make_array(sig[i])(context, builder, value).data, void_p)

        def as_intp(i, value):
            return context.cast(builder, value, sig[i], types.intp)

        alpha_slot = cgutils.alloca_once_value(builder, context.get_constant(dtype, 1.0))
        beta_slot = cgutils.alloca_once_value(builder, context.cast(builder, betav, sig[9], dtype))
        res = builder.call(fn, (ir.Constant(char, ord(kind)), builder.trunc(as_intp(0, ta), char),
                                builder.trunc(as_intp(1, tb), char), as_intp(2, mv), as_intp(3, nv), as_intp(4, kv),
                                builder.bitcast(alpha_slot, void_p), data(5, av), as_intp(6, ldav), data(7, bv),
                                as_intp(8, ldbv), builder.bitcast(beta_slot, void_p), data(10, cv),
                                as_intp(11, ldcv)))
        check_blas_return(context, builder, res)
        return context.get_dummy_value()

    return types.void(transa, transb, m, n, k, a, lda, b, ldb, beta, c, ldc), codegen


@jit
def _operand(x):
    """(op, leading dimension) of a row-major view x as BLAS's column-major x^T: 'n' when its rows are unit
    stride, 't' when its columns are (x is a transposed view)."""
    item = x.itemsize
    if x.strides[1] == item or x.shape[1] == 1:
        return _N, max(1, x.strides[0] // item)
    return _T, max(1, x.strides[1] // item)


@jit
def gemm_into(c, a, b, beta):
    """c (M, N) = a (M, K) @ b (K, N) + beta * c (beta 0: c is not read). In BLAS's column-major terms this is
    c^T = b^T a^T, so b and a swap places."""
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        for i in range(m):
            for j in range(n):
                c[i, j] = c[i, j] * beta if beta != 0 else 0
        return
    op_b, ld_b = _operand(b)
    op_a, ld_a = _operand(a)
    ld_c = max(1, c.strides[0] // c.itemsize)
    _xxgemm(op_b, op_a, n, m, k, b, ld_b, a, ld_a, beta, c, ld_c)
