"""NumPy oracles: the executable spec of every op (clear, not fast). Same names and argument order as
``kernels.cpu``; workspace arguments (``ws_*``) are accepted and left untouched."""

from kernels.reference.activation import *  # noqa: F403
from kernels.reference.augment import *  # noqa: F403
from kernels.reference.batchnorm import *  # noqa: F403
from kernels.reference.conv import *  # noqa: F403
from kernels.reference.dropout import *  # noqa: F403
from kernels.reference.elementwise import *  # noqa: F403
from kernels.reference.im2col import *  # noqa: F403
from kernels.reference.loss import *  # noqa: F403
from kernels.reference.matmul import *  # noqa: F403
from kernels.reference.norm import *  # noqa: F403
from kernels.reference.optim import *  # noqa: F403
from kernels.reference.pool import *  # noqa: F403
from kernels.reference.reduce import *  # noqa: F403
