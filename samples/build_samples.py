"""Builds the sample graphs of samples/ with graphlab's GraphBuilder.

Run ``python samples/build_samples.py`` to rewrite them; the tests check that
this reproduces every file byte for byte. ``cs231n.graph.json`` is written by
hand (it is the example of SPEC section 1) and is not built here.
"""

import os
import sys

import graphlab as gl
from graphlab.data import REVERSE_VOCAB, read_text, text_vocab
from graphlab.layout import NODE_SPACING

HERE = os.path.dirname(os.path.abspath(__file__))

DIGITS = {"dataset": "digits", "feeds": {"x": "images", "y": "labels"},
          "test_fraction": 0.2, "seed": 0}


def _classifier_tail(b, logits, y):
    loss = b.cross_entropy_loss(logits, y, name="loss")
    b.output(loss, logits)
    return loss


def sigmoid_neuron():
    """f = σ(w0·x0 + w1·x1 + w2), the CS231n example with its textbook numbers."""
    b = gl.GraphBuilder("sigmoid neuron: f = σ(w0·x0 + w1·x1 + w2)")
    w0 = b.input("w0", [], value=2.0)
    x0 = b.input("x0", [], value=-1.0)
    w1 = b.input("w1", [], value=-3.0)
    x1 = b.input("x1", [], value=-2.0)
    w2 = b.input("w2", [], value=-3.0)
    p0 = b.mul(w0, x0, name="p0")
    p1 = b.mul(w1, x1, name="p1")
    s = b.add(p0, p1, name="s")
    u = b.add(s, w2, name="u")
    f = b.sigmoid(u, name="f")
    b.output(f)
    b.test(name="CS231n numbers", at={"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3},
           expect={"f": 0.7310585786300049},
           grads={"w0": -0.19661193324148185, "x0": 0.3932238664829637,
                  "w1": -0.3932238664829637, "x1": -0.5898357997244456,
                  "w2": 0.19661193324148185}, rtol=1e-6)
    return b.build()


def neuron():
    """A layer of two sigmoid neurons, σ(Wx + b), with W, x, b from the textbook."""
    b = gl.GraphBuilder("neuron layer: σ(Wx + b)")
    x = b.input("x", [2], value=[1.0, -1.0])
    w = b.parameter("W", [2, 2], value=[[1.0, -2.0], [-1.0, 1.0]])
    bias = b.parameter("b", [2], value=[1.0, 0.0])
    wx = b.mat_mul(w, x, name="Wx")
    z = b.add(wx, bias, name="z")
    s = b.sigmoid(z, name="s")
    f = b.sum(s, name="f")
    b.output(f, s)
    b.test(name="σ([4, -2])", expect={"s": [0.9820137900379085, 0.11920292202211755],
                                      "f": 1.101216712060026},
           grads={"b": [0.017662706213291107, 0.1049935854035065],
                  "x": [-0.0873308791902154, 0.06966817297692429],
                  "W": [[0.017662706213291107, -0.017662706213291107],
                        [0.1049935854035065, -0.1049935854035065]]}, rtol=1e-6)
    return b.build()


def mlp_xor():
    b = gl.GraphBuilder("MLP that solves XOR")
    x = b.input("x", ["N", 2])
    y = b.input("y", ["N"], dtype="int64")
    h = b.tanh(b.linear(x, 8, name="fc1", init="xavier_uniform"), name="h")
    logits = b.linear(h, 2, name="fc2", init="xavier_uniform")
    _classifier_tail(b, logits, y)
    b.test(name="a hand-made XOR solution",
           at={"x": [[0, 0], [0, 1], [1, 0], [1, 1]], "y": [0, 1, 1, 0],
               "fc1_w": [[4, 4], [4, 4]] + [[0, 0]] * 6,
               "fc1_b": [-2, -6, 0, 0, 0, 0, 0, 0],
               "fc2_w": [[0] * 8, [2, -2, 0, 0, 0, 0, 0, 0]], "fc2_b": [0, -2]},
           expect={"loss": 0.140492515489},
           grads={"fc2_b": [0.004096896868, -0.004096896868]}, rtol=1e-9)
    b.train(loss="loss", data={"dataset": "xor", "feeds": {"x": "inputs",
                                                            "y": "labels"}},
            optimizer={"type": "adam", "lr": 0.05}, batch_size=4, epochs=200,
            metrics=["accuracy"])
    return b.build()


def mlp_digits():
    b = gl.GraphBuilder("MLP on 8×8 digits: 64 → 64 → 10")
    x = b.input("x", ["N", 64])
    y = b.input("y", ["N"], dtype="int64")
    h = b.relu(b.linear(x, 64, name="fc1"), name="relu1")
    logits = b.linear(h, 10, name="fc2")
    _classifier_tail(b, logits, y)
    b.train(loss="loss", data=DIGITS,
            optimizer={"type": "adam", "lr": 0.01, "schedule": {"type": "cosine"}},
            batch_size=32, epochs=20, metrics=["accuracy"])
    return b.build()


def vanishing_sigmoid():
    b = gl.GraphBuilder("6 sigmoid layers on digits: watch the gradient vanish")
    x = b.input("x", ["N", 64])
    y = b.input("y", ["N"], dtype="int64")
    h = x
    for i in range(1, 7):
        h = b.sigmoid(b.linear(h, 32, name=f"fc{i}", init="xavier_uniform"),
                      name=f"sig{i}")
    logits = b.linear(h, 10, name="fc7", init="xavier_uniform")
    _classifier_tail(b, logits, y)
    b.train(loss="loss", data=DIGITS, optimizer={"type": "sgd", "lr": 0.5},
            batch_size=32, epochs=10, metrics=["accuracy"])
    return b.build()


def lenet5():
    b = gl.GraphBuilder("LeNet-5 on 8×8 digits upsampled to 32×32")
    x = b.input("x", ["N", 1, 8, 8])
    y = b.input("y", ["N"], dtype="int64")
    h = b.upsample2d(x, scale=4, name="up")
    h = b.relu(b.conv2d(h, 6, 5, name="conv1"), name="relu1")
    h = b.max_pool2d(h, kernel=2, name="pool1")
    h = b.relu(b.conv2d(h, 16, 5, name="conv2"), name="relu2")
    h = b.max_pool2d(h, kernel=2, name="pool2")
    h = b.flatten(h, name="flat")
    h = b.relu(b.linear(h, 120, name="fc1"), name="relu3")
    h = b.relu(b.linear(h, 84, name="fc2"), name="relu4")
    logits = b.linear(h, 10, name="fc3")
    _classifier_tail(b, logits, y)
    b.train(loss="loss", data=DIGITS,
            optimizer={"type": "adam", "lr": 0.003, "schedule": {"type": "cosine"}},
            batch_size=32, epochs=15, metrics=["accuracy"])
    return b.build()


def _make_room_below(g, node, rows=1):
    """Move the nodes below ``node`` in its column down by ``rows`` grid rows:
    a recurrent cell has six ports, and its box in the editor is two rows tall
    (the editor would otherwise find the boxes overlapping and lay them out
    again each time the file is opened)."""
    x, y = g.node(node).ui["pos"]
    step = NODE_SPACING[1]
    for n in g.nodes:
        px, py = g.node(n).ui["pos"]
        if px == x and py > y:
            g.update_ui(n, pos=[px, round(py + rows * step)])


def _recurrent_digits(kind, hidden=64, epochs=20, lr=0.01):
    b = gl.GraphBuilder(f"{kind} on digits: the 8 rows of an image as 8 time steps")
    x = b.input("x", ["N", 8, 8])
    y = b.input("y", ["N"], dtype="int64")
    cell = getattr(b, kind.lower())(x, hidden, name=kind.lower())
    logits = b.linear(b.port(cell, "h"), 10, name="fc")
    _classifier_tail(b, logits, y)
    b.train(loss="loss", data=DIGITS,
            optimizer={"type": "adam", "lr": lr, "schedule": {"type": "cosine"}},
            batch_size=32, epochs=epochs, metrics=["accuracy"], clip_norm=5.0)
    g = b.build()
    _make_room_below(g, kind.lower())
    return g


def autoencoder_digits():
    b = gl.GraphBuilder("convolutional autoencoder on digits, unpooling with indices")
    x = b.input("x", ["N", 1, 8, 8])
    h = b.relu(b.conv2d(x, 8, 3, padding="same", name="enc1"), name="relu1")
    pool = b.max_pool2d(h, kernel=2, name="pool")
    code = b.relu(b.conv2d(pool, 4, 3, padding="same", name="enc2"), name="code")
    h = b.relu(b.conv_transpose2d(code, 8, 3, padding=1, name="dec1"), name="relu2")
    h = b.max_unpool2d(h, b.port(pool, "indices"), kernel=2, name="unpool")
    h = b.conv_transpose2d(h, 1, 3, padding=1, name="dec2")
    recon = b.sigmoid(h, name="recon")
    loss = b.mse_loss(recon, x, name="loss")
    b.output(loss, recon)
    b.train(loss="loss", data={"dataset": "digits", "feeds": {"x": "images"},
                               "test_fraction": 0.2, "seed": 0},
            optimizer={"type": "adam", "lr": 0.01}, batch_size=32, epochs=10)
    return b.build()


def _playground(name, dataset, widths, *, epochs, lr, batch_size=10):
    """An MLP on a 2-D set of the Playground: tanh hidden layers, two classes."""
    b = gl.GraphBuilder(name)
    x = b.input("x", ["N", 2])
    y = b.input("y", ["N"], dtype="int64")
    h = x
    for i, width in enumerate(widths, 1):
        h = b.tanh(b.linear(h, width, name=f"fc{i}", init="xavier_uniform"),
                   name=f"h{i}")
    logits = b.linear(h, 2, name="out", init="xavier_uniform")
    _classifier_tail(b, logits, y)
    data = dict(dataset, features=["x1", "x2"], feeds={"x": "inputs", "y": "labels"},
                test_fraction=0.2, seed=0)
    b.train(loss="loss", data=data, optimizer={"type": "adam", "lr": lr},
            batch_size=batch_size, epochs=epochs, metrics=["accuracy"])
    return b.build()


def playground_circle(width):
    """The notes' circle: one hidden layer of ``width`` tanh neurons."""
    return _playground(f"circle, one hidden layer of {width} neurons",
                       {"dataset": "circle", "size": 500, "noise": 0.0}, [width],
                       epochs=60, lr=0.03)


def playground_xor():
    return _playground("XOR cloud, one hidden layer of 4 neurons",
                       {"dataset": "xor", "size": 500, "noise": 0.0}, [4],
                       epochs=30, lr=0.03)


def playground_spiral():
    return _playground("two spirals from x1, x2 alone: three tanh layers of 16",
                       {"dataset": "spiral", "size": 500, "noise": 0.0}, [16, 16, 16],
                       epochs=200, lr=0.01)
def _text_data(path, seq_len):
    """A ``text:`` data section whose vocabulary is the text's characters."""
    text = read_text(os.path.join(HERE, path))
    return {"dataset": f"text:{path}", "seq_len": seq_len,
            "vocab": text_vocab(text), "feeds": {"x": "inputs", "y": "targets"},
            "test_fraction": 0.1}


def _char_rnn(title, path, seq_len, embed, hidden, epochs, lr, batch_size):
    data = _text_data(path, seq_len)
    V = len(data["vocab"])
    b = gl.GraphBuilder(f"character-level LSTM language model: {title}")
    x = b.input("x", ["N", seq_len], dtype="int64")
    y = b.input("y", ["N", seq_len], dtype="int64")
    e = b.embedding(x, V, embed, name="embed")
    cell = b.lstm(e, hidden, name="lstm")
    logits = b.linear(b.port(cell, "y"), V, name="fc")  # every time step
    _classifier_tail(b, logits, y)
    b.train(loss="loss", data=data,
            optimizer={"type": "adam", "lr": lr, "schedule": {"type": "cosine"}},
            batch_size=batch_size, epochs=epochs, metrics=["accuracy"], clip_norm=5.0)
    return b.build()


def char_rnn():
    """Embedding → LSTM → Linear at every step on tiny-shakespeare (many-to-many)."""
    return _char_rnn("tiny-shakespeare", "data/tinyshakespeare.txt", seq_len=64,
                     embed=32, hidden=128, epochs=3, lr=0.005, batch_size=32)


def char_rnn_tang():
    """The same model on Tang poems: it writes (traditional) Chinese verse."""
    return _char_rnn("Tang poems", "data/tang_poems.txt", seq_len=32, embed=64,
                     hidden=128, epochs=20, lr=0.005, batch_size=32)


def seq2seq_reverse(hidden=128, epochs=3):
    """Encoder–decoder: an LSTM reads the digits, its final h and c start a
    second LSTM that writes them reversed (teacher forcing while training)."""
    V = len(REVERSE_VOCAB)
    b = gl.GraphBuilder("sequence to sequence: reverse a string of 5 to 10 digits")
    src = b.input("source", ["N", 10], dtype="int64")
    dec_in = b.input("decoder_in", ["N", 11], dtype="int64")
    dec_out = b.input("decoder_out", ["N", 11], dtype="int64")
    table = b.parameter("embed_w", [V, 16], init="uniform")
    enc = b.lstm(b.embedding(src, V, 16, weight=table, name="enc_embed"), hidden,
                 name="encoder")
    dec = b.lstm(b.embedding(dec_in, V, 16, weight=table, name="dec_embed"), hidden,
                 h0=b.port(enc, "h"), c0=b.port(enc, "c"), name="decoder")
    logits = b.linear(b.port(dec, "y"), V, name="fc")
    _classifier_tail(b, logits, dec_out)
    b.train(loss="loss", data={"dataset": "reverse", "n": 20000, "seed": 0,
                               "feeds": {"source": "source", "decoder_in": "decoder_in",
                                         "decoder_out": "decoder_out"},
                               "test_fraction": 0.1},
            optimizer={"type": "adam", "lr": 0.01, "schedule": {"type": "cosine"}},
            batch_size=64, epochs=epochs, metrics=["accuracy"], clip_norm=5.0)
    return b.build()


def rnn_exploding():
    """A plain tanh RNN reading each digit as 64 pixels, one per step, whose
    W_hh starts with σ_max ≈ 2.8: without clip_norm its gradients explode and
    it does not learn; with it, it does (run it with and without --no-clip)."""
    b = gl.GraphBuilder("exploding gradients: a tanh RNN over 64 pixels, clipped")
    x = b.input("x", ["N", 64, 1])
    y = b.input("y", ["N"], dtype="int64")
    cell = b.rnn(x, 64, name="rnn")
    b.graph.set_attr("rnn_w_hh", "init", "he_normal")  # N(0, 2/64): σ_max ≈ 2√2
    logits = b.linear(b.port(cell, "h"), 10, name="fc")
    _classifier_tail(b, logits, y)
    b.train(loss="loss", data=DIGITS, optimizer={"type": "sgd", "lr": 0.1},
            batch_size=32, epochs=20, metrics=["accuracy"], clip_norm=1.0)
    return b.build()


SAMPLES = {
    "sigmoid_neuron": sigmoid_neuron,
    "neuron": neuron,
    "mlp_xor": mlp_xor,
    "mlp_digits": mlp_digits,
    "vanishing_sigmoid": vanishing_sigmoid,
    "lenet5": lenet5,
    "rnn_digits": lambda: _recurrent_digits("RNN", epochs=20, lr=0.01),
    "lstm_digits": lambda: _recurrent_digits("LSTM", epochs=20, lr=0.01),
    "gru_digits": lambda: _recurrent_digits("GRU", epochs=20, lr=0.01),
    "autoencoder_digits": autoencoder_digits,
    "playground_circle_2": lambda: playground_circle(2),
    "playground_circle_4": lambda: playground_circle(4),
    "playground_circle_6": lambda: playground_circle(6),
    "playground_xor": playground_xor,
    "playground_spiral": playground_spiral,
    "char_rnn": char_rnn,
    "char_rnn_tang": char_rnn_tang,
    "seq2seq_reverse": seq2seq_reverse,
    "rnn_exploding": rnn_exploding,
}


def main(names=None):
    for name in names or SAMPLES:
        g = SAMPLES[name]()
        path = os.path.join(HERE, f"{name}.graph.json")
        gl.save(g, path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
