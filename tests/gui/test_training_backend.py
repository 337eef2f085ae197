"""The training dock's backend choice: PyTorch reaches the same trainer, and
Stop works there too."""

import numpy as np
import pytest
from PySide6.QtWidgets import QComboBox

from .conftest import sample

pytest.importorskip("torch")


def test_pytorch_backend_trains_and_stops(make_window, qtbot):
    w = make_window(sample("mlp_digits"))
    p = w.open_training()
    box = p.findChild(QComboBox, "trainBackend")
    assert [box.itemData(i) for i in range(box.count())] == ["numpy", "torch"]
    box.setCurrentIndex(box.findData("torch"))
    before = {k: np.array(v) for k, v in w.graph.params.items()}
    p.epochs.setValue(50)
    assert p.start()
    qtbot.waitUntil(lambda: len(p.plot.points) >= 3, timeout=60000)
    p.stop()
    qtbot.waitUntil(lambda: p.last_result is not None, timeout=60000)
    assert p.last_result["stopped"] == "stopped" and p.last_result["epochs"] < 50
    changed = [k for k in w.graph.params if k not in before
               or not np.array_equal(before[k], w.graph.params[k])]
    assert changed
