"""Which Paddle schedule works best? A small PaddlePaddle CNN on scikit-learn's digits with
``paddle.optimizer.Momentum``, its LR driven by lrlab's ``LRLabScheduler``, compared over
schedules and seeds by lrlab.

    python examples/paddle_trainer.py
    lrlab compare --trainer examples/paddle_trainer.py:train --steps-per-epoch 17 \\
        --preset paddle --seeds 3 --epochs 20 --out cmp-paddle

lrlab calls ``train(trial)`` once per schedule and seed, after seeding Python, numpy and
paddle with ``trial.seed`` (so every schedule of a seed starts from the same weights).
"""

import numpy as np
import paddle
from paddle import nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import lrlab
from lrlab.integrations.paddle import LRLabScheduler

BATCH = 64


def data():
    """The digits as 1x8x8 images, split 60/20/20, standardised."""
    x, y = load_digits(return_X_y=True)
    x = x.reshape(-1, 1, 8, 8).astype("float32")
    tr, rest = train_test_split(np.arange(len(y)), test_size=0.4, random_state=0, stratify=y)
    va, te = train_test_split(rest, test_size=0.5, random_state=0, stratify=y[rest])
    mean, std = x[tr].mean(), x[tr].std()
    return [((x[i] - mean) / std, y[i].astype("int64")) for i in (tr, va, te)]


TRAIN, VAL, TEST = data()
STEPS_PER_EPOCH = -(-len(TRAIN[0]) // BATCH)


def model():
    return nn.Sequential(
        nn.Conv2D(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2),
        nn.Conv2D(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2D(1), nn.Flatten(),
        nn.Linear(32, 10))


def evaluate(net, split):
    net.eval()
    with paddle.no_grad():
        out = net(paddle.to_tensor(split[0]))
        y = paddle.to_tensor(split[1])
        loss = float(nn.functional.cross_entropy(out, y))
        acc = float((out.argmax(1) == y).astype("float32").mean())
    net.train()
    return loss, acc


def train(trial):
    # Paddle names parameters and optimizer slots from a process-wide counter: fresh names per
    # trial, so the state one process saved loads in another (a resumed comparison)
    with paddle.utils.unique_name.guard():
        return train_one(trial)


def train_one(trial):
    net = model()
    sched = LRLabScheduler(trial.schedule)
    opt = paddle.optimizer.Momentum(learning_rate=sched, momentum=0.9, parameters=net.parameters())
    state = trial.load()
    if state is not None:  # a killed run: continue after the last saved epoch
        net.set_state_dict(state["model"])
        opt.set_state_dict(state["opt"])
    for epoch in range(trial.start_epoch, trial.epochs):  # a batch order per seed and epoch
        order = np.random.default_rng([trial.seed, epoch]).permutation(len(TRAIN[0]))
        total = 0.0
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            loss = nn.functional.cross_entropy(net(paddle.to_tensor(TRAIN[0][idx])),
                                               paddle.to_tensor(TRAIN[1][idx]))
            loss.backward()
            opt.step()
            opt.clear_grad()
            if trial.interval == "step":
                sched.step()
            total += float(loss) * len(idx)
        if trial.interval == "epoch":
            sched.step()
        val_loss, val_acc = evaluate(net, VAL)
        if not trial.report(epoch, train_loss=total / len(order), val_loss=val_loss, val_acc=val_acc):
            return None  # diverged
        trial.save({"model": net.state_dict(), "opt": opt.state_dict()})
    test_loss, test_acc = evaluate(net, TEST)
    return {"test_acc": test_acc, "test_loss": test_loss}


def main(out="cmp-paddle", epochs=10, seeds=2):
    return lrlab.compare(trainer=train, schedules=["cosine", "step", "one_cycle"], seeds=seeds,
                         epochs=epochs, steps_per_epoch=STEPS_PER_EPOCH, lr=0.05, out=out,
                         report=True)


if __name__ == "__main__":
    result = main()
    for row in result.ranking:
        print(row["name"], round(row["test_acc_mean"], 4))
    print("report:", result.page)
