"""Postcode centroids: US ZIP codes from the zipcodes package, other countries from GeoNames."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import zipcodes

from processor.errors import InvalidInput
from processor.geo.countries import country_code
from processor.geo.postcodes import ACCURACY_KM, PostcodeTable, us_zip_centroids
from processor.geo.regions import us_state_code
from processor.geometry.geo import Geo


@pytest.fixture(scope="module")
def us_only() -> PostcodeTable:
    return PostcodeTable()


@pytest.fixture
def with_file(geonames_file: Path) -> PostcodeTable:
    return PostcodeTable(geonames_file)


def located(found: Geo | str) -> Geo:
    assert isinstance(found, Geo), found
    return found


def test_a_us_zip_gives_its_centroid_state_and_city(us_only: PostcodeTable) -> None:
    geo = located(us_only.locate("02134", "US"))
    assert geo == Geo(42.3535, -71.1329, "postcode", "US", "MA", "Allston", "02134", ACCURACY_KM)


@pytest.mark.parametrize(
    ("postcode", "country"),
    [
        ("2134", "US"),  # leading zero lost, as when a spreadsheet saw a number
        ("02134-1234", "US"),  # ZIP+4
        ("021341234", "US"),
        (" 02134 ", "us"),
        ("02134", "United States"),
        ("02134", "USA"),
        ("02134", "U.S.A."),
        ("02134", "the United States of America"),
        ("02134", None),  # no country: a ZIP-like postcode is taken as a US ZIP
        ("2134", None),
        ("02134-1234", None),
        ("02134", "  "),
    ],
)
def test_us_zip_forms_all_find_the_same_zip(
    us_only: PostcodeTable, postcode: str, country: str | None
) -> None:
    assert located(us_only.locate(postcode, country)).postcode == "02134"


def test_territories_with_their_own_country_code_use_us_zips(us_only: PostcodeTable) -> None:
    geo = located(us_only.locate("00601", "Puerto Rico"))
    assert (geo.region, geo.city) == ("PR", "Adjuntas")
    assert located(us_only.locate("96910", "GU")).region == "GU"


@pytest.mark.parametrize(
    ("postcode", "country", "note"),
    [
        ("99999", "US", "postcode 99999 (US) unknown"),
        ("10115", "Germany", "postcode 10115 (DE) unknown"),  # no file given
        ("SW1A 1AA", None, "postcode SW1A 1AA has no country"),
        ("SW1A 1AA", " ", "postcode SW1A 1AA has no country"),
        ("123456", None, "postcode 123456 has no country"),
        ("10115", "Narnia", "postcode 10115: country 'Narnia' unknown"),
        ("  ", "US", "postcode is blank"),
        ("- -", "US", "postcode is blank"),
        ("0" * 40, "US", "postcode is too long to be one"),
    ],
)
def test_unknown_and_unusable_postcodes_give_a_reason(
    us_only: PostcodeTable, postcode: str, country: str | None, note: str
) -> None:
    assert us_only.locate(postcode, country) == note


def test_every_zip_the_package_carries_is_loaded() -> None:
    everything = zipcodes.filter_by()  # type: ignore[no-untyped-call]
    assert len(us_zip_centroids()) == len({record["zip_code"] for record in everything})


def test_geonames_rows_are_found_by_country_code_or_name(with_file: PostcodeTable) -> None:
    geo = located(with_file.locate("10115", "DE"))
    assert geo == Geo(52.5323, 13.3846, "postcode", "DE", "Berlin", "Berlin", "10115", ACCURACY_KM)
    assert located(with_file.locate("10115", "Deutschland")) == geo
    assert located(with_file.locate("10115", "deu")) == geo


def test_geonames_duplicates_keep_the_first_row(with_file: PostcodeTable) -> None:
    assert located(with_file.locate("10115", "DE")).city == "Berlin"


def test_lost_leading_zeros_are_restored_to_the_countrys_length(with_file: PostcodeTable) -> None:
    assert located(with_file.locate("1067", "DE")).city == "Dresden"


def test_a_code_as_written_wins_over_a_zero_padded_one(tmp_path: Path) -> None:
    rows = ["IS\t123\tShort\t\t\t\t\t\t\t1.0\t1.0", "IS\t00123\tPadded\t\t\t\t\t\t\t2.0\t2.0"]
    (tmp_path / "is.txt").write_text("\n".join(rows))
    table = PostcodeTable(tmp_path / "is.txt")
    assert located(table.locate("123", "IS")).city == "Short"
    assert located(table.locate("0123", "IS")).city == "Padded"


def test_case_spaces_and_hyphens_do_not_matter(with_file: PostcodeTable) -> None:
    assert located(with_file.locate("ec1a1bb", "GB")).postcode == "EC1A 1BB"
    assert located(with_file.locate("00950", "Poland")).postcode == "00-950"


def test_a_full_postcode_falls_back_to_its_outward_part(with_file: PostcodeTable) -> None:
    assert located(with_file.locate("SW1A 1AA", "United Kingdom")).postcode == "SW1A"
    assert located(with_file.locate("1012 AB", "Netherlands")).city == "Amsterdam"
    assert with_file.locate("SW1A1AA", "GB") == "postcode SW1A1AA (GB) unknown"


def test_the_operators_file_takes_precedence_over_the_zip_package(with_file: PostcodeTable) -> None:
    assert located(with_file.locate("02134", "US")).city == "Allston (file)"
    assert located(with_file.locate("90210", "US")).city == "Beverly Hills"


def test_malformed_lines_are_skipped_and_counted(with_file: PostcodeTable) -> None:
    assert with_file.skipped_lines == 3
    assert with_file.locate("99999", "DE") == "postcode 99999 (DE) unknown"


def test_a_geonames_zip_archive_is_read_without_its_readme(
    tmp_path: Path, geonames_file: Path
) -> None:
    archive = tmp_path / "allCountries.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(geonames_file, "allCountries.txt")
        out.writestr("readme.txt", "GB\tREADME\tx\tx\tx\t\t\t\t\t1.0\t1.0\t1\n")
    table = PostcodeTable(archive)
    assert located(table.locate("1012", "NL")).city == "Amsterdam"
    assert table.locate("README", "GB") == "postcode README (GB) unknown"


def test_unreadable_or_empty_files_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        PostcodeTable(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("nothing\there\n")
    with pytest.raises(InvalidInput, match="no postal code rows"):
        PostcodeTable(tmp_path / "empty.txt")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(InvalidInput, match="cannot read"):
        PostcodeTable(tmp_path / "bad.zip")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("US", "US"),
        ("usa", "US"),
        ("United States", "US"),
        ("Germany", "DE"),
        ("Deutschland", "DE"),
        ("Österreich", "AT"),
        ("UK", "GB"),
        ("Korea, Republic of", "KR"),
        ("South Korea", "KR"),
        ("Atlantis", None),
        ("", None),
    ],
)
def test_country_forms(text: str, code: str | None) -> None:
    assert country_code(text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [("California", "CA"), ("ca", "CA"), ("district of columbia", "DC"), ("Bavaria", None)],
)
def test_us_state_forms(text: str, code: str | None) -> None:
    assert us_state_code(text) == code
