"""lrlab.integrations.keras: the LR a Keras optimizer uses equals the lrlab schedule."""

import json
import os
import subprocess
import sys

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":
    pytest.skip(f"keras was already imported with the {keras.backend.backend()} backend",
                allow_module_level=True)

import lrlab  # noqa: E402
from lrlab.integrations.keras import LRLabSchedule  # noqa: E402

f32 = np.float32


def warmup_cosine(total=12, warm=3, lr=0.1):
    return lrlab.create("warmup", schedule=lrlab.create("cosine", base_lr=lr, total_steps=total - warm),
                        warmup_steps=warm)


class RecordLR(keras.callbacks.Callback):
    """The optimizer's iteration count and LR right before each training batch."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_begin(self, batch, logs=None):
        opt = self.model.optimizer
        self.seen.append((int(keras.ops.convert_to_numpy(opt.iterations)),
                          f32(keras.ops.convert_to_numpy(opt.learning_rate))))


@pytest.mark.parametrize("steps", [None, 10, 40])
def test_fit_uses_the_schedule_at_every_step(steps):
    s = warmup_cosine()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    opt = keras.optimizers.SGD(learning_rate=LRLabSchedule(s, steps=steps))
    model.compile(optimizer=opt, loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 3)).astype("float32"), rng.standard_normal((64, 1)).astype("float32")
    rec = RecordLR()
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[rec])
    n = 16
    assert [k for k, _ in rec.seen] == list(range(n))
    held = s.curve(n) if steps is None else s.curve(steps)[np.minimum(np.arange(n), steps - 1)]
    assert [lr for _, lr in rec.seen] == held.astype("float32").tolist()
    assert int(keras.ops.convert_to_numpy(opt.iterations)) == n


@pytest.mark.parametrize("steps", [None, 20])
def test_applied_update_is_lr_times_gradient(steps):
    s = lrlab.create("step", base_lr=0.5, step_size=2, gamma=0.5)
    opt = keras.optimizers.SGD(learning_rate=LRLabSchedule(s, steps=steps))
    v = keras.Variable(np.zeros(2, dtype="float32"))
    for k in range(8):
        before = keras.ops.convert_to_numpy(v).copy()
        opt.apply_gradients([(keras.ops.ones((2,)), v)])
        np.testing.assert_allclose(before - keras.ops.convert_to_numpy(v), f32(s(k)), rtol=1e-6)


def test_table_holds_the_last_value_after_steps():
    s = lrlab.create("step", base_lr=0.1, step_size=2, gamma=0.5)
    sched = LRLabSchedule(s, steps=5)
    got = [float(keras.ops.convert_to_numpy(sched(keras.ops.convert_to_tensor(k)))) for k in range(9)]
    want = s.curve(5).astype("float32").tolist()
    assert got == want + [want[-1]] * 4


def test_config_round_trip_and_keras_serialization():
    s = warmup_cosine()
    for steps in (None, 30):
        sched = LRLabSchedule(s, steps=steps)
        cfg = sched.get_config()
        assert cfg == {"schedule": s.to_config(), "steps": steps}
        again = LRLabSchedule.from_config(cfg)
        assert again.schedule == s and again.steps == steps
        back = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(sched))
        assert isinstance(back, LRLabSchedule) and back.schedule == s and back.steps == steps
    opt = keras.optimizers.SGD(learning_rate=LRLabSchedule(s, steps=30))
    opt2 = keras.optimizers.SGD.from_config(opt.get_config())
    assert isinstance(opt2._learning_rate, LRLabSchedule) and opt2._learning_rate.schedule == s


# the child rebuilds the serialized schedules of argv[1], both ways, and prints their LRs
REBUILD = """
import json, sys
import keras
from lrlab.integrations.keras import LRLabSchedule  # registers lrlab>LRLabSchedule
out = []
for ser in json.loads(sys.argv[1]):
    a = keras.optimizers.schedules.deserialize(ser)
    b = LRLabSchedule.from_config(ser["config"])
    lrs = [[float(keras.ops.convert_to_numpy(x(k))) for k in range(8)] for x in (a, b)]
    out.append([type(a).__name__, a.get_config(), b.get_config(), lrs])
print(json.dumps(out))
"""


def test_saved_framework_schedules_load_in_a_fresh_process():
    members = [lrlab.from_torch("LinearLR", 1.0, start_factor=0.5, total_iters=2),
               lrlab.from_torch("StepLR", 1.0, step_size=2, gamma=0.5)]
    seq = lrlab.from_torch("SequentialLR", 1.0, schedulers=members, milestones=[2])
    warm = lrlab.from_paddle("LinearWarmup", learning_rate=lrlab.from_paddle(
        "StepDecay", learning_rate=1.0, step_size=2, gamma=0.5), warmup_steps=2, start_lr=0.0,
        end_lr=1.0)
    scheds = [LRLabSchedule(seq), LRLabSchedule(seq, steps=6), LRLabSchedule(warm, steps=6)]
    want = [[0.5, 0.75, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25],
            [0.5, 0.75, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5],  # the table holds its last value
            [0.0, 0.5, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]]
    ser = [keras.optimizers.schedules.serialize(x) for x in scheds]
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run([sys.executable, "-c", REBUILD, json.dumps(ser)], capture_output=True,
                          text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    for sched, expected, (kind, cfg_a, cfg_b, (lrs_a, lrs_b)) in zip(scheds, want, got):
        assert kind == "LRLabSchedule"
        assert cfg_a == cfg_b == sched.get_config()
        assert lrs_a == lrs_b == expected


def test_bad_arguments():
    with pytest.raises(TypeError, match="lrlab Schedule"):
        LRLabSchedule(lambda k: 0.1)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="steps must be"):
            LRLabSchedule(warmup_cosine(), steps=bad)
    with pytest.raises(ValueError, match="bind"):
        LRLabSchedule(lrlab.create("cosine", base_lr=0.1, total_steps="50%"))
