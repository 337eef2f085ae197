"""Optimizers and schedules against steps computed by hand (PyTorch's rules)."""

import math

import numpy as np
import pytest

from graphlab.errors import TrainingError
from graphlab.optim import (SGD, Adam, AdamW, CosineLR, ExponentialLR, StepLR,
                            clip_grad_norm, make_optimizer, make_schedule)


def _params():
    return {"w": np.array([[1.0, -2.0], [0.5, 3.0]]), "b": np.array([0.1, -0.1])}


GRADS = [{"w": np.array([[0.2, -0.4], [1.0, 0.0]]), "b": np.array([0.5, -0.5])},
         {"w": np.array([[-0.1, 0.3], [0.2, -0.6]]), "b": np.array([0.0, 1.0])},
         {"w": np.array([[0.05, 0.05], [-0.3, 0.1]]), "b": np.array([-0.2, 0.4])}]


def test_sgd_step_matches_hand_computation():
    p = _params()
    SGD(p, lr=0.1).step(GRADS[0])
    np.testing.assert_allclose(p["w"], [[0.98, -1.96], [0.4, 3.0]])
    np.testing.assert_allclose(p["b"], [0.05, -0.05])


def test_sgd_weight_decay_adds_lambda_p_to_the_gradient():
    p = _params()
    SGD(p, lr=0.1, weight_decay=0.01).step(GRADS[0])
    w0 = _params()["w"]
    np.testing.assert_allclose(p["w"], w0 - 0.1 * (GRADS[0]["w"] + 0.01 * w0))


def test_momentum_matches_hand_computation():
    p = _params()
    opt = SGD(p, lr=0.1, momentum=0.9)
    w = _params()["w"]
    buf = None
    for g in GRADS:
        opt.step(g)
        buf = g["w"].copy() if buf is None else 0.9 * buf + g["w"]
        w = w - 0.1 * buf
    np.testing.assert_allclose(p["w"], w, rtol=1e-12)


def test_nesterov_matches_hand_computation():
    p = _params()
    opt = SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)
    w = _params()["w"]
    buf = None
    for g in GRADS:
        opt.step(g)
        d = g["w"] + 0.1 * w
        buf = d.copy() if buf is None else 0.9 * buf + d
        w = w - 0.05 * (d + 0.9 * buf)
    np.testing.assert_allclose(p["w"], w, rtol=1e-12)


def test_adam_matches_hand_computation_with_bias_correction():
    p = _params()
    opt = Adam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)
    w = _params()["w"]
    m = v = np.zeros_like(w)
    for t, g in enumerate(GRADS, start=1):
        opt.step(g)
        gg = g["w"] + 0.05 * w
        m = 0.9 * m + 0.1 * gg
        v = 0.999 * v + 0.001 * gg**2
        m_hat, v_hat = m / (1 - 0.9**t), v / (1 - 0.999**t)
        w = w - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-8)
    np.testing.assert_allclose(p["w"], w, rtol=1e-10)


def test_adam_first_step_moves_each_weight_by_lr():
    p = _params()
    Adam(p, lr=0.01).step(GRADS[0])
    moved = _params()["w"] - p["w"]
    np.testing.assert_allclose(moved, 0.01 * np.sign(GRADS[0]["w"]), atol=1e-7)


def test_adamw_decays_weights_apart_from_the_gradient():
    p = _params()
    AdamW(p, lr=0.01, weight_decay=0.1).step(GRADS[0])
    w0 = _params()["w"]
    expect = w0 * (1 - 0.01 * 0.1) - 0.01 * np.sign(GRADS[0]["w"])
    np.testing.assert_allclose(p["w"], expect, atol=1e-7)


def test_clip_grad_norm_scales_to_max_norm():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    assert clip_grad_norm(grads, 1.0) == pytest.approx(5.0)
    total = math.sqrt(sum(float((g**2).sum()) for g in grads.values()))
    assert total == pytest.approx(1.0, rel=1e-5)
    small = {"a": np.array([0.3, 0.4])}
    clip_grad_norm(small, 1.0)
    np.testing.assert_array_equal(small["a"], [0.3, 0.4])


def test_optimizer_clips_the_global_norm_before_the_step():
    p = {"a": np.zeros(2), "b": np.zeros(1)}
    opt = SGD(p, lr=1.0, clip_norm=1.0)
    norm = opt.step({"a": np.array([3.0, 0.0]), "b": np.array([4.0])})
    assert norm == pytest.approx(5.0)
    np.testing.assert_allclose(p["a"], [-0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(p["b"], [-0.8], rtol=1e-5)


def test_parameters_become_views_of_one_flat_buffer():
    p = _params()
    before = {k: v.copy() for k, v in p.items()}
    opt = SGD(p, lr=0.1)
    for k in p:
        np.testing.assert_array_equal(p[k], before[k])
        assert np.shares_memory(p[k], opt.param)
    opt.param[:] = 7.0  # one write reaches every parameter
    assert (p["w"] == 7).all() and (p["b"] == 7).all()


def test_missing_gradient_counts_as_zero_and_frozen_names_are_left_alone():
    p = _params()
    opt = SGD(p, names=["w"], lr=0.1)
    opt.step({"b": np.ones(2)})
    np.testing.assert_array_equal(p["w"], _params()["w"])
    np.testing.assert_array_equal(p["b"], _params()["b"])


def test_float32_parameters_stay_float32():
    p = {"w": np.ones(3, np.float32)}
    Adam(p, lr=0.1).step({"w": np.ones(3, np.float32)})
    assert p["w"].dtype == np.float32


@pytest.mark.parametrize("make", [
    lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda p: Adam(p, lr=0.01, weight_decay=0.01),
])
def test_state_dict_round_trip_continues_identically(make):
    p1, p2 = _params(), _params()
    o1, o2 = make(p1), make(p2)
    o1.step(GRADS[0])
    o2.step(GRADS[0])
    p3 = {k: v.copy() for k, v in p1.items()}
    o3 = make(p3)
    o3.load_state_dict(o1.state_dict())
    for g in GRADS[1:]:
        o2.step(g)
        o3.step(g)
    for k in p2:
        np.testing.assert_array_equal(p2[k], p3[k])


def test_step_schedule():
    s = StepLR(0.1, step_size=3, gamma=0.5)
    assert [s.lr_at(e) for e in (0, 2, 3, 6)] == [0.1, 0.1, 0.05, 0.025]


def test_cosine_schedule_runs_from_base_to_minimum():
    s = CosineLR(0.2, t_max=10, eta_min=0.02)
    assert s.lr_at(0) == pytest.approx(0.2)
    assert s.lr_at(5) == pytest.approx(0.11)
    assert s.lr_at(10) == pytest.approx(0.02)
    assert s.lr_at(12) == pytest.approx(0.02)


def test_exponential_schedule():
    assert ExponentialLR(1.0, 0.9).lr_at(2) == pytest.approx(0.81)


def test_make_schedule_from_section():
    assert make_schedule(None, 0.1, 5).lr_at(4) == 0.1
    assert make_schedule({"type": "cosine"}, 0.1, 4).lr_at(2) == pytest.approx(0.05)
    assert make_schedule({"type": "step", "step_size": 2, "gamma": 0.1}, 1.0,
                         9).lr_at(2) == pytest.approx(0.1)
    with pytest.raises(TrainingError, match="step_size"):
        make_schedule({"type": "step"}, 0.1, 5)
    with pytest.raises(TrainingError, match="unknown schedule"):
        make_schedule({"type": "linear"}, 0.1, 5)


def test_make_optimizer_from_section():
    opt = make_optimizer({"type": "momentum", "lr": 0.05}, _params())
    assert isinstance(opt, SGD) and opt.momentum == 0.9 and not opt.nesterov
    opt = make_optimizer({"type": "sgd", "lr": 0.05, "momentum": 0.5,
                          "nesterov": True}, _params())
    assert opt.nesterov and opt.momentum == 0.5
    opt = make_optimizer({"type": "adam", "lr": 0.01}, _params(), lr=0.5)
    assert isinstance(opt, Adam) and opt.lr == 0.5


def test_make_optimizer_names_unknown_keys_and_types():
    with pytest.raises(TrainingError, match='did you mean "lr"'):
        make_optimizer({"type": "adam", "learning_rate": 0.1}, _params())
    with pytest.raises(TrainingError, match="unknown optimizer type 'rmsprop'"):
        make_optimizer({"type": "rmsprop"}, _params())
    with pytest.raises(TrainingError, match="positive number"):
        make_optimizer({"type": "sgd", "lr": -1}, _params())


@pytest.mark.parametrize("section", [{"data": 3}, {"data": "digits"},
                                     {"data": {"feeds": [1]}}, {"optimizer": "adam"}])
def test_train_settings_that_are_not_objects_are_training_errors(section):
    from graphlab.optim import TrainConfig
    with pytest.raises(TrainingError, match="must be an object such as"):
        TrainConfig(section)


def test_grad_is_finite_probes_the_flat_gradient():
    params = {"a": np.zeros(2, np.float32), "b": np.zeros(3, np.float32)}
    opt = SGD(params, lr=0.1)
    opt.set_grads({"a": np.array([1.0, 2.0]), "b": np.array([3e30, 0.0, 1.0])})
    assert opt.grad_is_finite()  # the square overflows float32; the values do not
    opt.set_grads({"a": np.array([1.0, np.nan]), "b": np.zeros(3)})
    assert not opt.grad_is_finite()
    opt.set_grads({"a": np.zeros(2), "b": np.array([0.0, -np.inf, 0.0])})
    assert not opt.grad_is_finite()
