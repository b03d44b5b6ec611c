"""Dimensions (SPEC §10): the three kinds behind one interface, and dimension catalogs."""
import io

import pytest
from django.core.management import CommandError, call_command

from reconciliation.domain.dimensions import CatalogDimension, OpenDimension, StaticDimension, dimension_for
from reconciliation.models import DimensionValue, Source
from reconciliation.services.catalog import CatalogError
from reconciliation.services.dimensions import parse_dimension_catalog


def test_each_kind_answers_the_values_of_a_season():
    static = StaticDimension("side", ("home", "away"))
    assert not static.is_open and static.values_for("2023-24") == ("home", "away") == static.values_for(None)
    catalog = CatalogDimension("team", (("LAL", None), ("SEA", "2007-08"), ("OKC", "2008-09")))
    assert catalog.values_for("2007-08") == ("LAL", "SEA")
    assert catalog.values_for("2008-09") == ("LAL", "OKC")
    assert catalog.values_for(None) == ("LAL",)  # the fixed level takes only season-less values
    assert OpenDimension("player_id").is_open
    with pytest.raises(ValueError):
        OpenDimension("player_id").values_for("2023-24")


def test_yaml_values_win_over_a_catalog_and_neither_is_open():
    catalogs = {"team": (("BOS", None),)}
    assert dimension_for("team", {"team": ("LAL",)}, catalogs) == StaticDimension("team", ("LAL",))
    assert dimension_for("team", {}, catalogs) == CatalogDimension("team", (("BOS", None),))
    assert dimension_for("player", {}, catalogs).is_open


def test_parse_accepts_every_season_form_and_blank_for_every_season():
    rows = parse_dimension_catalog("value,season\nLAL,\nSEA,2008\nOKC,2008-09\nNOH,2003-2004\n", "d.csv")
    assert rows == [("LAL", None), ("SEA", "2007-08"), ("OKC", "2008-09"), ("NOH", "2002-03"), ("NOH", "2003-04")]
    assert parse_dimension_catalog("value\nmvp\nmvp\n", "d.csv") == [("mvp", None)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("value,season\nLAL,\nBOS,2023-25\n", "d.csv: 1 malformed row, nothing imported: line 3: invalid season '2023-25'"),
        ("value\nLA/L\n", "line 2: dimension value 'LA/L' contains '/'"),
        ("value,season\n,2024\n", "line 2: a dimension value must be a non-empty string"),
        ("season\n2024\n", "d.csv: line 1: header lacks column(s) value (expected value[,season])"),
        ("value\n", "no values after the header"),
    ],
)
def test_malformed_catalogs_name_their_lines(text, message):
    with pytest.raises(CatalogError) as exc:
        parse_dimension_catalog(text, "d.csv")
    assert message in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.django_db
def test_import_replaces_one_source_dimension_atomically_and_bad_input_changes_nothing(tmp_path):
    Source.objects.create(name="espn", scraper="s", location="s3://lake/", seasons=[])
    other = Source.objects.create(name="bbref", scraper="s", location="s3://lake/b/", seasons=[])
    DimensionValue.objects.create(source=other, dimension="team", value="KEEP")
    first, second, bad = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "bad.csv"
    first.write_text("value,season\nLAL,\nSEA,2008\n")
    second.write_text("value\nBOS\n")
    bad.write_text("value,season\nLAL,\nBOS,\nNYK,24-25\n")
    out = io.StringIO()
    call_command("import_catalog", "--source", "espn", "--dimension", "team", str(first), stdout=out)
    assert "imported 2 value(s) of dimension team for espn (replaced 0)" in out.getvalue()
    call_command("import_catalog", "--source", "espn", "--dimension", "team", str(second), stdout=out)

    def rows():
        return sorted(DimensionValue.objects.values_list("source__name", "dimension", "value", "season"))

    assert rows() == [("bbref", "team", "KEEP", None), ("espn", "team", "BOS", None)]
    for args, message in [
        (("--source", "espn", "--dimension", "team", str(bad)), f"{bad}: 1 malformed row, nothing imported: line 4: "),
        (("--source", "nope", "--dimension", "team", str(first)), "--source: unknown source 'nope'"),
        (("--source", "espn", "--dimension", "season", str(first)), "is a §5 placeholder, not a dimension"),
        (("--source", "espn", "--dimension", "1x", str(first)), "is not a placeholder name"),
    ]:
        with pytest.raises(CommandError) as exc:
            call_command("import_catalog", *args, stdout=io.StringIO(), stderr=io.StringIO())
        assert exc.value.returncode == 2 and message in str(exc.value) and "\n" not in str(exc.value)
    assert rows() == [("bbref", "team", "KEEP", None), ("espn", "team", "BOS", None)]
