"""One module per `momug` subcommand; each exposes add_parser(subparsers) and run(args) -> int."""

# Order is the order shown in `momug --help`.
COMMANDS = ("generate", "caption", "convert", "render", "data", "train", "serve", "token")
