"""The models a server offers by name, and whether a request may use one.

`momug serve` offers every model of momug.model.registry (its --checkpoint, when given, takes the
place of "default"); tests and scripts may build a table of their own. This module only knows
names, descriptions, licences and loaders: the job queue (jobs.py) does the loading, the
default model at start and any other on its first request. Checks here are cheap (a small JSON
file at most), so a request for a model whose licence is not accepted is refused before anything
is queued or loaded, and accepting it later (`momug licence accept real`) needs no restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from momug import licences
from momug.errors import MomugError
from momug.licences import LicenceNotAccepted, require_accepted
from momug.model.registry import DEFAULT, REGISTRY


class ModelNotInstalled(MomugError):
    """The model's files are missing (HTTP 503)."""


@dataclass
class ServedModel:
    name: str
    description: str
    load: Callable[[], object]          # returns the pipeline; called in the job queue's worker
    folder: Path | None = None          # its checkpoint, for its licence (None: no terms of its own)
    accept_as: str | None = None        # what `momug licence accept` takes for it (default: its name)

    @property
    def installed(self) -> bool:
        return self.folder is None or self.folder.is_dir()

    def licence(self) -> dict | None:
        return None if self.folder is None else licences.read_licence(self.folder)


class ModelTable:
    def __init__(self, models: list[ServedModel], default: str = DEFAULT):
        self._models = {m.name: m for m in models}
        if default not in self._models:
            raise ValueError(f"the default model '{default}' is not among {', '.join(self._models)}")
        self.default = default

    @classmethod
    def single(cls, loader: Callable[[], object]) -> "ModelTable":
        """One model, the one the server was started with, under the name 'default'."""
        return cls([ServedModel(DEFAULT, "the model this server was started with", loader)])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._models)

    def loaders(self) -> dict[str, Callable[[], object]]:
        return {name: m.load for name, m in self._models.items()}

    def check(self, name: str | None) -> str:
        """The model a request gets (its own choice or the server's default), once it may be
        used; LicenceNotAccepted, ModelNotInstalled or MomugError (not offered) say why not."""
        name = name or self.default
        model = self._models.get(name)
        if model is None:
            raise MomugError(f"this server does not offer the model '{name}'; it offers: {', '.join(self._models)}")
        if not model.installed:
            raise ModelNotInstalled(f"the '{name}' model is not installed on the server ({model.folder} is missing)")
        if model.folder is not None:
            require_accepted(model.folder, model.accept_as or name)
        return name

    def listing(self, loaded=(), errors: dict | None = None) -> list[dict]:
        """GET /v1/models: each model with its terms and whether they were accepted here."""
        out = []
        for name, model in self._models.items():
            info = {"name": name, "description": model.description, "default": name == self.default,
                    "installed": model.installed, "loaded": name in loaded, "licence": None,
                    "accepted": True, "accept_command": None, "error": (errors or {}).get(name)}
            try:
                terms = model.licence() if model.installed else None
            except MomugError as exc:   # a malformed LICENCE.json: listed with the reason
                terms, info["accepted"], info["error"] = None, False, str(exc)
            if terms is not None:
                info["licence"] = {k: terms.get(k) for k in ("name", "summary", "attribution", "url")}
                info["accepted"] = licences.is_accepted(model.folder, terms)
                if not info["accepted"]:
                    info["accept_command"] = f"momug licence accept {model.accept_as or name}"
            info["guidance"] = _default_guidance(model)
            out.append(info)
        return out


def _default_guidance(model) -> float | None:
    """A model's own guidance scale, read from its config.json (no weights loaded); None when it
    has no folder (tiny) or the file is missing or unreadable (its error says so elsewhere)."""
    from momug.model.config import MoMugConfig

    if model.folder is None or not model.installed:
        return None
    try:
        return MoMugConfig.load(Path(model.folder) / "config.json").guidance
    except MomugError:
        return None


def registry_table(default: str | None, checkpoint: str | None, loader: Callable[[str | None], Callable]) -> ModelTable:
    """Every registered model; checkpoint (a folder or 'tiny') serves as 'default' in place of the
    shipped one. loader(checkpoint) -> the callable that loads it (None: the shipped default)."""
    served = []
    for name in REGISTRY.names:
        entry = REGISTRY.entry(name)
        if name == DEFAULT and checkpoint:
            folder = None if checkpoint == "tiny" else Path(checkpoint)
            served.append(ServedModel(name, f"the checkpoint {checkpoint} (momug serve --checkpoint)",
                                      loader(checkpoint), folder, accept_as=checkpoint))
        else:
            served.append(ServedModel(name, entry.description,
                                      loader(None if name == DEFAULT else str(entry.folder)), entry.folder))
    return ModelTable(served, default or DEFAULT)


__all__ = ["ModelTable", "ServedModel", "ModelNotInstalled", "LicenceNotAccepted", "registry_table"]
