"""A Keras 3 ``fit`` loop, compared over schedules by lrlab (on the torch backend here; any
backend works the same way).

    python examples/keras_trainer.py

Keras steps a learning-rate schedule once per batch, so the optimizer gets the trial's
``step_schedule`` (the trial's LRs at every optimizer step) through ``LRLabSchedule``; a
callback reports each epoch. lrlab seeds Python, numpy and keras with ``trial.seed`` before
each trial.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import lrlab  # noqa: E402
from lrlab.integrations.keras import LRLabSchedule  # noqa: E402

BATCH = 64


def data():
    """The digits as 64 features, split 60/20/20, standardised."""
    x, y = load_digits(return_X_y=True)
    x = x.astype("float32")
    tr, rest = train_test_split(np.arange(len(y)), test_size=0.4, random_state=0, stratify=y)
    va, te = train_test_split(rest, test_size=0.5, random_state=0, stratify=y[rest])
    mean, std = x[tr].mean(0), x[tr].std(0) + 1e-6
    return [((x[i] - mean) / std, y[i]) for i in (tr, va, te)]


TRAIN, VAL, TEST = data()
STEPS_PER_EPOCH = -(-len(TRAIN[0]) // BATCH)


class Report(keras.callbacks.Callback):
    """Hands each epoch's metrics to lrlab; stops the fit when lrlab says the trial ended."""

    def __init__(self, trial):
        super().__init__()
        self.trial = trial

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not self.trial.report(epoch, train_loss=logs["loss"], val_loss=logs["val_loss"],
                                 val_acc=logs["val_accuracy"]):
            self.model.stop_training = True


def train(trial):
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10)])
    lr = LRLabSchedule(trial.step_schedule, steps=trial.epochs * trial.steps_per_epoch)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(*TRAIN, batch_size=BATCH, epochs=trial.epochs, validation_data=VAL,
              callbacks=[Report(trial)], verbose=0)
    test_loss, test_acc = model.evaluate(*TEST, verbose=0)
    return {"test_acc": test_acc, "test_loss": test_loss}


def main(out="cmp-keras", epochs=10, seeds=2):
    return lrlab.compare(trainer=train, schedules=["cosine", "step", "one_cycle"], seeds=seeds,
                         epochs=epochs, steps_per_epoch=STEPS_PER_EPOCH, lr=0.05, out=out,
                         report=True)


if __name__ == "__main__":
    result = main()
    for row in result.ranking:
        print(row["name"], round(row["test_acc_mean"], 4))
    print("report:", result.page)
