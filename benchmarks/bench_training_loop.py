"""Overhead of the bench's hookable loop against a plain hand-written PyTorch loop.

Both train the same CNN (same init, same data, same batch order source) on digits for the same
number of epochs; the reference loop has no hooks, no state object, no per-batch metric
bookkeeping. The ratio kit/reference is the price of the loop's machinery (target: <= 1.10).
Also measured: the kit's loop with 5 no-op hooks attached at every event.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from effdl_kit.training import Hook, TrainConfig, build_model, load_data, train

EPOCHS = 3
REPEATS = 5


def _reference(cfg: TrainConfig) -> float:
    """Plain loop: same model, data, optimizer; returns training seconds over all epochs."""
    data = load_data(cfg.dataset, seed=cfg.seed)
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        model = build_model(cfg.model, dict(cfg.model_params), data.input_shape, data.output_dim)
        x = torch.as_tensor(data.x_train)
        y = torch.as_tensor(data.y_train)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        g = torch.Generator().manual_seed(cfg.seed + 1)
        total = 0.0
        for _ in range(cfg.epochs):
            model.train()
            t0 = time.perf_counter()
            perm = torch.randperm(len(x), generator=g)
            for i in range(0, len(x), cfg.batch_size):
                idx = perm[i: i + cfg.batch_size]
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            total += time.perf_counter() - t0
    return total


def _kit(cfg: TrainConfig, hooks: list[Hook]) -> float:
    res = train(cfg, hooks=hooks)
    return sum(r.time_s for r in res.history)


def main() -> None:
    cfg = TrainConfig(dataset="digits", model="cnn", epochs=EPOCHS, batch_size=64, threads=1)
    torch.set_num_threads(1)
    data = load_data("digits")
    n_batches = -(-len(data.x_train) // cfg.batch_size)
    _kit(cfg, []), _reference(cfg)  # warm-up
    ref, kit, hooked = [], [], []
    for _ in range(REPEATS):  # interleaved so drift hits all three alike
        ref.append(_reference(cfg))
        kit.append(_kit(cfg, []))
        hooked.append(_kit(cfg, [Hook() for _ in range(5)]))
    r, k, h = (statistics.median(v) for v in (ref, kit, hooked))
    print(f"digits CNN, {EPOCHS} epochs x {n_batches} batches, 1 thread, median of {REPEATS}")
    print(f"  reference loop      : {r:8.3f} s  ({1e3 * r / (EPOCHS * n_batches):.2f} ms/batch)")
    print(f"  kit loop, no hooks  : {k:8.3f} s  ratio kit/reference = {k / r:.3f}")
    print(f"  kit loop, 5 hooks   : {h:8.3f} s  ratio kit/reference = {h / r:.3f}")


if __name__ == "__main__":
    main()
