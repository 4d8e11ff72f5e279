"""The component-dataset builder on a Dask cluster gives the rows a single process gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from effdl_kit.data import ComponentSpace, build_component_dataset

TINY = ComponentSpace({
    "optimizer": ["sgd", "adam"], "lr": [1e-3, 1e-2], "activation": ["relu", "tanh"],
    "dataset": ["digits"], "epochs": [1], "n_train": [64], "depth": [1], "precision": ["fp32"],
})
#: what depends on the machine or the moment, not on (seed, index)
VOLATILE = {"train_time_s", "wall_time_s", "cpu", "torch_threads"}


@pytest.mark.slow
def test_dask_executor_equals_a_single_process(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    local = build_component_dataset(TINY, n=3, scale="smoke", seed=4, path=tmp_path / "a.jsonl",
                                    max_workers=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = build_component_dataset(TINY, n=3, scale="smoke", seed=4,
                                         path=tmp_path / "b.jsonl",
                                         executor=client.get_executor(), progress=False)
    cols = [c for c in local.columns if c not in VOLATILE]
    assert list(remote.columns) == list(local.columns)
    assert remote[cols].equals(local[cols])
