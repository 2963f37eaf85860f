"""Warmup (linear/exponential, around a float or any schedule), noam, inverse_sqrt, wsd."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

import lrlab


def test_linear_warmup_to_a_float_never_starts_at_zero():
    assert_allclose(lrlab.create("warmup", schedule=0.4, warmup_steps=3).curve(5), [.1, .2, .3, .4, .4])


def test_warmup_with_explicit_start_then_inner_from_its_own_step_zero():
    inner = lrlab.create("step", base_lr=1.0, step_size=2, gamma=0.5)
    s = lrlab.create("warmup", schedule=inner, warmup_steps=4, start_lr=0.2)
    assert_allclose(s.curve(9), [.2, .4, .6, .8, 1, 1, .5, .5, .25])


def test_exponential_warmup_is_geometric():
    s = lrlab.create("warmup", schedule=1.0, warmup_steps=2, start_lr=0.01, mode="exponential")
    assert_allclose(s.curve(3), [0.01, 0.1, 1.0])
    with pytest.raises(ValueError, match="warmup: schedule must be a schedule starting above 0"):
        lrlab.create("warmup", schedule=0.0, warmup_steps=2, mode="exponential")


def test_warmup_then_cosine_of_the_write_ups():
    # linear warmup over 5 epochs, then cosine from 0.01 down to 0.001 over the remaining 45
    cos = lrlab.create("cosine", base_lr=0.01, total_steps=45, min_lr=0.001)
    c = lrlab.create("warmup", schedule=cos, warmup_steps=5).curve(50)
    assert_allclose(c[:6], [0.01 * (k + 1) / 6 for k in range(5)] + [0.01])
    assert c[49] == pytest.approx(0.001 + 0.009 * (1 + math.cos(math.pi * 44 / 45)) / 2)


def test_inverse_sqrt_peaks_at_warmup_end():
    c = lrlab.create("inverse_sqrt", base_lr=1.0, warmup_steps=4).curve(16)
    assert int(np.argmax(c)) == 3 and c[3] == 1.0 and c[15] == pytest.approx(0.5)


def test_noam_is_the_paper_formula_with_one_based_steps():
    s = lrlab.create("noam", d_model=512, warmup_steps=4000, base_lr=2.0)
    for k in [0, 3998, 3999, 4000, 99999]:
        n = k + 1
        assert s(k) == pytest.approx(2.0 * 512 ** -0.5 * min(n ** -0.5, n * 4000 ** -1.5), rel=1e-12)
    assert s(0) > 0


@pytest.mark.parametrize("decay,mid", [("linear", 0.5), ("cosine", 0.5), ("sqrt", 1 - math.sqrt(0.5))])
def test_wsd_phases(decay, mid):
    s = lrlab.create("wsd", base_lr=1.0, total_steps=10, warmup_steps=2, decay_steps=4, decay=decay)
    c = s.curve(12)
    assert_allclose(c[:6], [1 / 3, 2 / 3, 1, 1, 1, 1])
    assert c[8] == pytest.approx(mid) and c[10] == 0.0 and c[11] == 0.0
