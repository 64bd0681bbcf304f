"""The progress bars of ``predict``: images with their rate, and the tiles of a large image."""

from __future__ import annotations

import sys
import time
from typing import Any

from lightning.pytorch import LightningModule
from lightning.pytorch.callbacks import TQDMProgressBar

from clipstyler_fast.infer.predict.module import StylizerModule


class ImageRateProgressBar(TQDMProgressBar):
    """The predict progress bar, with the images stylized per second, and a second bar over the
    tiles of an image stylized in tiles (a very large photo takes minutes on a CPU)."""

    def on_predict_start(self, trainer: Any, pl_module: LightningModule) -> None:
        super().on_predict_start(trainer, pl_module)
        self._images = 0
        self._started = time.perf_counter()
        self._tiles: Any = None
        if isinstance(pl_module, StylizerModule):
            pl_module.stylizer.tile_progress = self.on_tile

    def on_tile(self, done: int, total: int) -> None:
        """One more tile of the image in hand: the tile bar, with its time left."""
        if self._tiles is not None and done == 1:  # an image that failed part-way left its bar open
            self._tiles.close()
            self._tiles = None
        if self._tiles is None:
            from tqdm import tqdm

            self._tiles = tqdm(
                desc="tiles",
                total=total,
                position=2 * self.process_position + 1,  # under the image bar
                disable=self.is_disabled,
                leave=False,
                dynamic_ncols=True,
                file=sys.stdout,
                smoothing=0,
                bar_format=self.BAR_FORMAT,  # with the time left
            )
        self._tiles.update(done - self._tiles.n)
        if done == total:
            self._tiles.close()
            self._tiles = None

    def on_predict_batch_end(
        self, trainer: Any, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        super().on_predict_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)
        self._images += sum(len(indices) for indices, _, _ in outputs["groups"])
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        if self.predict_progress_bar is not None:
            self.predict_progress_bar.set_postfix({"images/s": f"{self._images / elapsed:.2f}"})
