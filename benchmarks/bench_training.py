"""asv: whole training steps (forward + loss + zero_grad + backward + Adam) and inference, as users run them."""

import numpy as np

import fastnn  # first: thread budget (OMP_WAIT_POLICY) and numba cache dir
from fastnn import nn, optim


def _setup_step(model_name: str, batch: int):
    fastnn.manual_seed(0)
    model = fastnn.models.MODELS[model_name]()
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch)

    def step():
        loss = loss_fn(model.forward(x, True), y)
        opt.zero_grad()
        model.backward(loss_fn.backward(), input_grad=False)
        opt.step()
        return loss

    return step


class TrainStep:
    params = (["lenet5", "mlp"], [32, 64, 256])
    param_names = ["model", "batch"]

    def setup(self, model_name, batch):
        self.step = _setup_step(model_name, batch)
        self.step()  # warm-up: kernel compilation / cache load and buffer allocation are not timed

    def time_step(self, model_name, batch):
        self.step()


class TrainStepResNet8:
    """ResNet-8 (fastnn.models.resnet8) at batch 64, issue 6's ResNet target."""

    def setup(self):
        self.step = _setup_step("resnet8", 64)
        self.step()

    def time_step(self):
        self.step()


class Inference:
    params = ([1, 64],)
    param_names = ["batch"]

    def setup(self, batch):
        fastnn.manual_seed(0)
        self.model = fastnn.models.lenet5().eval()
        self.x = np.random.default_rng(0).standard_normal((batch, 1, 28, 28), dtype=np.float32)
        self.model.forward(self.x, False)

    def time_lenet5_forward(self, batch):
        self.model.forward(self.x, False)


def peakmem_train_lenet5_b64_20_steps():
    """Peak RSS of the benchmark process after building LeNet-5 + CrossEntropy + Adam and running 20 training
    steps at batch 64: the asv twin of ``fastnn bench --startup``'s peak-memory row (asv's peakmem_ covers the
    whole process, so the imports of this suite's modules count too)."""
    step = _setup_step("lenet5", 64)
    for _ in range(20):
        step()
