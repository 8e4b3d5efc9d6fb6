"""The fleet chart read back as XML: one row per slot, a bar per segment in time order, the now
line, an idle slot, and every name from the configuration escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from cosmos_workflow.services.fleet import FleetView, HostView, SlotView, TimelineSegment
from cosmos_workflow.ui.fleet_chart import Axis, chart_axis, fleet_svg, offset_text

NOW = 1_800_000_000.0
HOUR = 3600.0
SVG = "{http://www.w3.org/2000/svg}"


def _segment(job_id: str, start: float, end: float | None, kind: Any) -> TimelineSegment:
    """A segment placed in seconds from NOW."""
    return TimelineSegment(
        job_id=job_id, start_at=NOW + start, end_at=None if end is None else NOW + end, kind=kind
    )


def slot_view(host: str, index: int, timeline: list[TimelineSegment], **changes: Any) -> SlotView:
    fields: dict[str, Any] = {
        "name": f"{host}/{index}",
        "index": index,
        "devices": [index],
        "gpu_profile": "h100-80gb",
        "gpu_memory_gb": 80.0,
        "worker_id": "worker-1",
        "worker_alive": True,
        "job_id": None,
        "job_runs": 0,
        "progress": None,
        "started_at": None,
        "eta_finish_at": None,
        "idle_seconds": None,
        "queued_next": sum(1 for s in timeline if s.kind == "predicted"),
        "timeline": timeline,
    }
    return SlotView(**{**fields, **changes})


def _host(name: str, slots: list[SlotView]) -> HostView:
    return HostView(
        name=name,
        remote=False,
        container="none",
        simulated=True,
        gpu_profile=slots[0].gpu_profile,
        gpus=[d for slot in slots for d in slot.devices],
        gpus_per_job=1,
        slots=slots,
    )


def _view(hosts: list[HostView], drain_at: float | None = None) -> FleetView:
    slots = [slot for host in hosts for slot in host.slots]
    busy = sum(1 for slot in slots if slot.job_id)
    return FleetView(
        at=NOW,
        since=NOW - 6 * HOUR,
        hosts=hosts,
        slots=len(slots),
        busy=busy,
        idle=len(slots) - busy,
        queued_jobs=sum(slot.queued_next for slot in slots),
        drain_at=drain_at,
        elsewhere=[],
    )


@pytest.fixture
def fleet() -> FleetView:
    """Slot big/0 has two past attempts, a running job and one predicted; big/1 is idle with
    two predicted jobs (the last without an estimate); `<&>/0` never ran anything."""
    busy = slot_view(
        "big",
        0,
        [
            _segment("job_old", -5 * HOUR, -4 * HOUR, "succeeded"),
            _segment("job_bad", -3 * HOUR, -2.5 * HOUR, "failed"),
            _segment("job_now", -0.5 * HOUR, None, "running"),
            _segment("job_next", 0.3 * HOUR, 0.8 * HOUR, "predicted"),
        ],
        job_id="job_now",
        started_at=NOW - 0.5 * HOUR,
        eta_finish_at=NOW + 0.3 * HOUR,
        progress={"step": 3, "total": 35, "clip": None},
    )
    waiting = slot_view(
        "big",
        1,
        [
            _segment("job_p1", 0, 1.5 * HOUR, "predicted"),
            _segment("job_p2", 1.5 * HOUR, None, "predicted"),
        ],
        idle_seconds=900.0,
    )
    odd = slot_view("<&>", 0, [], gpu_profile="a100-80gb", worker_alive=False, worker_id=None)
    return _view([_host("big", [busy, waiting]), _host("<&>", [odd])], drain_at=NOW + 2 * HOUR)


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed XML


def _classes(element: ET.Element) -> list[str]:
    return element.get("class", "").split()


def _rows(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}g") if "slot-row" in _classes(e)]


def _bars(element: ET.Element) -> list[ET.Element]:
    return [e for e in element.iter(f"{SVG}rect") if "bar" in _classes(e)]


def _bar(root: ET.Element, job_id: str) -> ET.Element:
    (found,) = [bar for bar in _bars(root) if bar.get("data-job") == job_id]
    return found


def _x(element: ET.Element) -> float:
    return float(element.get("x", "nan"))


def _now_x(root: ET.Element) -> float:
    (line,) = [e for e in root.iter(f"{SVG}line") if "now-line" in _classes(e)]
    assert line.get("x1") == line.get("x2")
    return float(line.get("x1", "nan"))


def test_one_row_per_slot_in_fleet_order_with_its_label(fleet: FleetView) -> None:
    root = _parse(fleet_svg(fleet))
    rows = _rows(root)
    assert [row.get("data-slot") for row in rows] == ["big/0", "big/1", "<&>/0"]
    texts = ["".join(row.itertext()) for row in rows]
    assert "big/1 · h100-80gb · GPU 1" in texts[1]
    assert "<&>/0 · a100-80gb · GPU 0" in texts[2]


def test_every_segment_is_a_bar_of_its_kind(fleet: FleetView) -> None:
    root = _parse(fleet_svg(fleet))
    (busy, waiting, odd) = _rows(root)
    assert [(b.get("data-job"), _classes(b)) for b in _bars(busy)] == [
        ("job_old", ["bar", "succeeded"]),
        ("job_bad", ["bar", "failed"]),
        ("job_now", ["bar", "running"]),
        ("job_next", ["bar", "predicted"]),
    ]
    assert [b.get("data-job") for b in _bars(waiting)] == ["job_p1", "job_p2"]
    assert _bars(odd) == []
    assert all("hatch" in bar.get("fill", "") for bar in _bars(waiting))


def test_later_segments_lie_further_right_and_the_now_line_between(fleet: FleetView) -> None:
    root = _parse(fleet_svg(fleet))
    order = ["job_old", "job_bad", "job_now", "job_next"]
    xs = [_x(_bar(root, job)) for job in order]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    now = _now_x(root)
    assert _x(_bar(root, "job_bad")) < now < _x(_bar(root, "job_next"))
    assert _x(_bar(root, "job_p1")) == pytest.approx(now, abs=0.1)


def test_a_running_bar_ends_at_now_and_its_eta_is_dashed_beyond(fleet: FleetView) -> None:
    root = _parse(fleet_svg(fleet))
    running = _bar(root, "job_now")
    now = _now_x(root)
    assert _x(running) + float(running.get("width", "0")) == pytest.approx(now, abs=0.2)
    (eta,) = [e for e in root.iter(f"{SVG}rect") if "eta" in _classes(e)]
    assert eta.get("data-job") == "job_now" and eta.get("stroke-dasharray")
    assert _x(eta) == pytest.approx(now, abs=0.1) and float(eta.get("width", "0")) > 0


def test_each_bar_says_what_it_is_in_a_tooltip(fleet: FleetView) -> None:
    root = _parse(fleet_svg(fleet))
    tips = {bar.get("data-job"): bar.findtext(f"{SVG}title") or "" for bar in _bars(root)}
    assert tips["job_old"].startswith("job_old · succeeded · big/0")
    assert "(1.0 h)" in tips["job_old"]
    assert "running for 30.0 min" in tips["job_now"] and "predicted end" in tips["job_now"]
    assert "end unknown" in tips["job_p2"]


def test_an_idle_slot_is_shown_idle(fleet: FleetView) -> None:
    rows = _rows(_parse(fleet_svg(fleet)))
    assert [("idle" in _classes(row)) for row in rows] == [False, True, True]
    states = [row.findtext(f"{SVG}text[@class='slot-state']") for row in rows]
    assert states == ["running job_now", "idle for 15.0 min", "idle, no job yet · no worker"]


def test_names_from_the_configuration_are_escaped() -> None:
    odd = slot_view("a<b>&c\"'", 0, [_segment('job_<x>&"', -HOUR, -0.5 * HOUR, "succeeded")])
    svg = fleet_svg(_view([_host("a<b>&c\"'", [odd])]))
    assert "<b>" not in svg and 'job_<x>&"' not in svg
    root = _parse(svg)
    (row,) = _rows(root)
    assert row.get("data-slot") == "a<b>&c\"'/0"
    assert _bar(root, 'job_<x>&"').get("class") == "bar succeeded"


def test_the_axis_runs_to_the_drain_or_an_hour_ahead_or_as_asked(fleet: FleetView) -> None:
    assert chart_axis(fleet) == Axis(start=NOW - 6 * HOUR, end=NOW + 2 * HOUR, now=NOW)
    soon = fleet.model_copy(update={"drain_at": NOW + 60})
    assert chart_axis(soon).end == NOW + HOUR
    assert chart_axis(fleet, ahead_seconds=1800).end == NOW + 1800
    with pytest.raises(ValueError, match="above 0"):
        chart_axis(fleet, ahead_seconds=0)


def test_bars_past_a_short_axis_are_left_out_and_ticks_are_relative(fleet: FleetView) -> None:
    root = _parse(fleet_svg(fleet, ahead_seconds=0.5 * HOUR))
    jobs = {bar.get("data-job") for bar in _bars(root)}
    assert "job_p2" not in jobs and {"job_old", "job_now", "job_p1"} <= jobs
    labels = [e.text for e in root.iter(f"{SVG}text") if "tick-label" in _classes(e)]
    assert labels == ["-6 h", "-5 h", "-4 h", "-3 h", "-2 h", "-1 h", "now"]


def test_tick_offsets_read_as_durations_from_now() -> None:
    assert [offset_text(s) for s in (0, 20, -7200, 1800, 4500, -60)] == [
        "now",
        "now",
        "-2 h",
        "+30 min",
        "+1 h 15 min",
        "-1 min",
    ]


def test_the_same_view_gives_the_same_svg(fleet: FleetView) -> None:
    assert fleet_svg(fleet) == fleet_svg(fleet.model_copy(deep=True))


def test_a_fleet_without_slots_still_draws() -> None:
    root = _parse(fleet_svg(_view([])))
    assert _rows(root) == [] and "No slot is configured" in "".join(root.itertext())
    assert _now_x(root) > 0
