"""A plain PyTorch training loop, compared over schedules by lrlab.

    python examples/torch_trainer.py            # or: lrlab compare --trainer examples/torch_trainer.py:train ...

lrlab calls ``train(trial)`` once per schedule and seed; the loop drives its optimizer with
``LRLabScheduler`` (the trial's schedule, stepped once per epoch or per batch as the trial's
``interval`` says), reports every epoch, and saves its state so that a killed comparison
continues where it stopped.
"""

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import lrlab
from lrlab.integrations.torch import LRLabScheduler

BATCH = 64


def data():
    """scikit-learn's digits as 64 features, split 60/20/20, standardised."""
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32)
    y = torch.tensor(y)
    tr, rest = train_test_split(range(len(y)), test_size=0.4, random_state=0, stratify=y)
    va, te = train_test_split(rest, test_size=0.5, random_state=0, stratify=y[rest])
    mean, std = x[tr].mean(0), x[tr].std(0).clamp_min(1e-6)
    return [((x[i] - mean) / std, y[i]) for i in (tr, va, te)]


TRAIN, VAL, TEST = data()
STEPS_PER_EPOCH = -(-len(TRAIN[0]) // BATCH)


def evaluate(model, split):
    model.eval()
    with torch.no_grad():
        out = model(split[0])
    model.train()
    return nn.functional.cross_entropy(out, split[1]).item(), (out.argmax(1) == split[1]).float().mean().item()


def train(trial):
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=trial.lr, momentum=0.9)
    sched = LRLabScheduler(opt, trial.schedule)
    state = trial.load()
    if state is not None:  # a killed run: continue from the last saved epoch
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
    for epoch in range(trial.start_epoch, trial.epochs):  # a batch order per seed and epoch
        order = torch.randperm(len(TRAIN[0]), generator=torch.Generator().manual_seed(
            trial.seed * 100_003 + epoch))
        total = 0.0
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            loss = nn.functional.cross_entropy(model(TRAIN[0][idx]), TRAIN[1][idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if trial.interval == "step":
                sched.step()
            total += loss.item() * len(idx)
        if trial.interval == "epoch":
            sched.step()
        val_loss, val_acc = evaluate(model, VAL)
        if not trial.report(epoch, train_loss=total / len(order), val_loss=val_loss, val_acc=val_acc):
            return None  # diverged: lrlab stops the trial
        trial.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()})
    test_loss, test_acc = evaluate(model, TEST)
    return {"test_acc": test_acc, "test_loss": test_loss}


def main(out="cmp-torch", epochs=10, seeds=2):
    return lrlab.compare(trainer=train, schedules=["cosine", "step", "one_cycle"], seeds=seeds,
                         epochs=epochs, steps_per_epoch=STEPS_PER_EPOCH, lr=0.05, out=out,
                         report=True)


if __name__ == "__main__":
    result = main()
    for row in result.ranking:
        print(row["name"], round(row["test_acc_mean"], 4))
    print("report:", result.page)
