"""Reading GGUF headers: the real test model, crafted files, and broken ones."""

from __future__ import annotations

import struct

import pytest
from gguf_writer import gguf_bytes, llama_like, write_gguf

from tui_llm.models.gguf import GGML_TYPES, GGUFError, check_complete, read_gguf


def test_reads_the_real_test_model(model_path):
    info = read_gguf(model_path)
    assert info.architecture == "llama"
    assert info.version == 3
    assert (info.n_layers, info.n_embd, info.n_head, info.n_head_kv) == (30, 576, 9, 3)
    assert (info.key_length, info.value_length) == (64, 64)  # n_embd / n_head
    assert info.n_ctx_train == 8192
    assert info.n_vocab == 49152
    assert info.n_ff == 1536
    assert info.quant == "Q4_1" and info.file_type == 3
    assert 130e6 < info.parameter_count < 140e6  # SmolLM2-135M
    assert "<|im_start|>" in info.chat_template
    assert (info.bos_token_id, info.eos_token_id) == (1, 2)
    assert info.sliding_window == 0 and info.swa_layers == ()
    # The big tokenizer arrays are skipped, their lengths kept.
    assert info.array_lengths["tokenizer.ggml.tokens"] == 49152
    assert "tokenizer.ggml.tokens" not in info.metadata
    assert info.get(".context_length") == 8192


def test_tensor_sizes_add_up_to_the_file(model_path):
    info = check_complete(model_path)
    assert len(info.tensors) == 272
    assert info.data_end == model_path.stat().st_size == info.file_size
    # llama.cpp reports this model's weights as 92.10 MiB.
    assert round(info.weights_bytes / 2**20, 2) == 92.10
    embd = info.tensor_bytes["token_embd.weight"]
    assert embd == 576 * 49152 // 32 * 34  # Q8_0: 34 bytes per 32 weights
    q4_1 = next(t for t in info.tensors if t.name == "blk.0.ffn_down.weight")
    assert q4_1.type_name == "Q4_1" and q4_1.n_bytes == 1536 * 576 // 32 * 20


def test_crafted_file_with_grouped_query_attention(tmp_path):
    path = write_gguf(tmp_path / "tiny.gguf", n_layers=3, n_embd=128, n_head=8, n_head_kv=2, n_vocab=300)
    info = check_complete(path)
    assert (info.n_layers, info.n_head, info.n_head_kv, info.key_length) == (3, 8, 2, 16)
    assert info.n_vocab == 300  # from the token list, no vocab_size key
    assert info.quant == "F16"
    assert info.weights_bytes == sum(info.tensor_bytes.values())


def test_sliding_window_pattern_and_per_layer_heads(tmp_path):
    meta, tensors = llama_like(n_layers=6, arch="gemma3", extra={
        "gemma3.attention.sliding_window": 512,
        "gemma3.attention.head_count_kv": [1, 1, 2, 2, 4, 4],
    })
    path = tmp_path / "swa.gguf"
    path.write_bytes(gguf_bytes(meta, tensors))
    info = read_gguf(path)
    assert info.sliding_window == 512
    # gemma3: five sliding-window layers, then one full-attention layer.
    assert info.swa_layers == (True, True, True, True, True, False)
    assert info.n_head_kv_per_layer == (1, 1, 2, 2, 4, 4) and info.n_head_kv == 4

    meta["gemma3.attention.sliding_window_pattern"] = [True, False, True, False, True, False]
    path.write_bytes(gguf_bytes(meta, tensors))
    assert read_gguf(path).swa_layers == (True, False) * 3


def test_not_a_gguf_file(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04 a zip file, not a model" * 10)
    with pytest.raises(GGUFError, match="not a GGUF model"):
        read_gguf(path)


def test_empty_file_and_missing_file_and_directory(tmp_path):
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(GGUFError, match="empty"):
        read_gguf(empty)
    with pytest.raises(GGUFError, match="No such model file"):
        read_gguf(tmp_path / "nope.gguf")
    with pytest.raises(GGUFError, match="Not a file|could not be read"):
        read_gguf(tmp_path)


def test_truncated_in_the_tensor_data(model_path, tmp_path):
    cut = tmp_path / "cut.gguf"
    with model_path.open("rb") as src:
        cut.write_bytes(src.read(5_000_000))
    read_gguf(cut)  # the header is whole ...
    with pytest.raises(GGUFError, match="truncated") as caught:
        check_complete(cut)  # ... the data is not
    assert "98,362,432" in str(caught.value) and "download it again" in str(caught.value)


def test_truncated_in_the_header(model_path, tmp_path):
    cut = tmp_path / "cut.gguf"
    with model_path.open("rb") as src:
        cut.write_bytes(src.read(100_000))  # inside the token list
    with pytest.raises(GGUFError, match="truncated or corrupt"):
        read_gguf(cut)


def test_corrupt_lengths_and_types(tmp_path):
    meta, tensors = llama_like()
    good = gguf_bytes(meta, tensors)
    # A string length of 2**60 bytes in the first key.
    huge = good[:24] + struct.pack("<Q", 2**60) + good[32:]
    path = tmp_path / "huge.gguf"
    path.write_bytes(huge)
    with pytest.raises(GGUFError, match="truncated or corrupt"):
        read_gguf(path)
    # An unknown metadata value type.
    key_len = struct.unpack_from("<Q", good, 24)[0]
    bad_type = bytearray(good)
    struct.pack_into("<I", bad_type, 32 + key_len, 99)
    path.write_bytes(bytes(bad_type))
    with pytest.raises(GGUFError, match="corrupt"):
        read_gguf(path)


def test_unsupported_version_and_unknown_tensor_type(tmp_path):
    meta, tensors = llama_like()
    path = tmp_path / "v1.gguf"
    path.write_bytes(gguf_bytes(meta, tensors, version=1))
    with pytest.raises(GGUFError, match="version 1"):
        read_gguf(path)
    assert 99 not in GGML_TYPES
    data = bytearray(gguf_bytes(meta, tensors))
    name = b"token_embd.weight"
    at = data.index(name) + len(name) + 4 + 2 * 8  # after n_dims and two dims
    struct.pack_into("<I", data, at, 99)
    path.write_bytes(bytes(data))
    with pytest.raises(GGUFError, match="tensor type 99"):
        read_gguf(path)


def test_missing_architecture_is_clear(tmp_path):
    meta, tensors = llama_like()
    del meta["general.architecture"]
    path = tmp_path / "noarch.gguf"
    path.write_bytes(gguf_bytes(meta, tensors))
    with pytest.raises(GGUFError, match="general.architecture"):
        read_gguf(path)


def test_runner_check_uses_it(model_path, tmp_path):
    from tui_llm.engine.llama import check_model_file
    from tui_llm.engine.contract import ModelLoadError

    check_model_file(model_path)
    cut = tmp_path / "cut.gguf"
    with model_path.open("rb") as src:
        cut.write_bytes(src.read(5_000_000))
    with pytest.raises(ModelLoadError, match="truncated"):
        check_model_file(cut)


def test_a_file_changed_since_it_was_read_is_read_again(tmp_path):
    path = write_gguf(tmp_path / "m.gguf")
    first = read_gguf(path)
    assert read_gguf(path) is first  # unchanged: not parsed twice
    meta, tensors = llama_like(n_layers=3)
    path.write_bytes(gguf_bytes(meta, tensors))
    assert read_gguf(path).n_layers == 3


@pytest.mark.parametrize("count", [1025, 1026, 1027, 1028])
def test_long_string_arrays_are_stepped_over_exactly(tmp_path, count):
    metadata, tensors = llama_like()
    metadata["tokenizer.ggml.tokens"] = [f"t{i}" * (i % 5 + 1) for i in range(count)]
    metadata["general.name"] = "after the tokens"
    info = read_gguf(write_gguf(tmp_path / "m.gguf", metadata, tensors))
    assert info.array_lengths["tokenizer.ggml.tokens"] == count
    assert info.name == "after the tokens"


def test_a_string_length_past_the_end_is_corrupt_not_a_crash(tmp_path):
    metadata, tensors = llama_like()
    metadata["tokenizer.ggml.tokens"] = ["abc"] * 1030
    data = bytearray(gguf_bytes(metadata, tensors))
    at = data.index(struct.pack("<Q", 3) + b"abc", data.index(b"tokenizer.ggml.tokens")) + 11 * 1029
    data[at:at + 8] = struct.pack("<Q", 2**62)
    (tmp_path / "m.gguf").write_bytes(bytes(data))
    with pytest.raises(GGUFError, match="truncated or corrupt"):
        read_gguf(tmp_path / "m.gguf")
