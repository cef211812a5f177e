"""``python -m backend.scripts.migrate_pdfs_to_s3``: copies a folder of PDFs to S3, keeps
relative paths as keys, is safe to run twice, and exits non-zero on any failure."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backend.config import load_settings
from backend.scripts import migrate_pdfs_to_s3
from tests.conftest import ROOT
from tests.support import s3 as s3_support
from tests.support.s3 import S3Bucket

s3_server = s3_support.s3_server  # fixtures: the moto server and a fresh bucket per test
s3_bucket = s3_support.s3_bucket


@pytest.fixture
def pdf_folder(tmp_path: Path) -> Path:
    """50 PDFs, some in sub-folders, as the old ./data/pdfs held them."""
    source = tmp_path / "pdfs"
    for number in range(50):
        folder = source / f"contractor-{number % 5}" if number % 2 else source
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"quote-{number:03d}.pdf").write_bytes(b"%PDF-1.4\n" + bytes([number]) * (100 + number) + b"%%EOF")
    return source


def run_script(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend.scripts.migrate_pdfs_to_s3", *args],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True, text=True, timeout=120,
    )


def settings_for(bucket: S3Bucket, tmp_path: Path, **extra: Any) -> Any:
    return load_settings(environment="test", database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
                         **{**bucket.settings(), "storage_backend": "local", **extra})


def test_first_run_uploads_all_second_run_skips_all(s3_bucket: S3Bucket, pdf_folder: Path, tmp_path: Path) -> None:
    # STORAGE_BACKEND stays local: the script targets S3 whatever the app uses today.
    env = {**s3_bucket.env(), "STORAGE_BACKEND": "local"}
    first = run_script(["--source", str(pdf_folder)], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "uploaded 50, skipped 0, failed 0" in first.stdout

    keys = s3_bucket.keys()
    assert len(keys) == 50
    assert "quote-000.pdf" in keys and "contractor-1/quote-001.pdf" in keys  # relative paths kept
    body = s3_bucket.client().get_object(Bucket=s3_bucket.name, Key="contractor-1/quote-001.pdf")
    assert body["Body"].read() == (pdf_folder / "contractor-1" / "quote-001.pdf").read_bytes()
    assert body["ContentType"] == "application/pdf"

    second = run_script(["--source", str(pdf_folder)], env, tmp_path)
    assert second.returncode == 0, second.stderr
    assert "uploaded 0, skipped 50, failed 0" in second.stdout


def test_dry_run_uploads_nothing(s3_bucket: S3Bucket, pdf_folder: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = migrate_pdfs_to_s3.main(["--dry-run", "--source", str(pdf_folder)],
                                   settings=settings_for(s3_bucket, tmp_path))
    assert code == 0
    assert "would upload 50, skipped 0, failed 0" in capsys.readouterr().out
    assert s3_bucket.keys() == []


def test_a_changed_file_is_uploaded_again(s3_bucket: S3Bucket, pdf_folder: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_for(s3_bucket, tmp_path)
    assert migrate_pdfs_to_s3.main(["--source", str(pdf_folder)], settings=settings) == 0
    (pdf_folder / "quote-000.pdf").write_bytes(b"%PDF-1.4 a longer, newer rendering %%EOF")
    capsys.readouterr()
    assert migrate_pdfs_to_s3.main(["--source", str(pdf_folder)], settings=settings) == 0
    assert "uploaded 1, skipped 49, failed 0" in capsys.readouterr().out


def test_failures_are_counted_and_exit_non_zero(s3_bucket: S3Bucket, pdf_folder: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (pdf_folder / "bad name with spaces.pdf").write_bytes(b"%PDF")
    code = migrate_pdfs_to_s3.main(["--source", str(pdf_folder)], settings=settings_for(s3_bucket, tmp_path))
    out = capsys.readouterr()
    assert code == 1
    assert "uploaded 50, skipped 0, failed 1" in out.out
    assert "bad name with spaces.pdf" in out.err

    # An unreachable endpoint fails every file, quickly, and says so.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = migrate_pdfs_to_s3.main(["--source", str(pdf_folder)], settings=settings_for(
        s3_bucket, tmp_path, s3_endpoint_url=f"http://127.0.0.1:{port}"))
    assert code == 1
    assert "uploaded 0, skipped 0, failed 51" in capsys.readouterr().out


def test_missing_source_or_bucket_is_a_clear_error(s3_bucket: S3Bucket, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert migrate_pdfs_to_s3.main(["--source", str(tmp_path / "nope")],
                                   settings=settings_for(s3_bucket, tmp_path)) == 2
    assert "does not exist" in capsys.readouterr().err
    assert migrate_pdfs_to_s3.main(["--source", str(tmp_path)],
                                   settings=settings_for(s3_bucket, tmp_path, aws_s3_bucket="")) == 2
    assert "AWS_S3_BUCKET" in capsys.readouterr().err
