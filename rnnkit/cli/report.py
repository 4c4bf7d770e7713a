"""`rnnkit report`: rebuild report.md / report.html from a run folder, optionally zip it."""

from __future__ import annotations

from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="rebuild report.md and report.html of a run folder (and --zip it to hand in)",
        description="Builds report.md and a self-contained report.html (figures embedded) from "
        "the stored results of `rnnkit compare` or `rnnkit train`, without training again.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a folder written by compare or train")
    parser.add_argument("--zip", nargs="?", const=True, default=None, metavar="PATH",
                        help="also pack the folder into one zip archive (default RUN_DIR.zip)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from rnnkit.report.report import build_report

    zip_path = None
    if args.zip is True:
        zip_path = args.run_dir.resolve().with_name(f"{args.run_dir.resolve().name}.zip")
    elif args.zip:
        zip_path = Path(args.zip)
    path = build_report(args.run_dir, zip_path=zip_path)
    print(f"report: {path}")
    print(f"markdown: {path.with_name('report.md')}")
    if zip_path is not None:
        print(f"archive: {zip_path}")
    return 0
