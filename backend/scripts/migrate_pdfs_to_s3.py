"""Copy locally stored PDFs (and other files) to S3 (INFRA-001).

    python -m backend.scripts.migrate_pdfs_to_s3 [--dry-run] [--source DIR]

Reads the S3 settings from the environment (AWS_S3_BUCKET, AWS_REGION,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, S3_ENDPOINT_URL) whatever
STORAGE_BACKEND says, and copies every file under ``--source`` (default
``./data/pdfs``; pass the local storage root, ``STORAGE_PATH``, to move
everything) to the bucket, keeping its relative path as the key.

Safe to run twice: an object that already exists with the same size is
skipped. Prints what it did (uploaded / skipped / failed) and exits non-zero
if anything failed, so a deploy step can stop on it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from backend.config import ConfigError, Settings, load_settings
from backend.core.errors import AppError
from backend.services.storage_service import InvalidStorageKey, S3Storage, create_s3_storage, validate_key

DEFAULT_SOURCE = Path("./data/pdfs")
CONCURRENCY = 8


@dataclass(frozen=True)
class Outcome:
    key: str
    status: str  # "uploaded", "would_upload", "skipped", "failed"
    reason: str = ""


@dataclass(frozen=True)
class LocalFile:
    path: Path
    key: str
    size: int


def local_files(source: Path) -> list[LocalFile]:
    """Every regular file under ``source`` with its key (relative path); symlinks are not followed,
    and half-written uploads of the local backend (``.upload-*``) are left out."""
    return [
        LocalFile(path, path.relative_to(source).as_posix(), path.stat().st_size)
        for path in sorted(source.rglob("*"))
        if path.is_file() and not path.is_symlink() and not path.name.startswith(".upload-")
    ]


async def copy_one(storage: S3Storage, file: LocalFile, *, dry_run: bool) -> Outcome:
    """Upload one file unless the bucket already has it with the same size."""
    key = file.key
    try:
        validate_key(key)
    except InvalidStorageKey:
        return Outcome(key, "failed", "not a valid object key (use letters, digits, '.', '-', '_')")
    try:
        if await storage.size(key) == file.size:
            return Outcome(key, "skipped")
        if dry_run:
            return Outcome(key, "would_upload")
        await storage.upload_file(file.path, key)
    except (AppError, OSError) as error:
        return Outcome(key, "failed", getattr(error, "message", None) or type(error).__name__)
    return Outcome(key, "uploaded")


async def migrate(storage: S3Storage, source: Path, *, dry_run: bool) -> list[Outcome]:
    """Copy every file under ``source`` that is not already in the bucket with the same size."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def guarded(file: LocalFile) -> Outcome:
        async with gate:
            return await copy_one(storage, file, dry_run=dry_run)

    return list(await asyncio.gather(*(guarded(file) for file in local_files(source))))


def main(argv: Sequence[str] | None = None, *, settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.scripts.migrate_pdfs_to_s3",
                                     description="Copy local PDFs to S3; safe to run twice.")
    parser.add_argument("--dry-run", action="store_true", help="say what would be uploaded, upload nothing")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="folder to copy (default ./data/pdfs; or the local storage root)")
    args = parser.parse_args(argv)

    if not args.source.is_dir():
        print(f"error: source folder {args.source} does not exist", file=sys.stderr)
        return 2
    try:
        storage = create_s3_storage(settings or load_settings())
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    outcomes = asyncio.run(migrate(storage, args.source, dry_run=args.dry_run))
    for outcome in outcomes:
        if outcome.status == "failed":
            print(f"failed: {outcome.key}: {outcome.reason}", file=sys.stderr)
    counts = Counter(outcome.status for outcome in outcomes)
    target = f"s3://{storage.bucket}"
    if args.dry_run:
        print(f"dry run from {args.source} to {target}: would upload {counts['would_upload']}, "
              f"skipped {counts['skipped']}, failed {counts['failed']}")
    else:
        print(f"{args.source} to {target}: uploaded {counts['uploaded']}, skipped {counts['skipped']}, "
              f"failed {counts['failed']}")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
