"""file:// destinations: where relative and absolute URIs point, and one whole file per delivery."""

from __future__ import annotations

from pathlib import Path

import pytest
from deliveryrecords import PARCEL

from processor.delivery.files import FileDestination, folder_of
from processor.delivery.outcome import Refused, Unavailable
from processor.delivery.parcel import Parcel


@pytest.mark.parametrize(
    ("uri", "folder"),
    [
        ("file://deliveries/crm-east", "BASE/deliveries/crm-east"),
        ("file://deliveries", "BASE/deliveries"),
        ("file:///srv/leads/east", "/srv/leads/east"),
        ("file://localhost/srv/leads", "/srv/leads"),
        ("file:///srv/my%20leads", "/srv/my leads"),
    ],
)
def test_relative_uris_resolve_against_the_deliveries_folder(uri: str, folder: str) -> None:
    assert folder_of(uri, Path("/base")) == Path(folder.replace("BASE", "/base"))


def test_one_file_per_delivery_named_by_its_id(tmp_path: Path) -> None:
    destination = FileDestination("file://deliveries/crm-east", tmp_path)
    assert destination.send(PARCEL) == "written"
    written = tmp_path / "deliveries" / "crm-east" / f"{PARCEL.delivery_id}.txt"
    assert written.read_text("utf-8") == "Zoë & <Chloé>\n"
    # Sent again (a re-delivery): the same file, the same bytes, nothing else left behind.
    assert destination.send(PARCEL) == "written"
    assert list(written.parent.iterdir()) == [written]


def test_an_id_that_is_no_safe_file_name_is_refused(tmp_path: Path) -> None:
    parcel = Parcel(**{**_fields(PARCEL), "delivery_id": "../../etc/passwd"})
    with pytest.raises(Refused):
        FileDestination(f"file://{tmp_path}", tmp_path).send(parcel)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_made_is_a_temporary_failure(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the folder should be")
    with pytest.raises(Unavailable, match="cannot write"):
        FileDestination(f"file://{tmp_path}/taken/sub", tmp_path).send(PARCEL)


@pytest.mark.parametrize(
    "uri",
    [
        "file://../../outside",
        "file://deliveries/../../outside",
        "file://deliveries/%2e%2e/%2e%2e/outside",
        "file:///tmp",
        "file://localhost/etc",
    ],
)
def test_a_folder_outside_the_deliveries_folder_is_refused(tmp_path: Path, uri: str) -> None:
    base = tmp_path / "base"
    base.mkdir()
    with pytest.raises(Refused, match="outside DELIVERIES_DIR"):
        FileDestination(uri, base).send(PARCEL)
    assert list(tmp_path.iterdir()) == [base]
    assert list(base.iterdir()) == []


def test_a_folder_with_a_nul_in_its_name_is_refused_not_a_worker_error(tmp_path: Path) -> None:
    with pytest.raises(Refused, match="cannot be resolved"):
        FileDestination("file://deliveries/a%00b", tmp_path).send(PARCEL)
    assert list(tmp_path.iterdir()) == []


def test_an_absolute_folder_inside_the_deliveries_folder_is_written(tmp_path: Path) -> None:
    FileDestination(f"file://{tmp_path}/east", tmp_path).send(PARCEL)
    assert (tmp_path / "east" / f"{PARCEL.delivery_id}.txt").exists()


def test_a_link_out_of_the_deliveries_folder_is_refused(tmp_path: Path) -> None:
    base, outside = tmp_path / "base", tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    (base / "east").symlink_to(outside)
    with pytest.raises(Refused, match="outside DELIVERIES_DIR"):
        FileDestination("file://east", base).send(PARCEL)
    with pytest.raises(Refused, match="outside DELIVERIES_DIR"):
        FileDestination("file://east/sub", base).send(PARCEL)
    assert list(outside.iterdir()) == []


def test_a_link_put_in_place_of_the_temporary_file_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    folder = tmp_path / "east"
    folder.mkdir()
    (folder / f".{PARCEL.delivery_id}.txt.partial").symlink_to(target)
    with pytest.raises(Unavailable):
        FileDestination("file://east", tmp_path).send(PARCEL)
    assert not target.exists()


def _fields(parcel: Parcel) -> dict[str, object]:
    return {name: getattr(parcel, name) for name in Parcel.__slots__}
