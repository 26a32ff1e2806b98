"""Runs a batch: plan (what is already finished), generate the rest in device batches, write each
item's files atomically, then record it in the manifest.

Order per item: NAME.npz and NAME.bvh are each written to a temp name and renamed, then the
manifest record with their checksums is written (also atomically). A crash at any point leaves
either a finished item or files without a matching record, which the next run redoes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from momug import __version__
from momug.batch import manifest as mf
from momug.batch.prompts import BatchItem, LineError, read_batch_file
from momug.batch.shard import Shard
from momug.errors import Cancelled, MomugError

TINY = "tiny"


@dataclass
class BatchSettings:
    checkpoint: str | None = None  # a folder, "tiny", or None for the shipped default
    seconds: float = 4.0  # default length; a .jsonl line may set its own
    seed: int = 0  # data line i gets seed + i unless it sets its own
    steps: int = 25
    guidance: float | None = None  # None: the model's own scale (its config.json), part of its checkpoint id
    batch_size: int = 8
    device: str = "auto"
    bvh: bool = True
    contact_sheet: bool = True
    clean_feet: bool = True  # hold planted feet still (momug.motion.cleanup)
    split_sequences: bool = True  # "A then B" made one action at a time (MotionPipeline.generate)

    def kinds(self) -> tuple[str, ...]:
        return ("npz", "bvh") if self.bvh else ("npz",)


@dataclass
class BatchResult:
    manifest: Path | None  # manifest.json (main process) or this process's part
    done: int = 0  # generated (or repaired) in this run, by this process
    skipped: int = 0  # already finished before this run
    failed: list[dict] = field(default_factory=list)
    line_errors: list[LineError] = field(default_factory=list)
    contact_sheets: list[Path] = field(default_factory=list)


def model_identity(checkpoint: str | None) -> str:
    """The identity a finished item was made with, known without loading the model (so a rerun
    of a finished batch never waits for it). Matches MotionPipeline.checkpoint_id."""
    if checkpoint == TINY:
        return "tiny-untrained"
    from momug.model import checkpoint as ckpt

    folder = ckpt.checkpoint_folder(checkpoint)
    try:
        return ckpt.checkpoint_id(folder)
    except OSError as exc:
        raise MomugError(f"{folder} is not a MoMug checkpoint: {exc.strerror}: {exc.filename}") from None


def request_of(item: BatchItem, settings: BatchSettings, model: str) -> dict:
    """Everything that decides an item's motion; a finished item counts only for the same request."""
    request = {"prompt": item.prompt, "seconds": item.seconds, "seed": item.seed, "steps": settings.steps,
               "guidance": settings.guidance, "clean_feet": settings.clean_feet, "model": model}
    if item.constraint_id is not None:
        request["constraints"] = item.constraint_id
    if not settings.split_sequences:  # only when off, so outputs of earlier runs still count as done
        request["split_sequences"] = False
    return request


def clean_temp_files(folder: Path) -> int:
    """Remove temp files an interrupted run left (all ours start with '.' and end in '.part')."""
    count = 0
    for path in Path(folder).glob(".*.part"):
        path.unlink(missing_ok=True)
        count += 1
    return count


@dataclass
class Plan:
    finished: list[dict]  # records to keep as they are
    repair: list[tuple[BatchItem, dict]]  # .npz fine, .bvh missing or broken: rebuilt from the .npz
    todo: list[BatchItem]  # to generate


def plan(items: list[BatchItem], folder: Path, settings: BatchSettings, model: str) -> Plan:
    known = mf.known_records(folder)
    out = Plan([], [], [])
    for item in items:
        request = request_of(item, settings, model)
        good = [r for r in known.get(item.name, []) if mf.record_ok(folder, r, request)]
        if not good:
            out.todo.append(item)
            continue
        # line and rig are not part of the motion: refresh them from the current file.
        record = {**good[0], "line": item.line, "rig": item.rig}
        if mf.record_ok(folder, record, request, settings.kinds()):
            out.finished.append(record)
        else:
            out.repair.append((item, record))
    return out


def _pending(item: BatchItem, request: dict) -> dict:
    return {"name": item.name, "line": item.line, "prompt": item.prompt, "seconds": item.seconds,
            "seed": item.seed, "rig": item.rig, "request": request, "status": "pending"}


def _write_files(folder: Path, name: str, motion, kinds: tuple[str, ...]) -> dict:
    from momug.motion.convert import write_motion

    files = {}
    for kind in kinds:  # npz first: it is the motion; the bvh is derived from it
        filename = f"{name}.{kind}"
        write_motion(folder / filename, motion)
        mf.share_mode(folder / filename)
        files[kind] = mf.file_entry(folder, filename)
    return files


def _generate(pipe, chunk: list[BatchItem], settings: BatchSettings, progress) -> list:
    """Motions for a chunk; when the model fails on the chunk, each item alone, so one bad item
    (say, NaNs from its seed) does not take its neighbours down. Failures come back as errors."""
    constraints = [i.constraints for i in chunk]
    # Only passed when used, so pipelines without constraints (stand-ins) keep working.
    extra = {"constraints": constraints} if any(c is not None for c in constraints) else {}
    if not settings.split_sequences:
        extra["split_sequences"] = False
    try:
        return pipe.generate([i.prompt for i in chunk], [i.seconds for i in chunk], [i.seed for i in chunk],
                             guidance=settings.guidance, steps=settings.steps, progress=progress,
                             clean_feet=settings.clean_feet, **extra)
    except Cancelled:
        raise
    except MomugError as exc:
        if len(chunk) == 1:
            return [exc]
        return [_generate(pipe, [item], settings, None)[0] for item in chunk]


def _chunks(items: list[BatchItem], size: int) -> list[list[BatchItem]]:
    """Equal lengths together (one padded batch per length wastes nothing), file order within."""
    by_length: dict[float, list[BatchItem]] = {}
    for item in items:
        by_length.setdefault(item.seconds, []).append(item)
    return [group[i:i + size] for group in by_length.values() for i in range(0, len(group), size)]


def _header(prompts: Path, folder: Path, settings: BatchSettings, model: str, device: str, shard: Shard) -> dict:
    return {
        "created_at": mf.now(),
        "momug_version": __version__,
        "prompts_file": str(prompts.resolve()),
        "prompts_sha256": mf.sha256_file(prompts),
        "output": str(folder.resolve()),
        "settings": {"checkpoint": _checkpoint_label(settings.checkpoint), "model": model,
                     "seconds": settings.seconds, "seed": settings.seed, "steps": settings.steps,
                     "guidance": settings.guidance, "batch_size": settings.batch_size,
                     "device": device, "bvh": settings.bvh, "clean_feet": settings.clean_feet,
                     "split_sequences": settings.split_sequences},
        "processes": shard.world,
        **({"shard": shard.rank} if shard.world > 1 else {}),
    }


def _checkpoint_label(checkpoint: str | None) -> str:
    """A shipped model by its name (default, real), any other checkpoint as given."""
    if checkpoint is None:
        return "default"
    from momug.model.registry import REGISTRY

    return REGISTRY.name_of(checkpoint) or checkpoint


class _ShardWork:
    """This process's share of a batch: repairs and generation, each item recorded as it finishes."""

    def __init__(self, folder: Path, settings: BatchSettings, shard: Shard, writer: mf.ManifestWriter,
                 requests: dict, result: BatchResult, log, where: str):
        self.folder, self.settings, self.shard, self.writer = folder, settings, shard, writer
        self.requests, self.result, self.log, self.where = requests, result, log, where
        self.load_s = self.generate_s = 0.0

    def finish(self, item: BatchItem, made_from=None, **fields) -> None:
        """made_from: the steps of a sequence made step by step, recorded only for such a sequence."""
        record = {**_pending(item, self.requests[item.name]), **fields, "finished_at": mf.now(),
                  "shard": self.shard.rank, **({"made_from": list(made_from)} if made_from else {})}
        self.writer.update(record)
        if record["status"] == "failed":
            self.result.failed.append({"line": item.line, "name": item.name, "message": record["error"]})
            self.log(f"{self.where}: line {item.line} ({item.name}): {record['error']}")
        else:
            self.result.done += 1

    def repair(self, work: list[tuple[BatchItem, dict]]) -> None:
        """Rebuild missing or broken .bvh files from their verified .npz: no model needed."""
        from momug.motion.motionfile import load_motion

        for item, record in work:
            t = time.perf_counter()
            motion = load_motion(self.folder / record["files"]["npz"]["file"])
            files = _write_files(self.folder, item.name, motion, tuple(k for k in self.settings.kinds() if k != "npz"))
            timings = {**record.get("timings", {}), "repair_s": round(time.perf_counter() - t, 4)}
            self.finish(item, status="done", frames=record.get("frames"), fps=record.get("fps"),
                        files={**record["files"], **files}, timings=timings, made_from=record.get("made_from"))

    def generate(self, todo: list[BatchItem], load_pipeline, device: str, progress: bool) -> None:
        from tqdm.auto import tqdm

        s = self.settings
        t = time.perf_counter()
        if load_pipeline is None:
            from momug.pipeline import MotionPipeline

            load_pipeline = MotionPipeline.load
        pipe = load_pipeline(s.checkpoint, device)
        self.load_s = time.perf_counter() - t
        valid = []
        for item in todo:  # limits that need the model (prompt length, seconds range)
            try:
                pipe.validate_request(item.prompt, item.seconds, s.steps, s.guidance)
                if item.constraints is not None:
                    pipe.validate_constraints(item.constraints)
                valid.append(item)
            except MomugError as exc:
                self.finish(item, status="failed", error=str(exc))
        world, rank = self.shard.world, self.shard.rank
        bar = tqdm(total=len(valid) * s.steps, desc="batch" if world == 1 else f"batch {rank + 1}/{world}",
                   unit="step", position=rank, disable=not progress, leave=world == 1, dynamic_ncols=True)
        try:
            for chunk in _chunks(valid, s.batch_size):
                base = bar.n

                def on_progress(fraction, base=base, n=len(chunk)):
                    bar.update(base + round(fraction * s.steps * n) - bar.n)

                t = time.perf_counter()
                outcomes = _generate(pipe, chunk, s, on_progress)
                batch_s = time.perf_counter() - t
                self.generate_s += batch_s
                bar.update(base + len(chunk) * s.steps - bar.n)
                for item, motion in zip(chunk, outcomes):
                    if isinstance(motion, Exception):
                        self.finish(item, status="failed", error=str(motion))
                        continue
                    t = time.perf_counter()
                    files = _write_files(self.folder, item.name, motion, s.kinds())
                    self.finish(item, status="done", frames=motion.num_frames, fps=motion.fps, files=files,
                                timings={"generate_s": round(batch_s / len(chunk), 4), "batch_s": round(batch_s, 4),
                                         "batch_size": len(chunk), "write_s": round(time.perf_counter() - t, 4)},
                                made_from=getattr(motion, "made_from", None))
                bar.set_postfix(done=self.result.done, failed=len(self.result.failed), refresh=False)
        finally:
            bar.close()


def run_batch(prompts: str | Path, out: str | Path, settings: BatchSettings, shard: Shard | None = None,
              load_pipeline=None, progress: bool = True, log=print) -> BatchResult:
    """Generate every unfinished item of the prompts file this process's shard owns; the main
    process then writes manifest.json (merging the parts) and the contact sheet.
    load_pipeline(checkpoint, device) defaults to MotionPipeline.load."""
    t_start = time.perf_counter()
    prompts, folder = Path(prompts), Path(out)
    shard = shard or Shard()
    if settings.batch_size < 1:
        raise MomugError("--batch-size must be at least 1")
    items, line_errors = read_batch_file(prompts, settings.seconds, settings.seed)
    if folder.exists() and not folder.is_dir():
        raise MomugError(f"-o {folder} is a file; give a folder")
    folder.mkdir(parents=True, exist_ok=True)
    if shard.is_main:
        clean_temp_files(folder)
        for err in line_errors:
            log(f"{prompts}: {err}")
    model = model_identity(settings.checkpoint)
    work = plan(items, folder, settings, model)
    shard.barrier()  # every process has planned before any process writes

    device = settings.device if settings.device != "auto" or shard.device is None else shard.device
    header = _header(prompts, folder, settings, model, device, shard)
    my_todo, my_repair = shard.take(work.todo), shard.take(work.repair)
    requests = {i.name: request_of(i, settings, model) for i in items}
    line_dicts = [{"line": e.line, "message": e.message} for e in line_errors]
    if shard.world == 1:
        keep = {r["name"]: r for r in work.finished}
        records = [keep.get(i.name) or _pending(i, requests[i.name]) for i in items]
        writer = mf.ManifestWriter(folder / mf.MANIFEST_NAME, header, records)
        writer.errors = list(line_dicts)
    else:  # a part holds only this shard's items; the merge adds the finished ones and line errors
        mine = {i.name for i in my_todo} | {i.name for i, _ in my_repair}
        records = [_pending(i, requests[i.name]) for i in items if i.name in mine]
        writer = mf.ManifestWriter(folder / mf.part_name(shard.rank), header, records)
    writer.save()
    result = BatchResult(writer.path, skipped=len(work.finished), line_errors=line_errors)
    job = _ShardWork(folder, settings, shard, writer, requests, result, log, str(prompts))
    try:
        job.repair(my_repair)
        if my_todo:
            job.generate(my_todo, load_pipeline, device, progress)
    finally:
        writer.flush()  # an interrupted run keeps the records of what it finished
    writer.header["timings"] = {"load_s": round(job.load_s, 3), "generate_s": round(job.generate_s, 3),
                                "total_s": round(time.perf_counter() - t_start, 3)}
    writer.save()
    shard.barrier()  # every part is final before the main process merges
    if not shard.is_main:
        return result
    if shard.world > 1:
        merged = mf.merge(folder, {k: v for k, v in header.items() if k != "shard"},
                          [i.name for i in items], line_dicts, shard.world)
    else:
        merged = writer.content()
        # Parts of an earlier sharded run were read by plan(); manifest.json now has it all.
        for part in mf.manifest_paths(folder)[1:]:
            part.unlink(missing_ok=True)
    result.manifest = folder / mf.MANIFEST_NAME
    # The main process reports the whole batch, every shard's work included.
    result.done = merged["summary"].get("done", 0) - result.skipped
    result.failed = [e for e in merged["errors"] if e.get("name")]
    if settings.contact_sheet:
        from momug.batch.contact_sheet import write_contact_sheets

        result.contact_sheets = write_contact_sheets(folder, merged["items"])
    return result
