"""A PyTorch Lightning module and ``Trainer.fit``, compared over schedules by lrlab.

    python examples/lightning_trainer.py

``configure_optimizers`` returns the trial's schedule as an ``LRLabScheduler`` with the
trial's interval (``epoch`` or ``step``); a callback reports each epoch and stops the fit
when lrlab says the trial ended. lrlab seeds Python, numpy and torch with ``trial.seed``.
"""

import logging

import lightning as L
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrlab
from lrlab.integrations.torch import LRLabScheduler

BATCH = 64


def data():
    """The digits as 64 features, split 60/20/20, standardised."""
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32)
    y = torch.tensor(y)
    tr, rest = train_test_split(range(len(y)), test_size=0.4, random_state=0, stratify=y)
    va, te = train_test_split(rest, test_size=0.5, random_state=0, stratify=y[rest])
    mean, std = x[tr].mean(0), x[tr].std(0).clamp_min(1e-6)
    return [TensorDataset((x[i] - mean) / std, y[i]) for i in (tr, va, te)]


TRAIN, VAL, TEST = data()
logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no banner per trial
STEPS_PER_EPOCH = -(-len(TRAIN) // BATCH)


class Classifier(L.LightningModule):
    def __init__(self, trial):
        super().__init__()
        self.trial = trial
        self.net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))

    def _step(self, batch, name):
        x, y = batch
        out = self.net(x)
        loss = nn.functional.cross_entropy(out, y)
        self.log(f"{name}_loss", loss, on_step=False, on_epoch=True)
        self.log(f"{name}_acc", (out.argmax(1) == y).float().mean(), on_step=False, on_epoch=True)
        return loss

    def training_step(self, batch, _):
        return self._step(batch, "train")

    def validation_step(self, batch, _):
        self._step(batch, "val")

    def test_step(self, batch, _):
        self._step(batch, "test")

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=self.trial.lr, momentum=0.9)
        sched = LRLabScheduler(opt, self.trial.schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched,
                                                   "interval": self.trial.interval}}


class Report(L.Callback):
    """Hands each epoch's metrics to lrlab (after validation)."""

    def on_train_epoch_end(self, trainer, module):
        m = {k: float(v) for k, v in trainer.callback_metrics.items()}
        if not module.trial.report(trainer.current_epoch, train_loss=m["train_loss"],
                                   val_loss=m["val_loss"], val_acc=m["val_acc"]):
            trainer.should_stop = True


def train(trial):
    module = Classifier(trial)
    trainer = L.Trainer(max_epochs=trial.epochs, callbacks=[Report()], accelerator="cpu",
                        devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, deterministic=True)
    gen = torch.Generator().manual_seed(trial.seed)
    trainer.fit(module, DataLoader(TRAIN, batch_size=BATCH, shuffle=True, generator=gen),
                DataLoader(VAL, batch_size=len(VAL)))
    result = trainer.test(module, DataLoader(TEST, batch_size=len(TEST)), verbose=False)[0]
    return {"test_acc": result["test_acc"], "test_loss": result["test_loss"]}


def main(out="cmp-lightning", epochs=10, seeds=2):
    return lrlab.compare(trainer=train, schedules=["cosine", "step", "one_cycle"], seeds=seeds,
                         epochs=epochs, steps_per_epoch=STEPS_PER_EPOCH, lr=0.05, out=out,
                         report=True)


if __name__ == "__main__":
    result = main()
    for row in result.ranking:
        print(row["name"], round(row["test_acc_mean"], 4))
    print("report:", result.page)
