"""Numba CPU kernels: the same file names, function names and argument order as kernels.reference."""

from kernels.cpu._jit import num_threads  # noqa: F401
from kernels.cpu.activation import *  # noqa: F403
from kernels.cpu.augment import *  # noqa: F403
from kernels.cpu.batchnorm import *  # noqa: F403
from kernels.cpu.conv import *  # noqa: F403
from kernels.cpu.dropout import *  # noqa: F403
from kernels.cpu.elementwise import *  # noqa: F403
from kernels.cpu.im2col import *  # noqa: F403
from kernels.cpu.loss import *  # noqa: F403
from kernels.cpu.matmul import *  # noqa: F403
from kernels.cpu.norm import *  # noqa: F403
from kernels.cpu.optim import *  # noqa: F403
from kernels.cpu.pool import *  # noqa: F403
from kernels.cpu.reduce import *  # noqa: F403
