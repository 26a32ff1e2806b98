"""MoMug: text-to-motion and motion-to-text from one LoRA-tuned LLM, for Blender."""

__version__ = "0.1.0"
