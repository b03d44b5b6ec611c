import datetime as dt
import xml.etree.ElementTree as ET

from metrics.charts import history_chart_svg, line_chart_svg
from metrics.selectors import History, HistoryPoint, Stats, Trend

SVG = "{http://www.w3.org/2000/svg}"
T0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def test_line_chart_is_well_formed_with_a_point_per_value():
    points = [(T0 + dt.timedelta(days=i), v) for i, v in enumerate([3, 5, 4, 8])]
    root = parse(line_chart_svg(points, title="s3.objects"))
    polyline = root.find(f"{SVG}polyline")
    coords = [tuple(map(float, p.split(","))) for p in polyline.get("points").split()]
    assert len(coords) == 4
    xs = [x for x, _ in coords]
    assert xs == sorted(xs)  # time runs left to right
    ys = [y for _, y in coords]
    assert ys[3] < ys[0]  # the largest value is highest (SVG y grows downwards)
    assert ys[1] < ys[2]
    assert len(root.findall(f"{SVG}circle")) == 4
    assert root.find(f"{SVG}title").text == "s3.objects"


def test_x_is_proportional_to_time():
    points = [(T0, 1), (T0 + dt.timedelta(days=1), 2), (T0 + dt.timedelta(days=10), 3)]
    coords = parse(line_chart_svg(points)).find(f"{SVG}polyline").get("points").split()
    x = [float(c.split(",")[0]) for c in coords]
    assert (x[1] - x[0]) * 9 == pytest_approx(x[2] - x[1])


def pytest_approx(v):
    import pytest

    return pytest.approx(v, abs=0.2)


def test_text_is_escaped():
    svg = line_chart_svg([(T0, 1), (T0 + dt.timedelta(hours=1), 2)], title='<script>alert("x")</script> & co')
    root = parse(svg)
    assert "<script>" not in svg
    assert root.find(f"{SVG}title").text == '<script>alert("x")</script> & co'


def test_empty_single_flat_series():
    root = parse(line_chart_svg([]))
    assert root.find(f"{SVG}polyline") is None
    assert any(t.text == "no data" for t in root.iter(f"{SVG}text"))
    root = parse(line_chart_svg([(T0, 5)]))
    assert len(root.find(f"{SVG}polyline").get("points").split()) == 1
    root = parse(line_chart_svg([(T0, 5), (T0 + dt.timedelta(days=1), 5)]))
    ys = {p.split(",")[1] for p in root.find(f"{SVG}polyline").get("points").split()}
    assert len(ys) == 1


def test_points_without_time_use_the_index():
    root = parse(line_chart_svg([(None, 1), (None, 2.5), (None, -3)]))
    assert len(root.find(f"{SVG}polyline").get("points").split()) == 3


def test_history_chart_marks_errors_and_baseline():
    points = [
        HistoryPoint(T0, 10, "ok", "none", ""),
        HistoryPoint(T0 + dt.timedelta(days=1), None, "error", "high", "timeout"),
        HistoryPoint(T0 + dt.timedelta(days=2), 12, "minor", "low", ""),
    ]
    h = History("a.b", 7, T0, T0, "integer", 11, points, Trend(), Stats())
    root = parse(history_chart_svg(h))
    assert len(root.find(f"{SVG}polyline").get("points").split()) == 2  # errors have no value
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert any(t.startswith("error at") for t in titles)
    assert "baseline 11" in titles


def test_big_values_get_short_axis_labels_and_exact_tooltips():
    root = parse(line_chart_svg([(T0, 1_234_567_890), (T0 + dt.timedelta(days=1), 2_500_000_000)]))
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "1.23G" in labels and "2.5G" in labels
    tooltips = [t.text for t in root.iter(f"{SVG}title")]
    assert any(t.endswith("1,234,567,890") for t in tooltips)
