"""Import of what torch.onnx.export writes (the TorchScript exporter,
``dynamo=False``: the dynamo one needs onnxscript): the models a user brings,
run by the executor with PyTorch's numbers, and ResNet-18 and MobileNetV2 at
full size, one ui group per block."""

import io
import re
import warnings

import numpy as np
import pytest

from .helpers import gl, onnx  # noqa: F401  (skips without onnx)

torch = pytest.importorskip("torch")
nn = torch.nn

from graphlab.program import Program  # noqa: E402


def export(model, example, dynamic=True):
    """The ONNX model torch.onnx.export writes for ``model`` in eval mode
    (BatchNorm kept as a node, not folded into the convolution)."""
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (example,), f, dynamo=False,
                          input_names=["x"], output_names=["out"], opset_version=17,
                          do_constant_folding=False,
                          dynamic_axes={"x": {0: "N"}} if dynamic else None)
    return onnx.load_from_string(f.getvalue())


def assert_runs_like_torch(module, example_shape, batches=(1, 3), rtol=1e-4,
                           atol=1e-5):
    torch.manual_seed(0)
    g = gl.from_onnx(export(module, torch.randn(2, *example_shape)))
    g.check()
    n_torch = sum(p.numel() for p in module.parameters())
    assert g.parameter_count() == n_torch
    prog = Program(g, dtype="float32", training=False)
    for batch in batches:
        x = torch.randn(batch, *example_shape)
        with torch.no_grad():
            want = module(x).numpy()
        got = prog.forward({"x": x.numpy()})[g.outputs[0]]
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    return g


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool2 = nn.AvgPool2d(2)
        self.fc1, self.fc2, self.fc3 = (nn.Linear(400, 120), nn.Linear(120, 84),
                                        nn.Linear(84, 10))

    def forward(self, x):
        x = self.pool1(torch.tanh(self.conv1(x)))
        x = self.pool2(torch.sigmoid(self.conv2(x)))
        x = x.view(x.size(0), -1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class ConvBNDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.MaxPool2d(2), nn.Dropout(0.3),
            nn.Conv2d(8, 16, 3, stride=2), nn.BatchNorm2d(16), nn.LeakyReLU(0.1))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.5),
                                  nn.Linear(16 * 2 * 2, 5), nn.BatchNorm1d(5),
                                  nn.LogSoftmax(dim=1))
        for m in self.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        return self.head(self.features(x))


class ConvAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                                     nn.MaxPool2d(2), nn.Conv2d(8, 4, 3, padding=1),
                                     nn.ReLU(), nn.MaxPool2d(2))
        self.decoder = nn.Sequential(nn.ConvTranspose2d(4, 8, 2, stride=2), nn.ReLU(),
                                     nn.Upsample(scale_factor=2, mode="nearest"),
                                     nn.Conv2d(8, 1, 3, padding=1), nn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x))


class Recurrent(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.rnn = getattr(nn, kind)(6, 12, batch_first=True)
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


def test_mlp():
    mlp = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(),
                        nn.Linear(16, 10), nn.Softmax(dim=1))
    assert_runs_like_torch(mlp, (64,))


def test_lenet5():
    g = assert_runs_like_torch(LeNet5(), (1, 28, 28))
    assert {g.node(n).ui.get("group") for n in g.nodes} >= {"conv1", "fc1", "fc3"}


def test_conv_net_with_batchnorm_and_dropout_in_eval_mode():
    g = assert_runs_like_torch(ConvBNDropout(), (3, 12, 12))
    ops = [g.node(n).op for n in g.nodes]
    assert ops.count("BatchNorm") == 3 and "Dropout" not in ops  # eval export


def test_conv_autoencoder_with_conv_transpose_and_nearest_upsample():
    g = assert_runs_like_torch(ConvAutoencoder(), (1, 16, 16))
    ops = {g.node(n).op for n in g.nodes}
    assert {"ConvTranspose2D", "Upsample2D"} <= ops


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_classifier(kind):
    g = assert_runs_like_torch(Recurrent(kind), (7, 6))
    ops = [g.node(n).op for n in g.nodes]
    assert kind in ops and "Transpose" in ops  # y[:, -1]: the time axis moved last


# ---- real-size models -------------------------------------------------------------

@pytest.fixture(scope="module", params=["resnet18", "mobilenet_v2"])
def big(request):
    from . import torchvision_models
    torch.manual_seed(0)
    module = getattr(torchvision_models, request.param)().eval()
    x = torch.randn(1, 3, 64, 64)
    model = export(module, x, dynamic=False)
    return request.param, module, x, gl.from_onnx(model)


def test_real_size_models_run_with_pytorchs_numbers_at_batch_1(big):
    name, module, x, g = big
    with torch.no_grad():
        want = module(x).numpy()
    got = Program(g, dtype="float32", training=False).forward(
        {"x": x.numpy()})[g.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * np.abs(want).max())
    assert g.parameter_count() == sum(p.numel() for p in module.parameters())


def test_real_size_models_have_one_group_per_block(big):
    name, module, x, g = big
    groups = {}
    for n in g.nodes:
        groups.setdefault(g.node(n).ui.get("group"), []).append(g.node(n).op)
    if name == "resnet18":
        blocks = [k for k in groups if k and re.fullmatch(r"layer\d\.\d", k)]
        assert len(blocks) == 8  # two basic blocks in each of four layers
        for k in blocks:  # conv, BN, ReLU, conv, BN, the residual Add, ReLU
            assert groups[k].count("Conv2D") in (2, 3) and "Add" in groups[k]
    else:
        blocks = [k for k in groups if k and re.fullmatch(r"features\.\d+", k)]
        assert len(blocks) == 19  # the stem, 17 inverted residuals, the last conv
        residual = [k for k in blocks if "Add" in groups[k]]
        assert len(residual) == 10
        depthwise = [n for n in g.nodes if g.node(n).op == "Conv2D"
                     and g.node(n).resolved["groups"] > 1]
        assert len(depthwise) == 17
    # every node but the input and the head sits in a group
    assert len(groups.get(None, [])) <= 6
