"""ResNet-8 on the bundled MNIST digits: the issue-4 recipe (70/20/10 stratified split, Adam, cosine schedule
over the epochs, 15 epochs) -> test accuracy (target >= 96.5%; PyTorch with the same recipe: 95.8-97.4%)
and the time per training step.

    python benchmarks/train_resnet8.py [--epochs 15] [--batch-size 64] [--lr 2e-3] [--seed 0]
    python benchmarks/train_resnet8.py --step-only   # just the side-by-side training step vs PyTorch

The training step (forward + cross-entropy + zero_grad + backward + Adam) is also timed side by side with
PyTorch CPU running the same architecture, in this one process (``compare_step``).

``tests/fastnn/test_models.py::test_resnet8_recipe_reaches_target_accuracy`` (slow tier) runs ``run()``.
Not an asv benchmark: nothing here is collected by asv (no time_/peakmem_/track_ names).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import fastnn  # noqa: I001  # first: thread budget (OMP_WAIT_POLICY) and numba cache dir
from fastnn import nn, optim
from fastnn.bench import torch_resnet8
from fastnn.data.bundled import load_bundled_mnist
from fastnn.data.split import train_val_test
from fastnn.optim.lr_scheduler import CosineAnnealingLR

TARGET_ACCURACY = 0.965


def run(epochs: int = 15, batch_size: int = 64, lr: float = 2e-3, seed: int = 0, progress: bool = False) -> dict:
    """Train ResNet-8 with the recipe; returns test/val accuracy, loss, seconds and ms per step."""
    fastnn.manual_seed(seed)
    images, labels = load_bundled_mnist()
    data = train_val_test(images, labels, (0.7, 0.2, 0.1), seed=seed)
    model = fastnn.models.resnet8()
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=lr)
    scheduler = CosineAnnealingLR(opt, T_max=epochs)
    n_train = len(data["train"][1])
    steps = epochs * -(-n_train // batch_size)
    start = time.perf_counter()
    history = fastnn.fit(model, loss_fn, opt, data["train"], val=data["val"], epochs=epochs, batch_size=batch_size,
                         seed=seed, scheduler=scheduler, progress=progress)
    seconds = time.perf_counter() - start
    test = fastnn.evaluate(model, loss_fn, data["test"])
    return {"test_accuracy": test["accuracy"], "test_loss": test["loss"],
            "val_accuracy": history["val_accuracy"][-1], "train_loss": history["loss"],
            "train_seconds": seconds, "steps": steps, "ms_per_step": 1e3 * seconds / steps,
            "parameters": model.flat.size, "train_images": n_train, "batch_size": batch_size}


def compare_step(batch_size: int = 64, repeats: int = 30, threads: int | None = None) -> dict:
    """Median ms of one ResNet-8 training step, fastnn vs PyTorch CPU (same weights, same threads), interleaved."""
    import torch

    threads = threads or fastnn.Backend("cpu").num_threads()
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch_size, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch_size)
    tm = torch_resnet8(torch)
    fm = fastnn.models.resnet8()
    fm.load_state_dict(tm.state_dict())
    loss_fn, opt = nn.CrossEntropyLoss(), optim.Adam(fm.parameters(), lr=1e-3)
    topt = torch.optim.Adam(tm.parameters(), lr=1e-3)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def f_step():
        loss_fn(fm.forward(x, True), y)
        opt.zero_grad()
        fm.backward(loss_fn.backward(), input_grad=False)
        opt.step()

    def t_step():
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tm(tx), ty).backward()
        topt.step()

    times: dict[str, list[float]] = {"fastnn": [], "torch": []}
    for _ in range(3):  # warm-up: compilation / cache load, buffers
        f_step()
        t_step()
    for _ in range(repeats):
        for name, fn in (("fastnn", f_step), ("torch", t_step)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    f_ms, t_ms = (1e3 * statistics.median(times[k]) for k in ("fastnn", "torch"))
    return {"fastnn_ms": f_ms, "torch_ms": t_ms, "speedup": t_ms / f_ms, "batch_size": batch_size, "threads": threads}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action="store_true")
    p.add_argument("--step-only", action="store_true", help="only the side-by-side training step vs PyTorch")
    args = p.parse_args(argv)
    c = compare_step(args.batch_size)
    print(f"ResNet-8 training step, batch {c['batch_size']}, {c['threads']} threads (median, interleaved): fastnn "
          f"{c['fastnn_ms']:.1f} ms, PyTorch CPU {c['torch_ms']:.1f} ms -> fastnn {c['speedup']:.2f}x PyTorch's speed")
    if args.step_only:
        return 0
    r = run(args.epochs, args.batch_size, args.lr, args.seed, args.progress)
    print(f"ResNet-8 ({r['parameters']:,} parameters), bundled MNIST {r['train_images']} train images, Adam "
          f"lr={args.lr} cosine, batch {r['batch_size']}, {args.epochs} epochs, seed {args.seed} "
          f"({fastnn.Backend('cpu').num_threads()} threads)")
    print(f"test accuracy {100 * r['test_accuracy']:.2f}% (target >= {100 * TARGET_ACCURACY:.1f}%), "
          f"test loss {r['test_loss']:.4f}, val accuracy {100 * r['val_accuracy']:.2f}%")
    print(f"training {r['train_seconds']:.1f} s for {r['steps']} steps: {r['ms_per_step']:.1f} ms per step "
          f"(incl. per-epoch validation)")
    return 0 if r["test_accuracy"] >= TARGET_ACCURACY else 1


if __name__ == "__main__":
    raise SystemExit(main())
