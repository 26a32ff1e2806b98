"""One module per `momug` subcommand; each exposes add_parser(subparsers) and run(args) -> int."""

# Order is the order shown in `momug --help`.
COMMANDS = ("generate", "batch", "caption", "convert", "render", "data", "train", "eval", "serve", "token", "licence", "stream")
