"""Command line: ``fastnn train | eval | info | warmup | bench | lr-sweep``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_OUTPUT = "fastnn-model.safetensors"


def _load_data(spec: str, split_seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """'mnist-bundled' or 'mnist:/dir' / 'fashion-mnist:/dir' -> train/val/test (70/20/10, stratified)."""
    from fastnn.data import load, train_val_test

    if spec.startswith("cifar10:"):
        raise SystemExit("fastnn: the CLI's models take 28x28 grey digits; load CIFAR-10 from Python with "
                         "fastnn.data.load('cifar10:/dir') and a model built for 3x32x32 inputs")
    try:
        images, labels = load(spec)
    except ValueError as e:
        raise SystemExit(f"fastnn: {e}") from e
    return train_val_test(images, labels, seed=split_seed)


def _make_optimizer(name: str, params, lr: float, momentum: float, weight_decay: float):
    from fastnn import optim

    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def cmd_train(args: argparse.Namespace) -> int:
    import fastnn
    from fastnn import io, nn
    from fastnn.optim.lr_scheduler import CosineAnnealingLR

    out_dir = Path(args.output).resolve().parent
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK):
        raise OSError(f"cannot write the model to {args.output}: directory {out_dir} does not exist or is not "
                      f"writable (checked before training so no work is lost)")
    fastnn.manual_seed(args.seed)
    data = _load_data(args.data, args.seed)
    model = fastnn.models.MODELS[args.model]().to(args.device)
    loss_fn = nn.CrossEntropyLoss()
    opt = _make_optimizer(args.optimizer, model.parameters(), args.lr, args.momentum, args.weight_decay)
    scheduler = CosineAnnealingLR(opt, T_max=args.epochs) if args.schedule == "cosine" else None
    print(f"training {args.model} ({model.flat.size:,} parameters) on {args.data}: "
          f"{len(data['train'][1])} train / {len(data['val'][1])} val / {len(data['test'][1])} test images, "
          f"{args.optimizer} lr={args.lr} ({args.schedule}), batch {args.batch_size}, {args.epochs} epochs, "
          f"seed {args.seed}, on {args.device}")
    if args.diagnose:
        _diagnose(model, data["val"], args.lr, "before training")
    callbacks = []
    if args.early_stopping:
        from fastnn.callbacks import EarlyStopping

        callbacks.append(EarlyStopping("val_loss", patience=args.early_stopping, restore_best_weights=True))
    augment = None
    if args.augment:
        from fastnn.data.augment import Augment

        augment = Augment(shift=args.augment, rng=args.seed)
    start = time.perf_counter()
    fastnn.fit(model, loss_fn, opt, data["train"], val=data["val"], epochs=args.epochs,
               batch_size=args.batch_size, seed=args.seed, scheduler=scheduler, callbacks=callbacks,
               augment=augment, progress=not args.no_progress)
    seconds = time.perf_counter() - start
    if args.diagnose:
        _diagnose(model, data["val"], args.lr, "after training")
    test = fastnn.evaluate(model, loss_fn, data["test"])
    io.save(model, args.output, metadata={"data": args.data, "split_seed": str(args.seed), "model": args.model})
    print(f"trained in {seconds:.1f} s; test loss {test['loss']:.4f}, test accuracy {test['accuracy']:.2%} "
          f"({len(data['test'][1])} held-out images); saved {args.output}")
    return 0


def _diagnose(model, val: tuple[np.ndarray, np.ndarray], lr: float, when: str) -> None:
    from fastnn import diagnostics

    x, y = val
    rep = diagnostics.report(model, x[:256], y[:256], lr=lr)
    print(f"diagnostics {when} (256 validation images):\n{rep.table()}")
    for w in rep.warnings:
        print(f"warning: {w}")


def cmd_eval(args: argparse.Namespace) -> int:
    import fastnn
    from fastnn import io, nn

    model = io.load(args.model_file)
    meta = io.read_metadata(args.model_file)
    data_spec = args.data or meta.get("data", "mnist-bundled")
    seed = args.seed if args.seed is not None else int(meta.get("split_seed", 0))
    data = _load_data(data_spec, seed)
    result = fastnn.evaluate(model, nn.CrossEntropyLoss(), data[args.split])
    print(f"{args.model_file}: {args.split} split of {data_spec} (seed {seed}): loss {result['loss']:.4f}, "
          f"accuracy {result['accuracy']:.2%} on {len(data[args.split][1])} images")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export a saved model for fastnn.runtime and report its test accuracy next to the float model's."""
    from fastnn import io, runtime
    from fastnn.export import export_model

    model = io.load(args.model_file).eval()
    dtype = "int8" if args.int8 else "float16" if args.fp16 else "float32"
    sizes = export_model(model, args.output, dtype)
    meta = io.read_metadata(args.model_file)
    data = _load_data(meta.get("data", "mnist-bundled"), int(meta.get("split_seed", 0)))
    x, y = data["test"]
    exported = runtime.load(args.output)
    float_acc = float(np.mean(model(x).argmax(axis=1) == y))
    export_acc = float(np.mean(exported.predict(x) == y))
    agree = float(np.mean(model(x).argmax(axis=1) == exported.predict(x)))
    print(f"exported {args.model_file} as {dtype} to {args.output} ({sizes['file']:,} bytes, weights "
          f"{sizes['weights']:,} bytes); test accuracy float {float_acc:.2%}, exported {export_acc:.2%}; "
          f"predictions agree on {agree:.2%} of {len(y)} test images")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import numba

    import fastnn
    import kernels

    print(f"fastnn {fastnn.__version__}, numpy {np.__version__}, numba {numba.__version__}, python "
          f"{sys.version.split()[0]}")
    print(f"threads: numba {numba.get_num_threads()} (layer {numba.config.THREADING_LAYER}), "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, cores {os.cpu_count()}")
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            print(f"  {pool['internal_api']} {pool.get('version')}: {pool['num_threads']} threads "
                  f"({os.path.basename(pool['filepath'])})")
    except ImportError:
        pass
    print(f"numba cache dir: {numba.config.CACHE_DIR or 'next to the kernel sources (in-tree)'}")
    print(f"CUDA: {_cuda_status()}")
    print("kernels: " + ", ".join(f"{name} ({', '.join(f'{b}: {s}' for b, s in op.status().items())})"
                                  for name, op in kernels.OPS.items()))
    return 0


def _cuda_status() -> str:
    from fastnn.backend import cuda_unavailable_reason

    why = cuda_unavailable_reason()
    try:
        from numba import cuda
    except ImportError:
        return f"unusable: {why}"
    impl = f"numba.cuda.implementation={getattr(cuda, 'implementation', 'unknown')}"
    if why is not None:
        return f"{impl}; unusable: {why}"
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return f"{impl}, the simulator (NUMBA_ENABLE_CUDASIM=1): kernels run as Python, for tests only"
    device = cuda.get_current_device()
    name = device.name.decode() if isinstance(device.name, bytes) else device.name
    major, minor = device.compute_capability
    return f"{impl}, device 0: {name}, compute capability {major}.{minor}"


def cmd_check(args: argparse.Namespace) -> int:
    from fastnn.gpucheck import run_check

    return run_check(tiny=args.tiny)


def cmd_warmup(args: argparse.Namespace) -> int:
    """Compile (or load from cache) every kernel the LeNet-5 and MLP training/eval paths use."""
    import fastnn
    from fastnn import nn

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    for name in ("lenet5", "mlp"):
        model = fastnn.models.MODELS[name]()
        loss_fn = nn.CrossEntropyLoss()
        for opt in (fastnn.optim.Adam(model.parameters()), fastnn.optim.SGD(model.parameters(), momentum=0.9)):
            x = rng.standard_normal((2, 1, 28, 28)).astype(np.float32)
            loss_fn(model.forward(x, True), np.array([0, 1]))
            opt.zero_grad()
            model.backward(loss_fn.backward(), input_grad=False)
            opt.step()
        model.forward(x, False)
    print(f"warmup: kernels ready in {time.perf_counter() - start:.2f} s")
    return 0


def cmd_lr_sweep(args: argparse.Namespace) -> int:
    """Short runs at base_lr x each factor from the same initial weights; a table and the chosen rate."""
    from fastnn.lr_sweep import format_factor, lr_sweep, parse_factors

    factors = parse_factors(args.factors)
    data = _load_data(args.data, args.seed)
    n_train = len(data["train"][1]) if args.subset is None else min(args.subset, len(data["train"][1]))
    n_val = len(data["val"][1]) if args.val_subset is None else min(args.val_subset, len(data["val"][1]))
    print(f"lr-sweep: {args.model}, {args.optimizer}, base lr {args.base_lr:g} x "
          f"{{{', '.join(format_factor(float(f)) for f in factors)}}}; {n_train} train / {n_val} val images of "
          f"{args.data}, {args.epochs} epoch(s), batch {args.batch_size}, seed {args.seed}", flush=True)
    last = [time.perf_counter()]

    def report(run) -> None:
        now = time.perf_counter()
        outcome = "diverged" if run.diverged else f"val loss {run.val_loss:.4f}"
        print(f"  lr {run.lr:.4g}: {outcome} ({now - last[0]:.1f} s)", flush=True)
        last[0] = now

    result = lr_sweep(args.model, args.optimizer, base_lr=args.base_lr, factors=factors, epochs=args.epochs,
                      subset=args.subset, val_subset=args.val_subset, batch_size=args.batch_size, seed=args.seed,
                      momentum=args.momentum, weight_decay=args.weight_decay, data=data, on_run=report)
    print()
    print(result.table())
    print(result.summary())
    return 0 if result.chosen is not None else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from fastnn import bench

    return bench.main(args.bench_args)


def _positive_or_all(text: str) -> int | None:
    if text.lower() == "all":
        return None
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a count >= 1 or 'all', got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from fastnn.lr_sweep import optimizer_classes
    from fastnn.models import MODELS

    parser = argparse.ArgumentParser(prog="fastnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model (default: LeNet-5 on the bundled MNIST digits)")
    t.add_argument("--model", choices=sorted(MODELS), default="lenet5")
    t.add_argument("--data", default="mnist-bundled", help="mnist-bundled | mnist:/dir | fashion-mnist:/dir")
    t.add_argument("--epochs", type=int, default=12)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--schedule", choices=("cosine", "constant"), default="cosine",
                   help="learning-rate schedule over the epochs")
    t.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    t.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where the training step runs (cuda: numba-cuda kernels; NUMBA_ENABLE_CUDASIM=1 simulates)")
    t.add_argument("--output", "-o", default=DEFAULT_OUTPUT)
    t.add_argument("--augment", type=int, nargs="?", const=2, default=0, metavar="PIXELS",
                   help="random shift augmentation by up to PIXELS (default 2 when given)")
    t.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE",
                   help="stop when val_loss has not improved for PATIENCE epochs; keep the best weights")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--diagnose", action="store_true",
                   help="print gradient norms, update ratios, dead/saturated units before and after training")
    t.set_defaults(func=cmd_train)
    e = sub.add_parser("eval", help="evaluate a saved model on a data split")
    e.add_argument("model_file")
    e.add_argument("--data", default=None, help="default: the data the model was trained on")
    e.add_argument("--split", choices=("train", "val", "test"), default="test")
    e.add_argument("--seed", type=int, default=None, help="split seed (default: the training seed)")
    e.set_defaults(func=cmd_eval)
    x = sub.add_parser("export", help="export a saved model for the NumPy-only fastnn.runtime")
    x.add_argument("model_file")
    kind = x.add_mutually_exclusive_group()
    kind.add_argument("--fp16", action="store_true", help="float16 weights")
    kind.add_argument("--int8", action="store_true", help="per-channel symmetric int8 weights")
    x.add_argument("--output", "-o", default="fastnn-model.fnx.npz")
    x.set_defaults(func=cmd_export)
    sub.add_parser("info", help="versions, threads, cache dir, CUDA").set_defaults(func=cmd_info)
    sub.add_parser("warmup", help="compile the hot kernels ahead of the first run").set_defaults(func=cmd_warmup)
    c = sub.add_parser("check", help="GPU check: every CUDA kernel vs the CPU, then a timing table vs cuBLAS/PyTorch")
    c.add_argument("--device", choices=("cuda",), default="cuda")
    c.add_argument("--tiny", action="store_true", help="simulator-sized shapes, no timing (NUMBA_ENABLE_CUDASIM=1)")
    c.set_defaults(func=cmd_check)
    s = sub.add_parser("lr-sweep", help="learning-rate search in factors of 3: short runs, a table, a chosen rate")
    s.add_argument("--model", choices=sorted(MODELS), default="mlp")
    s.add_argument("--data", default="mnist-bundled", help="mnist-bundled | mnist:/dir | fashion-mnist:/dir")
    s.add_argument("--optimizer", type=str.lower, choices=sorted(optimizer_classes()), default="sgd")
    s.add_argument("--base-lr", type=float, default=0.01, help="the rate the factors multiply")
    s.add_argument("--factors", default="1/9,1/3,1,3,9", help="comma-separated factors (fractions allowed)")
    s.add_argument("--epochs", type=int, default=1, help="epochs per run")
    s.add_argument("--subset", type=_positive_or_all, default=1000, help="training samples per run ('all': every one)")
    s.add_argument("--val-subset", type=_positive_or_all, default=1000, help="validation samples ('all': every one)")
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    s.add_argument("--weight-decay", type=float, default=0.0)
    s.add_argument("--seed", type=int, default=0, help="initial weights, data split and batch order")
    s.set_defaults(func=cmd_lr_sweep)
    b = sub.add_parser("bench", help="side-by-side timing vs PyTorch CPU and NumPy", add_help=False)
    b.add_argument("bench_args", nargs=argparse.REMAINDER)
    b.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, OSError, RuntimeError) as e:
        print(f"fastnn {args.command}: error: {e}", file=sys.stderr)
        return 2
