"""fastnn.models: resnet8 and vgg_small vs the equivalent PyTorch architectures (state_dict, forward, backward,
eval mode), parameter counts, the MODELS registry, a short ResNet-8 training smoke test and (slow tier) the
issue-4 ResNet-8 recipe on the bundled MNIST digits."""

import fastnn  # noqa: F401, I001  # isort: skip  (first: kernels set the thread policy before OpenMP starts)

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from fastnn import io, models, nn, optim

torch.set_num_threads(1)


ROOT = Path(__file__).resolve().parents[2]


class TorchResidual(torch.nn.Module):
    def __init__(self, block, shortcut=None, activation=None):
        super().__init__()
        self.block, self.shortcut, self.activation = block, shortcut, activation

    def forward(self, x):
        y = self.block(x) + (x if self.shortcut is None else self.shortcut(x))
        return y if self.activation is None else self.activation(y)


def torch_basic_block(cin, cout, stride=1):
    t = torch.nn
    block = t.Sequential(t.Conv2d(cin, cout, 3, stride, 1, bias=False), t.BatchNorm2d(cout), t.ReLU(),
                         t.Conv2d(cout, cout, 3, 1, 1, bias=False), t.BatchNorm2d(cout))
    shortcut = None
    if stride != 1 or cin != cout:
        shortcut = t.Sequential(t.Conv2d(cin, cout, 1, stride, bias=False), t.BatchNorm2d(cout))
    return TorchResidual(block, shortcut, t.ReLU())


def torch_resnet8(num_classes=10, in_channels=1):
    t = torch.nn
    return t.Sequential(t.Conv2d(in_channels, 16, 3, padding=1, bias=False), t.BatchNorm2d(16), t.ReLU(),
                        torch_basic_block(16, 16), torch_basic_block(16, 32, 2), torch_basic_block(32, 64, 2),
                        t.AdaptiveAvgPool2d((1, 1)), t.Flatten(), t.Linear(64, num_classes))


def torch_vgg_small(num_classes=10, in_channels=1):
    t = torch.nn
    return t.Sequential(t.Conv2d(in_channels, 16, 3, padding=1), t.ReLU(), t.Conv2d(16, 16, 3, padding=1), t.ReLU(),
                        t.MaxPool2d(2), t.Conv2d(16, 32, 3, padding=1), t.ReLU(), t.Conv2d(32, 32, 3, padding=1),
                        t.ReLU(), t.MaxPool2d(2), t.Flatten(), t.Linear(32 * 7 * 7, 128), t.ReLU(),
                        t.Linear(128, num_classes))


ARCHS = {"resnet8": (models.resnet8, torch_resnet8, 77754), "vgg_small": (models.vgg_small, torch_vgg_small, 218490)}
ARCH_PARAMS = ["resnet8", "vgg_small"]


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def close(actual, expected, what="", atol=1e-4, rtol=1e-4):
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def pair(arch, seed=0, **kwargs):
    make, tmake, _ = ARCHS[arch]
    torch.manual_seed(seed)
    tm = tmake(**kwargs)
    with torch.no_grad():  # non-trivial BN affine parameters, so a gamma/beta mix-up cannot pass
        for name, p in tm.named_parameters():
            if name.endswith("weight") and p.ndim == 1:
                p.uniform_(0.5, 1.5)
            elif name.endswith("bias"):
                p.uniform_(-0.2, 0.2)
    fm = make(**kwargs)
    fm.load_state_dict(tm.state_dict())
    return fm, tm


@pytest.mark.parametrize("arch", ARCH_PARAMS)
def test_state_dict_keys_shapes_and_parameter_count_match_torch(arch):
    make, tmake, count = ARCHS[arch]
    fm, tm = make(), tmake()
    ours, theirs = fm.state_dict(), tm.state_dict()
    assert list(ours) == list(theirs)
    for k, v in theirs.items():
        assert ours[k].shape == tuple(v.shape), k
    assert [n for n, _ in fm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert fm.flat.size == sum(p.numel() for p in tm.parameters()) == count
    assert f"{count:,}" in fm.summary((1, 1, 28, 28))


@pytest.mark.parametrize("arch", ARCH_PARAMS)
@pytest.mark.parametrize("n", [2, 5])
def test_train_mode_forward_backward_match_torch(arch, n):
    fm, tm = pair(arch, seed=n)
    rng = np.random.default_rng(n)
    x = randn(rng, n, 1, 28, 28)
    y = fm.forward(x, True)
    tx = torch.tensor(x, requires_grad=True)
    ty = tm(tx)
    close(y, ty, "logits")
    dy = randn(rng, *y.shape)
    dx = fm.backward(dy)
    ty.backward(torch.from_numpy(dy))
    close(dx, tx.grad, "dx", atol=1e-5)
    tparams = dict(tm.named_parameters())
    for name, p in fm.named_parameters():
        close(p.grad, tparams[name].grad, f"grad {name}", atol=2e-4)


def test_resnet8_running_stats_and_eval_mode_match_torch():
    """Three training forwards update the BN running statistics like torch; eval then uses them."""
    fm, tm = pair("resnet8", seed=7)
    rng = np.random.default_rng(7)
    for _ in range(3):
        x = randn(rng, 4, 1, 28, 28)
        fm.forward(x, True)
        tm(torch.from_numpy(x))
    ours, theirs = fm.state_dict(), tm.state_dict()
    for k, v in theirs.items():
        if "running" in k:
            close(ours[k], v, k, atol=1e-5)
        elif "num_batches_tracked" in k:
            assert int(np.asarray(ours[k])) == int(v) == 3, k
    fm.eval()
    tm.eval()
    x = randn(rng, 3, 1, 28, 28)
    close(fm(x), tm(torch.from_numpy(x)), "eval logits")


@pytest.mark.parametrize("arch", ARCH_PARAMS)
def test_other_class_and_channel_counts(arch):
    fm, tm = pair(arch, num_classes=3, in_channels=2)
    x = randn(np.random.default_rng(8), 2, 2, 28, 28)
    assert fm.output_shape(x.shape) == (2, 3)
    close(fm.forward(x, True), tm(torch.from_numpy(x)), "logits")


@pytest.mark.parametrize("arch", ARCH_PARAMS)
def test_registered_and_save_load_round_trip(tmp_path, arch):
    assert models.MODELS[arch] is ARCHS[arch][0]
    fastnn.manual_seed(3)
    model = models.MODELS[arch]()
    model.forward(randn(np.random.default_rng(9), 4, 1, 28, 28), True)  # non-default running stats
    io.save(model, tmp_path / "m.safetensors")
    loaded = io.load(tmp_path / "m.safetensors")
    assert loaded.config() == model.config()
    for (k1, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k1 == k2 and np.array_equal(a, b), k1
    x = randn(np.random.default_rng(10), 3, 1, 28, 28)
    np.testing.assert_array_equal(loaded.eval()(x), model.eval()(x))


def test_lenet5_and_mlp_still_registered():
    assert {"lenet5", "mlp", "vgg_small", "resnet8"} <= set(models.MODELS)


def test_resnet8_blocks_and_shortcuts():
    m = models.resnet8()
    blocks = [m[3], m[4], m[5]]
    assert all(isinstance(b, nn.Residual) for b in blocks)
    assert blocks[0].shortcut is None and blocks[1].shortcut is not None and blocks[2].shortcut is not None
    assert [b.output_shape((1, c, s, s)) for b, c, s in zip(blocks, (16, 16, 32), (28, 28, 14))] == [
        (1, 16, 28, 28), (1, 32, 14, 14), (1, 64, 7, 7)]
    assert isinstance(m[6], nn.AdaptiveAvgPool2d) and m[6].output_size == (1, 1)


def test_resnet8_two_epoch_smoke_training_lowers_the_loss():
    """500 bundled digits, 2 epochs of Adam: the training loss falls and the accuracy is well past chance (10%)."""
    from fastnn.data.bundled import load_bundled_mnist
    from fastnn.data.split import train_val_test

    images, labels = load_bundled_mnist()
    idx = np.random.default_rng(0).permutation(len(labels))[:500]
    data = train_val_test(images[idx], labels[idx], (0.8, 0.1, 0.1), seed=0)
    fastnn.manual_seed(0)
    model = models.resnet8()
    loss_fn = nn.CrossEntropyLoss()
    before = fastnn.evaluate(model, loss_fn, data["train"])["loss"]
    history = fastnn.fit(model, loss_fn, optim.Adam(model.parameters(), lr=2e-3), data["train"], epochs=2,
                         batch_size=32, seed=0, progress=False)
    assert history["loss"][1] < 0.9 * history["loss"][0] and history["accuracy"][1] > 0.35, history.history
    after = fastnn.evaluate(model, loss_fn, data["train"])  # eval mode: BN running statistics
    assert after["loss"] < before, (before, after)


def _recipe():
    spec = importlib.util.spec_from_file_location("train_resnet8", ROOT / "benchmarks" / "train_resnet8.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_resnet8_recipe_reaches_target_accuracy():
    """Issue 4: ResNet-8, bundled MNIST 70/20/10, Adam + cosine, 15 epochs -> >= 96.5% test accuracy."""
    recipe = _recipe()
    result = recipe.run(epochs=15)
    assert result["test_accuracy"] >= recipe.TARGET_ACCURACY, result
