"""numba.cuda kernels: the same file names, function names and argument order as kernels.cpu.

Every public function is a launcher over device arrays (``numba.cuda`` DeviceNDArray, or the
simulator's array under ``NUMBA_ENABLE_CUDASIM=1``); see ``_launch.py`` for what they share.
Importing this package needs numba-cuda but no GPU: kernels compile at their first launch.
"""

from kernels.cuda.activation import *  # noqa: F403
from kernels.cuda.augment import *  # noqa: F403
from kernels.cuda.batchnorm import *  # noqa: F403
from kernels.cuda.conv import *  # noqa: F403
from kernels.cuda.dropout import *  # noqa: F403
from kernels.cuda.elementwise import *  # noqa: F403
from kernels.cuda.im2col import *  # noqa: F403
from kernels.cuda.loss import *  # noqa: F403
from kernels.cuda.matmul import *  # noqa: F403
from kernels.cuda.norm import *  # noqa: F403
from kernels.cuda.optim import *  # noqa: F403
from kernels.cuda.pool import *  # noqa: F403
from kernels.cuda.reduce import *  # noqa: F403
