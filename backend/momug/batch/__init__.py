"""Headless batch generation: a prompts file in, per-prompt .npz/.bvh files and a manifest out.

prompts.py and manifest.py use the standard library only, so scripts/blender_batch.py can read
a batch from Blender's own Python (no torch there). runner.py, shard.py and contact_sheet.py
need the model stack and are imported only by `momug batch`.
"""
