"""Native attacks vs ART vs a plain hand-written torch loop, on the same model and batch.

FGSM, PGD-20 (L∞) and Carlini–Wagner L2. Prints seconds, images per second and the ratios
(goal: native within 1.05× of the plain loop, and faster than ART). Runs on CUDA when a GPU
is visible, else on the CPU.

    python benchmarks/attacks.py [--images 1024] [--cw-images 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))

from lab_attacks.art_evasion import art_classifier  # noqa: E402
from lab_attacks.carlini_wagner import carlini_wagner  # noqa: E402
from lab_attacks.fgsm import fgsm  # noqa: E402
from lab_attacks.pgd import pgd  # noqa: E402
from lab_data.tasks import load_digits, train_test_split  # noqa: E402
from lab_models.tasks import train_model  # noqa: E402

EPS, STEP, STEPS = 0.1, 0.02, 20
CW = {"binary_search_steps": 5, "max_iter": 20, "learning_rate": 0.1, "initial_const": 0.1}


def plain_fgsm(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    F.cross_entropy(model(x), y).backward()
    return (x + EPS * x.grad.sign()).clamp(0, 1).detach()


def plain_pgd(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x_adv = x.clone()
    for _ in range(STEPS):
        x_adv.requires_grad_(True)
        F.cross_entropy(model(x_adv), y).backward()
        with torch.no_grad():
            x_adv = (x_adv + STEP * x_adv.grad.sign()).clamp(0, 1)
            x_adv = (x + (x_adv - x).clamp(-EPS, EPS)).detach()
    return x_adv


def plain_cw(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    n = len(x)
    w0 = torch.atanh((x * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6))
    const, lower, upper = torch.full((n,), CW["initial_const"]), torch.zeros(n), torch.full((n,), 1e10)
    best, best_l2 = x.clone(), torch.full((n,), torch.inf)
    onehot = F.one_hot(y, 10).bool()
    for _ in range(CW["binary_search_steps"]):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=CW["learning_rate"])
        found = torch.zeros(n, dtype=torch.bool)
        for _ in range(CW["max_iter"]):
            xn = (torch.tanh(w) + 1) / 2
            logits = model(xn)
            margin = (logits[onehot] - logits.masked_fill(onehot, -torch.inf).amax(1)).clamp(min=0)
            l2 = ((xn - x) ** 2).sum((1, 2, 3))
            opt.zero_grad()
            (l2 + const * margin).sum().backward()
            opt.step()
            with torch.no_grad():
                ok = (logits.argmax(1) != y) & (margin <= 0)
                better = ok & (l2 < best_l2)
                best_l2 = torch.where(better, l2, best_l2)
                best[better] = xn[better].detach()
                found |= ok
        upper = torch.where(found, torch.minimum(upper, const), upper)
        lower = torch.where(found, lower, torch.maximum(lower, const))
        const = torch.where(upper < 1e9, (lower + upper) / 2, const * 10)
    return best


def timed(fn: Callable[[], object], repeat: int) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--cw-images", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from art.attacks.evasion import CarliniL2Method, FastGradientMethod, ProjectedGradientDescentPyTorch

    split = train_test_split(load_digits(), seed=0)
    model = train_model(split.train, epochs=5, seed=0)
    device = next(model.parameters()).device
    data = split.train.take(np.arange(min(args.images, len(split.train))))
    small = data.take(np.arange(args.cw_images))
    x, y = torch.from_numpy(data.x).to(device), torch.from_numpy(data.y).to(device)
    xs, ys = torch.from_numpy(small.x).to(device), torch.from_numpy(small.y).to(device)
    onehot = np.eye(10, dtype=np.float32)[data.y]
    classifier = art_classifier(model, data)
    n = len(data)
    rows = [
        (
            "FGSM",
            n,
            lambda: fgsm(model, data, eps=EPS, batch_size=n),
            lambda: FastGradientMethod(classifier, eps=EPS, eps_step=EPS, batch_size=n).generate(
                data.x, y=onehot
            ),
            lambda: plain_fgsm(model, x, y),
        ),
        (
            "PGD-20",
            n,
            lambda: pgd(model, data, eps=EPS, eps_step=STEP, steps=STEPS, batch_size=n),
            lambda: ProjectedGradientDescentPyTorch(
                classifier,
                eps=EPS,
                eps_step=STEP,
                max_iter=STEPS,
                num_random_init=0,
                batch_size=n,
                verbose=False,
            ).generate(data.x, y=onehot),
            lambda: plain_pgd(model, x, y),
        ),
        (
            "CW-L2",
            len(small),
            lambda: carlini_wagner(model, small, batch_size=len(small), **CW),
            lambda: CarliniL2Method(
                classifier,
                batch_size=len(small),
                verbose=False,
                **{
                    "binary_search_steps": CW["binary_search_steps"],
                    "max_iter": CW["max_iter"],
                    "learning_rate": CW["learning_rate"],
                    "initial_const": CW["initial_const"],
                },
            ).generate(small.x),
            lambda: plain_cw(model, xs, ys),
        ),
    ]
    print(f"device: {device}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(
        f"{'attack':<8} {'images':>6} {'native':>9} {'ART':>9} {'plain':>9} {'native img/s':>13} "
        f"{'native/plain':>13} {'ART/native':>11}"
    )
    for name, count, native, art, plain in rows:
        t_native, t_plain = timed(native, args.repeat), timed(plain, args.repeat)
        t_art = timed(art, max(1, args.repeat // 2) if name == "CW-L2" else args.repeat)
        print(
            f"{name:<8} {count:>6} {t_native:>8.3f}s {t_art:>8.3f}s {t_plain:>8.3f}s "
            f"{count / t_native:>13.0f} {t_native / t_plain:>12.2f}x {t_art / t_native:>10.2f}x"
        )


if __name__ == "__main__":
    main()
