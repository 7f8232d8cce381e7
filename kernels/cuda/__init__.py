"""numba.cuda kernels: the same file names, function names and argument order as kernels.cpu.

Every public function is a launcher over device arrays (``numba.cuda`` DeviceNDArray, or the
simulator's array under ``NUMBA_ENABLE_CUDASIM=1``); see ``_launch.py`` for what they share.
"""
