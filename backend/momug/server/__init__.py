"""The local HTTP backend (`momug serve`): one model, one worker thread, a token, routes under /v1.

schema.py is the wire format, app.py the routes, jobs.py the queue that owns the model,
guards.py the token check and body limit, auth.py the token file. This package import stays
light on purpose: `momug token` needs auth.py without fastapi or torch.
"""
