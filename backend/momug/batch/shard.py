"""Which slice of the batch this process does: one process alone, or one of N under
`accelerate launch` (torchrun sets WORLD_SIZE; Accelerate reads it and sets up the process group)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

# The last barrier waits for the slowest shard; gloo/NCCL's default 30 minutes is too short
# for a long batch on a slow device.
BARRIER_TIMEOUT = timedelta(hours=48)


@dataclass
class Shard:
    rank: int = 0
    world: int = 1
    device: str | None = None  # the device Accelerate assigned, None when alone
    _accelerator: object = field(default=None, repr=False)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def take(self, items: list) -> list:
        """Every world-th item from rank on: balanced shards, decided identically by every process."""
        return items[self.rank::self.world]

    def barrier(self) -> None:
        if self._accelerator is not None:
            self._accelerator.wait_for_everyone()

    def close(self) -> None:
        if self._accelerator is None:
            return
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        self._accelerator = None


def current_shard() -> Shard:
    """This process's shard. Accelerate is only imported when a launcher started several processes."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        world = 1
    if world <= 1:
        return Shard()
    import torch
    from accelerate import Accelerator
    from accelerate.utils import InitProcessGroupKwargs

    # cpu=True on machines without CUDA: otherwise Accelerate ignores the torchrun world and
    # every process would think it is alone and do the whole batch.
    acc = Accelerator(cpu=not torch.cuda.is_available(),
                      kwargs_handlers=[InitProcessGroupKwargs(timeout=BARRIER_TIMEOUT)])
    # Accelerate may name the CPU "cpu:0"; the pipeline takes "cpu" or "cuda:N".
    device = "cpu" if acc.device.type == "cpu" else str(acc.device)
    return Shard(acc.process_index, acc.num_processes, device, acc)
