import datetime as dt
from pathlib import Path

import pytest

from reconciliation.services.catalog import MAX_REPORTED, CatalogError, catalog_import, parse_catalog
from reconciliation.models import CatalogGame, Source

REFERENCE = Path("/work/shared/reference/catalog_espn.example.csv")
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def test_parse_with_optional_column_bom_and_season_normalisation():
    rows = parse_catalog("\ufeffgame_id,season,game_date,season_type\n1,2024,2023-10-24,regular\n\n2,1999-00,2000-01-05,\n",
                         "c.csv")
    assert [(r.line, r.game_id, r.season, r.game_date, r.season_type) for r in rows] == [
        (2, "1", "2023-24", dt.date(2023, 10, 24), "regular"),
        (4, "2", "1999-00", dt.date(2000, 1, 5), ""),
    ]


def test_columns_in_any_order_extra_columns_ignored():
    rows = parse_catalog("game_date,home,game_id,season\n2024-10-22,BOS,7,2024-25\n", "c.csv")
    assert [(r.game_id, r.season, r.season_type) for r in rows] == [("7", "2024-25", "")]


def test_every_bad_row_is_reported_with_its_line_number():
    text = ("game_id,season,game_date\n"
            "1,2023-24,2023-10-24\n"
            "2,2023-25,2023-10-24\n"        # line 3: bad season
            "3,2023-24,2023-13-01\n"        # line 4: bad date
            "1,2023-24,2023-10-25\n"        # line 5: duplicate
            "4,2023-24\n"                   # line 6: missing column
            ",2023-24,2023-10-26\n"         # line 7: empty id
            "5,2023-24,24/10/2023\n"        # line 8: not ISO
            "6,2023-24,2023-W43-2\n")       # line 9: ISO week date is not YYYY-MM-DD
    with pytest.raises(CatalogError) as exc:
        parse_catalog(text, "c.csv")
    msg = str(exc.value)
    assert msg.startswith("c.csv: 7 malformed rows, nothing imported: line 3: invalid season '2023-25'")
    for fragment in ("line 4: invalid game_date '2023-13-01'", "line 5: duplicate game_id 1 (first on line 2)",
                     "line 6: expected 3 columns, got 2", "line 7: empty game_id", "line 8: invalid game_date", "line 9: invalid game_date"):
        assert fragment in msg
    assert "\n" not in msg


def test_many_bad_rows_are_capped_with_a_count():
    text = "game_id,season,game_date\n" + "".join(f"{i},bad,2024-01-01\n" for i in range(MAX_REPORTED + 5))
    with pytest.raises(CatalogError) as exc:
        parse_catalog(text, "c.csv")
    msg = str(exc.value)
    assert f"{MAX_REPORTED + 5} malformed rows" in msg and "(and 5 more)" in msg
    assert f"line {MAX_REPORTED + 1}:" in msg and f"line {MAX_REPORTED + 2}:" not in msg


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "c.csv: empty file"),
        ("   \n", "c.csv: empty file"),
        ("game_id,season\n1,2024-25\n", "c.csv: line 1: header lacks column(s) game_date"),
        ("id,season,date\n", "header lacks column(s) game_id, game_date"),
        ("game_id,season,game_date,season\n", "line 1: column(s) season appear more than once"),
        ("game_id,season,game_date\n", "c.csv: no games after the header"),
    ],
)
def test_bad_files(text, message):
    with pytest.raises(CatalogError) as exc:
        parse_catalog(text, "c.csv")
    assert message in str(exc.value)


@pytest.mark.django_db
def test_reference_catalog_imports_and_reimport_replaces_atomically(tmp_path):
    src = Source.objects.create(name="espn", scraper="s", location="s3://lake/", seasons=["2024-25"])
    other = Source.objects.create(name="nba_api", scraper="s", location="s3://lake/n/", seasons=[])
    CatalogGame.objects.create(source=other, game_id="x", season="2024-25", game_date=dt.date(2024, 11, 1))
    result = catalog_import("espn", REFERENCE)
    assert (result.imported, result.replaced) == (7, 0)
    assert CatalogGame.objects.filter(source=src).count() == 7
    g = CatalogGame.objects.get(source=src, game_id="401584689")
    assert (g.season, g.game_date, g.season_type) == ("2023-24", dt.date(2023, 10, 24), "regular")
    smaller = tmp_path / "c.csv"
    smaller.write_text("game_id,season,game_date\n9,2025,2025-01-01\n")
    result = catalog_import("espn", smaller)
    assert (result.imported, result.replaced) == (1, 7)
    assert list(CatalogGame.objects.filter(source=src).values_list("game_id", "season")) == [("9", "2024-25")]
    assert CatalogGame.objects.filter(source=other).count() == 1  # other sources untouched


@pytest.mark.django_db
def test_fixture_catalogs_import():
    for name in ("espn", "nba_api"):
        Source.objects.create(name=name, scraper="s", location=f"s3://lake/{name}/", seasons=[])
        assert catalog_import(name, FIXTURES / f"catalog_{name}.csv").imported > 0


@pytest.mark.django_db
def test_bad_rows_and_unknown_source_change_nothing(tmp_path):
    Source.objects.create(name="espn", scraper="s", location="s3://lake/", seasons=[])
    catalog_import("espn", REFERENCE)
    before = list(CatalogGame.objects.values())
    bad = tmp_path / "bad.csv"
    bad.write_text("game_id,season,game_date\n1,2024-25,2024-11-01\n2,2024-25,nope\n")
    with pytest.raises(CatalogError, match=r"bad\.csv: 1 malformed row, nothing imported: line 3"):
        catalog_import("espn", bad)
    with pytest.raises(CatalogError, match=r"--source: unknown source 'nope' \(known: espn\)"):
        catalog_import("nope", REFERENCE)
    with pytest.raises(CatalogError, match="no such file"):
        catalog_import("espn", tmp_path / "missing.csv")
    assert list(CatalogGame.objects.values()) == before
