"""ResNet-shaped graphs (ResNet-18: 132 nodes with their weights, ResNet-34: 236)
for pictures and benchmarks of the editor.

Built with :class:`graphlab.GraphBuilder` on 3×32×32 inputs: a 3×3 stem, four
stages of basic blocks (64, 128, 256, 512 filters; a 1×1 projection where the
shape changes), global average pooling and a 10-way classifier. Every
block is one layer group (``ui.group``: ``layer1.0``, ``layer2.1``…), as the
ONNX importer groups an imported model, so that the editor opens it as about
twenty collapsed boxes.

    python benchmarks/resnet_graph.py OUT.graph.json [--depth 18|34]

It is for pictures and canvas benchmarks of a real-size model; nothing is
trained on it.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

__all__ = ["resnet_graph", "BLOCKS"]

BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


def resnet_graph(depth=34, widths=(64, 128, 256, 512)):
    """The graph, laid out by the core's layered layout (the editor lays it out
    again for its view when it opens it)."""
    import graphlab as gl
    blocks = BLOCKS[depth]
    b = gl.GraphBuilder(f"ResNet-{depth}-shaped, 3×32×32 inputs")
    x = b.input("x", ["N", 3, 32, 32])
    y = b.input("y", ["N"], dtype="int64")
    g = b.graph

    def grouped(name, build):
        before = set(g.nodes)
        out = build()
        for n in g.nodes:
            if n not in before:
                g.update_ui(n, group=name)
        return out

    def stem():
        h = b.conv2d(x, widths[0], 3, padding=1, bias=False, name="conv1")
        h = b.batchnorm(h, name="bn1")
        return b.relu(h, name="relu")

    h = grouped("stem", stem)
    channels = widths[0]
    for stage, (n_blocks, width) in enumerate(zip(blocks, widths), start=1):
        for i in range(n_blocks):
            stride = 2 if (i == 0 and stage > 1) else 1
            name = f"layer{stage}.{i}"
            p = f"l{stage}_{i}"

            def block(h=h, width=width, stride=stride, p=p, channels=channels):
                a = b.conv2d(h, width, 3, stride=stride, padding=1, bias=False,
                             name=f"{p}_conv1")
                a = b.relu(b.batchnorm(a, name=f"{p}_bn1"), name=f"{p}_relu1")
                a = b.conv2d(a, width, 3, padding=1, bias=False, name=f"{p}_conv2")
                a = b.batchnorm(a, name=f"{p}_bn2")
                short = h
                if stride != 1 or channels != width:
                    short = b.conv2d(h, width, 1, stride=stride, bias=False,
                                     name=f"{p}_down")
                    short = b.batchnorm(short, name=f"{p}_down_bn")
                s = b.add(a, short, name=f"{p}_add")
                return b.relu(s, name=f"{p}_out")

            h = grouped(name, block)
            channels = width

    def head():
        pooled = b.mean(h, name="avgpool", axis=[2, 3])
        return b.linear(pooled, 10, name="fc")

    logits = grouped("head", head)
    loss = b.cross_entropy_loss(logits, y, name="loss")
    b.output(loss, logits)
    b.layout()
    return b.build()


if __name__ == "__main__":
    import argparse

    import graphlab as gl
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", metavar="OUT.graph.json")
    parser.add_argument("--depth", type=int, choices=sorted(BLOCKS), default=34)
    args = parser.parse_args()
    graph = resnet_graph(args.depth)
    gl.save(graph, args.out)
    print(f"{args.out}: {len(graph)} nodes")
