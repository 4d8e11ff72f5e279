"""Overhead of the BTTackler diagnosis on the bench's CNN task (digits, CPU, one thread).

The same training (same seed: same init, data order and batches) runs alternately without
and with a :class:`~effdl_kit.diagnosis.DiagnosisHook` (never stopping, so both runs do the
same work); the training time per epoch (``EpochRecord.time_s``, evaluation excluded) is
compared run by run and the median of the per-pair ratios reported. Target (the paper's
claim): <= 1.05. Also printed: the time spent inside the hook itself, per plain epoch.
The hook's per-batch work is two fused ``_foreach_norm`` calls plus a few tensor ops on the
model's device; its per-epoch work one host copy and the indicator rules.
"""

from __future__ import annotations

import statistics
import time

import torch

from effdl_kit.diagnosis import DiagnosisHook
from effdl_kit.training import Hook, TrainConfig, TrainState, load_data, train

EPOCHS = 4
REPEATS = 9
TARGET = 1.05


class _TimedHook(DiagnosisHook):
    """A DiagnosisHook that also clocks the time spent inside its own methods."""

    def __init__(self) -> None:
        super().__init__(stop=False)
        self.inside = 0.0

    def after_backward(self, state: TrainState) -> None:
        t0 = time.perf_counter()
        super().after_backward(state)
        self.inside += time.perf_counter() - t0

    def epoch_end(self, state: TrainState) -> None:
        t0 = time.perf_counter()
        super().epoch_end(state)
        self.inside += time.perf_counter() - t0


def _epoch_time(cfg: TrainConfig, hooks: list[Hook]) -> float:
    """Median training seconds per epoch of one run."""
    res = train(cfg, hooks=hooks)
    return statistics.median(r.time_s for r in res.history)


def main() -> None:
    cfg = TrainConfig(dataset="digits", model="cnn", epochs=EPOCHS, batch_size=64, threads=1)
    torch.set_num_threads(1)
    data = load_data("digits")
    n_batches = -(-len(data.x_train) // cfg.batch_size)
    _epoch_time(cfg, []), _epoch_time(cfg, [DiagnosisHook(stop=False)])  # warm-up
    off, on, ratios, inside = [], [], [], []
    for i in range(REPEATS):  # alternating, order flipped every repeat, so drift hits both
        hook = _TimedHook()
        if i % 2:
            d, o = _epoch_time(cfg, [hook]), _epoch_time(cfg, [])
        else:
            o, d = _epoch_time(cfg, []), _epoch_time(cfg, [hook])
        off.append(o)
        on.append(d)
        ratios.append(d / o)
        inside.append(hook.inside / EPOCHS / o)
    o, d = statistics.median(off), statistics.median(on)
    ratio = statistics.median(ratios)
    print(f"digits CNN, {EPOCHS} epochs x {n_batches} batches, 1 thread, CPU, "
          f"{REPEATS} alternating on/off pairs")
    print(f"  without diagnosis   : {1e3 * o:8.2f} ms/epoch (median)")
    print(f"  with DiagnosisHook  : {1e3 * d:8.2f} ms/epoch (median)")
    print(f"  ratio diagnosis/plain = {ratio:.3f}  (median of per-pair ratios; target <= "
          f"{TARGET:.2f}: {'met' if ratio <= TARGET else 'NOT met'})")
    print(f"  time inside the hook  = {statistics.median(inside):.3%} of a plain epoch "
          f"(median; the part of the overhead that machine load cannot inflate much)")


if __name__ == "__main__":
    main()
