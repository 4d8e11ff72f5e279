import json
from pathlib import Path

import psutil
import torch

from effdl_kit._core.env import EnvInfo, collect_env


def test_collect_env_reads_this_machine() -> None:
    env = collect_env(note="x")
    assert env.cores_logical == psutil.cpu_count(logical=True)
    assert abs(env.memory_total_gib - psutil.virtual_memory().total / 2**30) < 1e-6
    assert env.torch_threads == torch.get_num_threads()
    assert env.packages["torch"].startswith(torch.__version__.split("+")[0])
    assert "numpy" in env.packages and "effdl-kit" in env.packages
    assert env.extra == {"note": "x"}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists() and "model name" in cpuinfo.read_text():
        assert env.cpu_model in cpuinfo.read_text()
    # no GPU driver here means no GPUs and no error; with one, NVML fills the list
    assert env.cuda_available == torch.cuda.is_available()
    if not torch.cuda.is_available():
        assert env.gpus == ()


def test_env_round_trips_through_json() -> None:
    env = collect_env()
    again = EnvInfo.from_dict(json.loads(json.dumps(env.to_dict())))
    assert again == env
    text = env.summary()
    assert env.cpu_model in text and "memory" in text and "torch" in text


def test_git_revision_in_a_checkout() -> None:
    from effdl_kit._core.env import git_revision

    rev = git_revision()
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists():
        assert rev is not None and len(rev.split("+")[0]) == 12
