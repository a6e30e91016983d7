"""Generator training data streamed from disk, so a meta-training set never has to fit in RAM.

- `TrajectoryFile`: a collected trajectory (`trajectory.safetensors`, each LoRA key → (n_checkpoints, *shape)) as a
  lazy sequence of checkpoints; indexing reads one checkpoint's slices from the memory-mapped file.
- `TaskShard`: one task's training tensors as `.npy` memory maps in `<dir>/<task>/`: `tokens.npy`
  (n_checkpoints, T, r, chunk) normalised parameter tokens, `embeddings.npy` (n_batches, N, L, C) prompt-batch
  embeddings, `pooled.npy` (n_batches, C) their mean over prompts and real tokens (the retrieval key). They are
  written row by row (one checkpoint / one prompt batch in memory at a time) under a temporary name, renamed when
  complete, and reused by a resumed run when their fingerprint matches.

At the paper profile (Qwen2.5-0.5B, all seven projections, N = 128 × 384 tokens) one task is ~2 GB of tokens
(4.4M LoRA parameters × 125 checkpoints) and ~3 GB of embeddings; training reads only the current batch's rows.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from degaml.io import write_json


class TrajectoryFile(Sequence):
    """The checkpoints of a trajectory file, read lazily (one checkpoint per index)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with safe_open(str(self.path), framework="pt") as f:
            self.keys = list(f.keys())
            self._n = int(f.get_slice(self.keys[0]).get_shape()[0])

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index):  # int → one LoRA state dict
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._n))]
        if not -self._n <= index < self._n:
            raise IndexError(index)
        index %= self._n
        with safe_open(str(self.path), framework="pt") as f:
            return {k: f.get_slice(k)[index : index + 1][0].clone() for k in self.keys}

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        with safe_open(str(self.path), framework="pt") as f:
            for i in range(self._n):
                yield {k: f.get_slice(k)[i : i + 1][0].clone() for k in self.keys}


def pooled_embedding(embedding: torch.Tensor) -> torch.Tensor:
    """(N, L, C) prompt-batch embedding → (C,) mean over prompts and real (non-zero-padded) tokens."""
    real = (embedding.abs().sum(-1) > 0).float()  # (N, L)
    return (embedding * real[..., None]).sum((0, 1)) / real.sum().clamp(min=1)


def _write_rows(path: Path, n: int, rows: Callable[[int], torch.Tensor]) -> None:
    """Write `n` rows (each produced on demand) into `path` as a float32 .npy memory map."""
    first = rows(0).float().numpy()
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, *first.shape))
    out[0] = first
    for i in range(1, n):
        out[i] = rows(i).float().numpy()
    out.flush()
    del out


class TaskShard:
    """One task's tokens, prompt-batch embeddings and pooled embeddings, memory-mapped from disk."""

    FILES = ("tokens.npy", "embeddings.npy", "pooled.npy")

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._tokens = np.load(self.directory / "tokens.npy", mmap_mode="r", allow_pickle=False)
        self._embeddings = np.load(self.directory / "embeddings.npy", mmap_mode="r", allow_pickle=False)
        self.pooled = torch.from_numpy(np.load(self.directory / "pooled.npy", allow_pickle=False))  # (n_batches, C)

    @property
    def n_checkpoints(self) -> int:
        return int(self._tokens.shape[0])

    @property
    def n_batches(self) -> int:
        return int(self._embeddings.shape[0])

    def tokens(self, index: int) -> torch.Tensor:
        """(T, r, chunk) tokens of one checkpoint."""
        return torch.from_numpy(np.array(self._tokens[index]))

    def embedding(self, index: int) -> torch.Tensor:
        """(N, L, C) embedding of one prompt batch."""
        return torch.from_numpy(np.array(self._embeddings[index]))

    def mean_tokens(self, indices: Sequence[int]) -> torch.Tensor:
        """(T, r, chunk) mean of the given checkpoints' tokens (accumulated one checkpoint at a time)."""
        total = torch.zeros(self._tokens.shape[1:], dtype=torch.float64)
        for i in indices:
            total += self.tokens(i).double()
        return (total / max(1, len(indices))).float()

    @classmethod
    def build(cls, directory: Path, fingerprint: dict, n_checkpoints: int, tokens: Callable[[int], torch.Tensor],
              n_batches: int, embedding: Callable[[int], torch.Tensor]) -> TaskShard:
        """Write (or reuse, when `fingerprint` matches) a shard; rows are produced on demand by the callables."""
        directory = Path(directory)
        stamp = directory / "fingerprint.json"
        if stamp.is_file() and json.loads(stamp.read_text()) == fingerprint and all((directory / f).is_file() for f in cls.FILES):
            return cls(directory)
        tmp = directory.with_name(directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _write_rows(tmp / "tokens.npy", n_checkpoints, tokens)
        _write_rows(tmp / "embeddings.npy", n_batches, embedding)
        embeddings = np.load(tmp / "embeddings.npy", mmap_mode="r", allow_pickle=False)
        pooled = torch.stack([pooled_embedding(torch.from_numpy(np.array(e))) for e in embeddings])
        np.save(tmp / "pooled.npy", pooled.numpy(), allow_pickle=False)
        del embeddings
        write_json(tmp / "fingerprint.json", fingerprint, indent=None)
        shutil.rmtree(directory, ignore_errors=True)
        tmp.rename(directory)
        return cls(directory)
