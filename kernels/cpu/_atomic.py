"""Atomic int64 load/store on an array element and a spin-loop pause, for numba CPU kernels.

numba has no CPU atomics; a plain load in a spin loop may be hoisted out of it. These intrinsics emit LLVM
``load atomic acquire`` / ``store atomic release`` on ``a[i]`` (``a`` a 1-D int64 array) and x86's ``pause``
(nothing elsewhere), so kernels/cpu/_threads.py can hand work between threads without sleeping.
"""

import platform

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_X86 = platform.machine().lower() in {"x86_64", "amd64", "i386", "i686"}


def _element_pointer(context, builder, array_type, array, index):
    return cgutils.get_item_pointer(context, builder, array_type, context.make_array(array_type)(context, builder,
                                                                                                   array), [index])


@intrinsic
def atomic_load(typingctx, a, i):
    """a[i] with acquire ordering."""
    def codegen(context, builder, signature, args):
        ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(ptr, "acquire", 8)
    return types.int64(a, i), codegen


@intrinsic
def atomic_store(typingctx, a, i, v):
    """a[i] = v with release ordering."""
    def codegen(context, builder, signature, args):
        ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        value = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(value, ptr, "release", 8)
        return context.get_dummy_value()
    return types.void(a, i, v), codegen


@intrinsic
def cpu_relax(typingctx):
    """x86 ``pause`` (a spin-wait hint); nothing on other machines."""
    def codegen(context, builder, signature, args):
        if _X86:
            pause = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                   "llvm.x86.sse2.pause")
            builder.call(pause, [])
        return context.get_dummy_value()
    return types.void(), codegen
