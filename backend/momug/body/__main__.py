"""`python -m momug.body [--shape S] [--height M]`: build (once) and print the cached body's path.

Run by the Blender add-on with the backend's Python (the add-on cannot import the backend):
stdout is one JSON line {"path", "built", "seconds", "shape", "height"}. Exit codes: 0 done;
3 the `body` extra (anny) is not installed; 4 anything else (the reason on stderr's last line).
"""

import argparse
import json
import sys
import time

NO_EXTRA = 3
FAILED = 4


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m momug.body", description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="neutral", help="body type (neutral, female, male, slim, heavy, muscular)")
    parser.add_argument("--height", type=float, default=0.0, help="height in metres (0: the SMPL-22 rig's own)")
    parser.add_argument("--rebuild", action="store_true", help="build again even if cached")
    args = parser.parse_args(argv)
    from momug.body.build import BodyExtraMissing, body_file, body_path
    from momug.errors import MomugError

    t0 = time.perf_counter()
    try:
        built = args.rebuild or not body_path(args.shape, args.height).is_file()
        path = body_file(args.shape, args.height, rebuild=args.rebuild)
    except BodyExtraMissing as exc:
        print(str(exc), file=sys.stderr)
        return NO_EXTRA
    except MomugError as exc:
        print(str(exc), file=sys.stderr)
        return FAILED
    except Exception as exc:  # the add-on shows the last line of stderr
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return FAILED
    seconds = time.perf_counter() - t0
    print(json.dumps({"path": str(path), "built": built, "seconds": round(seconds, 3),
                      "shape": args.shape, "height": args.height}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
