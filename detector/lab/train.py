"""Train a global TCN quantile forecaster on many series (files and/or the synthetic corpus).

Every series is normalised with ``tcnad.detector.normalize`` exactly as a stream is while
streaming; the model learns to forecast ``z_{t+1}`` from ``z_{<=t}``. Windows are sampled
across series; a window starting at a series' first reading counts at every position (zero
padding is then exact), any other window only where its full receptive field is inside it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from tcnad.detector.arrays import F32, F64
from tcnad.detector.checkpoint import save_checkpoint
from tcnad.detector.errors import DetectorError
from tcnad.detector.lab import synthetic
from tcnad.detector.lab.tables import Table, TableError, read_table, skipped_summary
from tcnad.detector.model import TCN, fold, pinball_loss
from tcnad.detector.normalize import normalize_series
from tcnad.detector.spec import TCNSpec
from tcnad.detector.streaming import resolve_device

log = logging.getLogger(__name__)
Batch = tuple[torch.Tensor, ...]


class TrainingDataError(DetectorError, ValueError):
    """Training series are missing, unreadable or have the wrong number of values."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (stored in the checkpoint's metadata)."""

    out: str
    spec: TCNSpec = field(default_factory=TCNSpec)
    data_dirs: tuple[str, ...] = ()
    synthetic_series: int = 0
    synthetic_length: int = 4096
    window: int = 2048
    start_fraction: float = 0.25
    batch_size: int = 16
    epochs: int = 30
    steps_per_epoch: int = 40
    val_windows: int = 32
    val_fraction: float = 0.15
    lr: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 5
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    max_minutes: float = 0.0
    skip_bad_rows: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["spec"] = self.spec.to_dict()
        out["data_dirs"] = list(self.data_dirs)
        return out


def read_series_file(path: Path, n_values: int | None = None, skip_bad_rows: bool = False) -> F64:
    """A series file (``tables.read_table``: CSV or Parquet, a timestamp column, then one
    column per value, rows in time order) -> ``(T, N)``; ``n_values``: the N wanted. A bad
    row raises TrainingDataError naming it, unless ``skip_bad_rows``."""
    return _read(path, n_values, skip_bad_rows).values


def _read(path: Path, n_values: int | None, skip_bad_rows: bool) -> Table:
    wanted = f"the model takes {n_values} values per reading, --n-inputs"
    try:
        return read_table(path, n_values=n_values, wanted=wanted, skip_bad_rows=skip_bad_rows)
    except TableError as exc:
        raise TrainingDataError(str(exc)) from exc


def load_series(cfg: TrainConfig) -> list[F64]:
    """Series from ``cfg.data_dirs`` (``*.csv``, ``*.parquet``, recursively) plus the
    synthetic corpus; each ``(T, n_inputs)``. Rows skipped (``cfg.skip_bad_rows``) are
    logged in one line."""
    n = cfg.spec.n_inputs
    out: list[F64] = []
    tables: list[Table] = []
    for d in cfg.data_dirs:
        files = sorted(p for p in Path(d).rglob("*") if p.suffix in (".csv", ".parquet"))
        if not files:
            raise TrainingDataError(f"no .csv or .parquet series under {d}")
        for f in files:
            tables.append(_read(f, n, cfg.skip_bad_rows))
            if len(tables[-1]) >= 16:
                out.append(tables[-1].values)
    summary = skipped_summary(tables)
    if summary:
        log.warning("%s", summary)
    if cfg.synthetic_series:
        out += synthetic.generate_corpus(
            cfg.synthetic_series, cfg.synthetic_length, cfg.seed, n_inputs=n
        )
    if not out:
        raise TrainingDataError("no training series: give --data DIR and/or --synthetic N")
    return out


class WindowSampler:
    """Training/validation windows over normalised series.

    Each series ``z (T, N)`` is split in time: targets before ``(1 - val_fraction) T`` train,
    later ones validate. A window is inputs ``(W, N)``, targets ``(W, N)`` (next input) and
    a mask ``(W,)`` of positions that count.
    """

    def __init__(self, zs: list[F32], cfg: TrainConfig) -> None:
        self.zs, self.cfg = zs, cfg
        self.rf = cfg.spec.receptive_field
        lengths = np.array([len(z) - 1 for z in zs], dtype=np.float64)
        self.split = np.floor(lengths * (1 - cfg.val_fraction)).astype(np.int64)
        self.weights = lengths / lengths.sum()

    def batch(self, rng: np.random.Generator, size: int, val: bool) -> tuple[torch.Tensor, ...]:
        w, n = self.cfg.window, self.cfg.spec.n_inputs
        x = np.zeros((size, w, n), np.float32)
        y = np.zeros((size, w, n), np.float32)
        mask = np.zeros((size, w), np.float32)
        for i in range(size):
            k = int(rng.choice(len(self.zs), p=self.weights))
            z, split = self.zs[k], int(self.split[k])
            lo, hi = (split, len(z) - 1) if val else (0, split)  # target index range
            at_start = not val and rng.random() < self.cfg.start_fraction
            end = min(hi, w) if at_start else int(rng.integers(lo + 1, max(hi, lo + 1) + 1))
            start = max(0, end - w)
            seg = z[start : end + 1]
            m = len(seg) - 1
            x[i, :m], y[i, :m] = seg[:-1], seg[1:]
            pos = np.arange(m) + start
            mask[i, :m] = ((start == 0) | (np.arange(m) >= self.rf - 1)) & (pos + 1 > lo)
        return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(mask)


def _evaluate(model: TCN, batches: list[Batch], levels: torch.Tensor) -> float:
    model.eval()
    total = 0.0
    with torch.no_grad():
        for x, y, m in batches:
            total += float(pinball_loss(model(x), y, levels, m))
    model.train()
    return total / max(len(batches), 1)


def _prepare(cfg: TrainConfig, device: torch.device) -> tuple[WindowSampler, list[Batch]]:
    """Load and normalise the series; fixed validation batches (own seed)."""
    series = load_series(cfg)
    zs = [normalize_series(cfg.spec, s[None])[0][0].astype(np.float32) for s in series]
    sampler = WindowSampler(zs, cfg)
    val_rng = np.random.default_rng(cfg.seed + 1)
    val = [
        tuple(t.to(device) for t in sampler.batch(val_rng, 8, True))
        for _ in range(max(1, cfg.val_windows // 8))
    ]
    return sampler, val


def _out_of_time(cfg: TrainConfig, t0: float, epoch: int) -> bool:
    """Whether ``--max-minutes`` stops training after ``epoch`` (never after the last)."""
    late = cfg.max_minutes > 0 and time.perf_counter() - t0 > 60 * cfg.max_minutes
    if late and epoch < cfg.epochs - 1:
        log.warning("time limit reached after epoch=%d", epoch)
        return True
    return False


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run training, write the checkpoint ``cfg.out`` (stem), return its metadata."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    device = resolve_device(cfg.device)
    t0 = time.perf_counter()
    sampler, val = _prepare(cfg, device)
    model = TCN(cfg.spec).to(device)
    levels = torch.tensor(cfg.spec.quantiles, device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs * cfg.steps_per_epoch)
    best, best_weights, bad, history = float("inf"), fold(model), 0, []
    stopped = ""
    log.info("training series=%d device=%s", len(sampler.zs), device)
    for epoch in range(cfg.epochs):
        train_loss = _epoch(model, sampler, rng, opt, sched, levels, device, epoch)
        val_loss = _evaluate(model, val, levels)
        history.append({"epoch": epoch, "train": train_loss, "val": val_loss})
        log.info("epoch=%d train=%.5f val=%.5f", epoch, train_loss, val_loss)
        if _out_of_time(cfg, t0, epoch):
            stopped = f"time limit after epoch {epoch}"
        if val_loss < best - 1e-5:
            best, best_weights, bad = val_loss, fold(model), 0
        else:
            bad += 1
            if bad >= cfg.patience:
                log.info("early stop epoch=%d best_val=%.5f", epoch, best)
                stopped = f"early stop after epoch {epoch}"
        if stopped:
            break
    meta = {
        "config": cfg.to_dict(),
        "series": len(sampler.zs),
        "best_val_pinball": best,
        "history": history,
        "stopped": stopped or "all epochs",
        "seconds": round(time.perf_counter() - t0, 1),
        "device": str(device),
        "torch": torch.__version__,
    }
    save_checkpoint(cfg.out, cfg.spec, best_weights, meta)
    return meta


def _epoch(
    model: TCN,
    sampler: WindowSampler,
    rng: np.random.Generator,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    levels: torch.Tensor,
    device: torch.device,
    epoch: int,
) -> float:
    cfg = sampler.cfg
    total = 0.0
    bar = tqdm(range(cfg.steps_per_epoch), desc=f"epoch {epoch}", leave=False, mininterval=2)
    for _ in bar:
        x, y, m = (t.to(device) for t in sampler.batch(rng, cfg.batch_size, False))
        loss = pinball_loss(model(x), y, levels, m)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        value = float(loss.detach())
        total += value
        bar.set_postfix(loss=f"{value:.4f}")
    return total / cfg.steps_per_epoch
