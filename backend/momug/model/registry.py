"""The shipped diffusion models by name: `--model NAME` on the command line, `model` in the
server's requests, the add-on's model choice.

    default   checkpoints/default   procedural motion only (licence-clean)
    real      checkpoints/real      procedural + Bandai-Namco real motion (CC BY-NC 4.0, opt-in)

A model trained on data with terms of its own carries a LICENCE.json (momug.licences); resolving
it before those terms are accepted is a one-line MomugError saying what they are and the command
that accepts them. No torch here: the server checks requests with it before any model loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from momug import licences
from momug.errors import MomugError

DEFAULT = "default"
CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
CONFIG_NAME = "config.json"   # momug.model.checkpoint.CONFIG_NAME, without importing torch


@dataclass(frozen=True)
class ModelEntry:
    name: str
    folder: Path
    description: str

    @property
    def installed(self) -> bool:
        return (self.folder / CONFIG_NAME).is_file()

    def licence(self) -> dict | None:
        return licences.read_licence(self.folder)

    def accepted(self) -> bool:
        """True when there are no terms to accept or they were accepted."""
        terms = self.licence()
        return terms is None or licences.is_accepted(self.folder, terms)


class Registry:
    def __init__(self, entries):
        self._entries = {e.name: e for e in entries}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def entry(self, name: str) -> ModelEntry:
        if name not in self._entries:
            raise MomugError(f"unknown model '{name}'; the models are: {', '.join(self._entries)}")
        return self._entries[name]

    def resolve(self, name: str) -> Path:
        """The model's folder, once it is installed and its terms (if any) are accepted."""
        entry = self.entry(name)
        if not entry.installed:
            raise MomugError(f"the '{name}' model is not installed with this copy of momug "
                             f"({entry.folder} has no {CONFIG_NAME}); reinstall momug")
        licences.require_accepted(entry.folder, name)
        return entry.folder

    def name_of(self, folder) -> str | None:
        """The registered name of a checkpoint folder, or None for any other folder."""
        try:
            folder = Path(folder).resolve()
        except OSError:
            return None
        return next((e.name for e in self._entries.values() if e.folder.resolve() == folder), None)


REGISTRY = Registry([
    ModelEntry(DEFAULT, CHECKPOINTS / "default",
               "the shipped model: trained on procedural motion only (licence-clean)"),
    ModelEntry("real", CHECKPOINTS / "real",
               "trained on procedural + Bandai-Namco real motion (walks, runs, turns, waves and raised "
               "hands in many styles); opt-in: CC BY-NC 4.0, non-commercial use only, with attribution"),
])
NAMES = REGISTRY.names
# --model's help in every command that takes it.
OPTION_HELP = (f"a shipped diffusion model by name: {', '.join(NAMES)} (default: default). 'real' was "
               "trained on real motion too and is opt-in (CC BY-NC 4.0): accept its terms once with "
               "`momug licence accept real`. Not with --checkpoint")


def check_choice(model: str | None, checkpoint: str | None) -> None:
    if model is not None and checkpoint is not None:
        raise MomugError("--model and --checkpoint both choose the model; give one of them")


def checkpoint_for(model: str | None, checkpoint: str | None) -> str | None:
    """What a command's --model NAME / --checkpoint DIR pair loads, as MotionPipeline.load's
    checkpoint argument (None: the shipped default). The named model's licence is checked here,
    before anything loads."""
    check_choice(model, checkpoint)
    if model is None:
        return checkpoint
    folder = REGISTRY.resolve(model)
    return None if model == DEFAULT else str(folder)


def no_streaming(model: str | None) -> None:
    """--model with --mode stream: only the default has a streaming model."""
    if model not in (None, DEFAULT):
        REGISTRY.entry(model)  # an unknown name says so first
        raise MomugError(f"there is no streaming '{model}' model: --model {model} works with the diffusion "
                         "mode (leave out --mode stream)")
