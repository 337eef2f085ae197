"""Generating sequences with a trained model: one token at a time (one-to-many).

Assumes a checked graph whose loss is a ``CrossEntropyLoss`` over the logits of
a sequence model: an integer Input of tokens (N×T) → … → a recurrent node (the
*decoder*: RNN, LSTM or GRU) → … → logits (N×T×V). :class:`Generator` compiles
two programs from it, once:

- the *step* program: a copy of the graph whose token Input is N×1 and whose
  decoder reads its ``h0`` (and ``c0``) from new Inputs, returning the logits
  and the decoder's final ``h`` (and ``c``). Each call is a batch-1 forward of
  the generated code, and the state it returns is fed back through the
  graph's own ``h0``/``c0`` ports;
- for an encoder–decoder (the decoder's ``h0``/``c0`` come from another
  recurrent node), the *encoder* program: the original graph up to those
  states, run once on the source sequence.

A character model (``text:`` dataset) decodes with its train section's
``vocab``; the ``reverse`` task with :data:`graphlab.data.REVERSE_VOCAB`.
``graphlab generate`` is the command line (:mod:`graphlab.cli.generate`).
"""

import json
import math
import os

import numpy as np

from . import data as datasets
from . import io
from .errors import GraphlabError
from .program import Program

__all__ = ["Generator", "generator_for", "vocabulary"]

_RECURRENT = {"RNN": ("h0",), "GRU": ("h0",), "LSTM": ("h0", "c0")}
_STATE_OUT = {"h0": "h", "c0": "c"}


def vocabulary(graph):
    """The model's tokens as a string (index i is token i), or None.

    A ``text:`` dataset's ``vocab`` (or, without one, the sorted characters of
    its file); the ``reverse`` task's digits and markers.
    """
    spec = ((graph.train or {}).get("data") or {})
    name = spec.get("dataset")
    if not isinstance(name, str):
        return None
    if name == "reverse":
        return datasets.REVERSE_VOCAB
    if name.startswith("text:"):
        if spec.get("vocab"):
            return spec["vocab"]
        base = os.path.dirname(getattr(graph, "path", None) or "./x")
        return datasets.text_vocab(datasets.read_text(datasets.text_path(name, base)))
    return None


def _ref(g, edge):
    ports = g.node(edge.src).output_ports
    return edge.src if edge.src_port == ports[0] else f"{edge.src}:{edge.src_port}"


def _copy(g):
    d = io.to_dict(g)
    d.pop("params", None)
    c = io.from_dict(d)
    c.params = dict(g.params)
    c.params_file, c.path = g.params_file, g.path
    return c


class Generator:
    """A trained sequence model, run one token at a time.

    Parameters
    ----------
    graph : Graph
        A checked graph as the module docstring describes, with its trained
        parameters in ``graph.params``.
    dtype : str
        Float type of the programs.

    Raises
    ------
    GraphlabError
        Naming the node, when the graph is not such a model.

    Examples
    --------
    >>> import graphlab as gl
    >>> gen = Generator(gl.load("samples/char_rnn.graph.json"))
    >>> len(gen.generate("ROMEO:", length=20, seed=0))
    26
    """

    def __init__(self, graph, dtype="float32"):
        import networkx as nx
        g = graph
        self.graph = graph
        ce = [n for n in g.topological_order() if g.node(n).op == "CrossEntropyLoss"]
        if len(ce) != 1:
            raise GraphlabError("generate needs a graph with one CrossEntropyLoss over "
                                "the logits of a sequence model")
        self.logits_ref = _ref(g, g.in_edges(ce[0])["logits"])
        logits_node = self.logits_ref.partition(":")[0]
        upstream = nx.ancestors(g.nx, logits_node) | {logits_node}
        rec = [n for n in g.topological_order()
               if n in upstream and g.node(n).op in _RECURRENT]
        if not rec:
            raise GraphlabError("generate needs a recurrent node (RNN, LSTM or GRU) "
                                "before the logits", node=logits_node)
        # The decoder: the recurrent node that no other one before the logits
        # reads from (the last of the chain).
        self.decoder = dec = next(r for r in reversed(rec)
                                  if not (nx.descendants(g.nx, r) & set(rec)))
        self.state_ports = _RECURRENT[g.node(dec).op]
        edges = g.in_edges(dec)
        tokens = [n for n in nx.ancestors(g.nx, edges["x"].src) | {edges["x"].src}
                  if g.node(n).op == "Input"
                  and g.node(n).resolved["dtype"] == "int64"
                  and not (set(nx.descendants(g.nx, n)) & set(rec) - {dec})]
        if len(tokens) != 1:
            raise GraphlabError("generate needs one int64 Input of tokens (N×T) "
                                "feeding the decoder", node=dec)
        self.token_input = tokens[0]
        shapes = g.analyse().shapes
        self.hidden = shapes[dec][1][-1]
        self.vocab = vocabulary(g)
        # Encoder–decoder: the decoder's initial states come from the graph.
        self.encoder_refs = {p: _ref(g, edges[p]) for p in self.state_ports
                             if p in edges and g.node(edges[p].src).op != "Input"}
        self.source_input = None
        self.encoder = None
        if self.encoder_refs:
            sources = {n for r in self.encoder_refs.values()
                       for n in nx.ancestors(g.nx, r.partition(":")[0])
                       if g.node(n).op == "Input"}
            if len(sources) != 1:
                raise GraphlabError("the decoder's initial state must come from one "
                                    "Input of source tokens", node=dec)
            self.source_input = sources.pop()
            self.source_len = g.node(self.source_input).resolved["shape"][1]
            self.encoder = Program(g, dtype=dtype, training=False, grad=False,
                                   outputs=list(self.encoder_refs.values())).freeze()
        self.step_program, self.state_inputs = self._step_program(dtype)
        self.outputs = [self.logits_ref] + [f"{dec}:{_STATE_OUT[p]}"
                                            for p in self.state_ports]

    def _step_program(self, dtype):
        g = _copy(self.graph)
        dec = self.decoder
        shape = list(g.node(self.token_input).resolved["shape"])
        shape[1] = 1
        g.set_attr(self.token_input, "shape", shape)
        inputs = {}
        for port in self.state_ports:
            edges = g.in_edges(dec)
            if port in edges:
                g.disconnect(dec, port)
            name = f"{dec}_{port}"
            while name in g:
                name += "_"
            g.add_node(name, "Input", {"shape": ["N", self.hidden]})
            g.connect(name, f"{dec}:{port}")
            inputs[port] = name
        outputs = [self.logits_ref] + [f"{dec}:{_STATE_OUT[p]}"
                                       for p in self.state_ports]
        # Only what the outputs need: the loss and its targets go.
        import networkx as nx
        keep = set()
        for ref in outputs:
            node = ref.partition(":")[0]
            keep |= nx.ancestors(g.nx, node) | {node}
        g.set_outputs(outputs)
        g.train = None
        for n in [n for n in g.nodes if n not in keep]:
            g.remove_node(n)
        try:
            g.check()
        except GraphlabError as e:
            raise GraphlabError(f"generate runs the graph one token at a time, and "
                                f"then: {e.message} (the layers after the token "
                                "Input must not depend on the sequence length)",
                                node=e.node) from None
        prog = Program(g, dtype=dtype, training=False, grad=False,
                       outputs=outputs).freeze()
        return prog, inputs

    # ---- parameters and state ------------------------------------------------------
    def load_params(self, params):
        """Copy trained values (``{node id: array}``) into the programs."""
        for prog in (self.step_program, self.encoder):
            if prog is not None:
                prog.load_state_dict({k: v for k, v in params.items()
                                      if k in prog.params})

    def initial_state(self, source=None):
        """``{port: array 1×H}``: zeros, or the encoder's states for ``source``."""
        dt = self.step_program.dtype
        state = {p: np.zeros((1, self.hidden), dt) for p in self.state_ports}
        if self.encoder is not None:
            if source is None:
                raise GraphlabError(f"this model decodes from a source sequence: give "
                                    f"one (--input) for '{self.source_input}'")
            out = self.encoder.forward({self.source_input: source})
            for p, ref in self.encoder_refs.items():
                state[p] = np.array(out[ref])
        return state

    def step(self, token, state):
        """Feed one token: ``(logits (V,), next state)``."""
        feeds = {self.token_input: np.array([[token]], np.int64)}
        for p, name in self.state_inputs.items():
            feeds[name] = state[p]
        out = self.step_program.forward(feeds)
        logits = out[self.outputs[0]].reshape(-1)
        return logits, {p: out[ref] for p, ref in zip(self.state_ports,
                                                      self.outputs[1:])}

    # ---- tokens and text -----------------------------------------------------------
    def encode(self, text):
        """Token indices of ``text`` (``GraphlabError`` for unknown characters)."""
        if self.vocab is None:
            raise GraphlabError("the model has no vocabulary: its train section's data "
                                "is not a text: or reverse dataset")
        index = {ch: i for i, ch in enumerate(self.vocab)}
        bad = [ch for ch in text if ch not in index]
        if bad:
            raise GraphlabError(f"{bad[0]!r} is not in the model's vocabulary of "
                                f"{len(self.vocab)} characters")
        return [index[ch] for ch in text]

    def decode(self, tokens):
        return "".join(self.vocab[t] for t in tokens)

    def stream(self, prime="", length=200, temperature=1.0, seed=0):
        """Yield ``length`` sampled characters after feeding ``prime``.

        Each token is drawn from softmax(logits / temperature) with a generator
        seeded by ``seed``; ``temperature`` 0 takes the most likely one.
        """
        if temperature < 0 or not math.isfinite(temperature):
            raise GraphlabError(f"the temperature must be a finite number ≥ 0, got "
                                f"{temperature}")
        if seed < 0:
            raise GraphlabError(f"the seed must be ≥ 0, got {seed}")
        rng = np.random.default_rng(seed)
        tokens = self.encode(prime)
        if not tokens:  # start from a line break where the text has them
            tokens = self.encode("\n") if "\n" in (self.vocab or "") else [0]
        state = self.initial_state()
        for t in tokens:
            logits, state = self.step(t, state)
        for _ in range(length):
            t = _sample(logits, temperature, rng)
            yield self.vocab[t]
            logits, state = self.step(t, state)

    def generate(self, prime="", length=200, temperature=1.0, seed=0):
        """``prime`` followed by ``length`` sampled characters (see :meth:`stream`)."""
        return prime + "".join(self.stream(prime, length, temperature, seed))

    def translate(self, text, max_length=None):
        """Greedy decoding of an encoder–decoder from the source ``text``: feed
        the go token, then each most likely token, until the end token."""
        if self.encoder is None:
            raise GraphlabError("--input is for encoder–decoder models; this model "
                                "continues a prime (--prime)")
        if not text:
            raise GraphlabError("the input is empty: give a source sequence to "
                                "decode")
        src = self.encode(text)
        T = self.source_len
        if len(src) > T:
            raise GraphlabError(f"the input has {len(src)} tokens; the encoder reads "
                                f"at most {T}")
        source = np.full((1, T), datasets.PAD, np.int64)
        source[0, T - len(src):] = src
        return self.decode(self.greedy(source, max_length)[0])

    def greedy(self, source, max_length=None):
        """Greedy decoding of a batch of left-padded sources (N×T): one list of
        tokens per row, without the end token."""
        n = len(source)
        max_length = max_length or self.source_len + 1
        state = self.initial_state(source)
        token = np.full((n, 1), datasets.GO, np.int64)
        out = [[] for _ in range(n)]
        done = np.zeros(n, bool)
        for _ in range(max_length):
            feeds = {self.token_input: token}
            feeds.update({name: state[p] for p, name in self.state_inputs.items()})
            res = self.step_program.forward(feeds)
            best = res[self.outputs[0]].reshape(n, -1).argmax(axis=1)
            state = {p: res[ref] for p, ref in zip(self.state_ports, self.outputs[1:])}
            for i in np.flatnonzero(~done):
                if best[i] == datasets.EOS:
                    done[i] = True
                else:
                    out[i].append(int(best[i]))
            if done.all():
                break
            token = best[:, None].astype(np.int64)
        return out


def _sample(logits, temperature, rng):
    if temperature == 0:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    c = np.cumsum(p)
    # One uniform draw against the cumulative sum: a tenth of rng.choice's cost.
    return int(min(np.searchsorted(c, rng.random() * c[-1], side="right"),
                   len(c) - 1))


_CACHE = {}


def generator_for(graph, dtype="float32"):
    """A :class:`Generator` for ``graph`` with its current parameters, compiled
    once per graph structure (the editor asks again after every training run)."""
    d = io.to_dict(graph)
    d.pop("params", None)
    key = (json.dumps(d, sort_keys=True, default=str), dtype)
    gen = _CACHE.get(key)
    if gen is None:
        gen = Generator(graph, dtype)
        _CACHE.clear()  # one model at a time: programs hold their buffers
        _CACHE[key] = gen
    gen.load_params(graph.params)
    return gen
