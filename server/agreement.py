"""Does a station's camera agree with the people who checked it? Per station
and period: the inspectors' accuracy beside the camera's own over exactly the
windows they watched, and, from audits, the camera's sensitivity (wrong
disposals it calls wrong) and specificity (correct ones it calls correct)
per model version, each with a 95 % Wilson interval. A camera whose window
accuracy and the inspectors' have disjoint intervals is flagged."""
from __future__ import annotations

from .correction import Audits
from .ledger import camera_counts
from .rates import ratio, wilson_interval
from .timeutil import Period

MIN_CHECKED = 10   # fewer checked disposals than this say too little to flag a camera


def _share(successes: int, n: int) -> dict:
    interval = wilson_interval(successes, n)
    return {"value": ratio(successes, n), "n": n,
            "interval": None if interval is None else [round(v, 4) for v in interval]}


def window_agreement(store, inspections: list[dict]) -> dict | None:
    """The inspectors' and the camera's accuracy over the same windows."""
    if not inspections:
        return None
    checked = sum(r["checked"] for r in inspections)
    wrong = sum(r["wrong"] for r in inspections)
    camera_correct = camera_judged = 0
    for r in inspections:
        correct, judged = camera_counts(store, r)
        camera_correct += correct
        camera_judged += judged
    inspected, camera = _share(checked - wrong, checked), _share(camera_correct, camera_judged)
    disagrees = (checked >= MIN_CHECKED and camera_judged >= MIN_CHECKED
                 and (camera["interval"][1] < inspected["interval"][0]
                      or inspected["interval"][1] < camera["interval"][0]))
    return {"inspections": len(inspections), "inspected": inspected, "camera": camera,
            "disagrees": disagrees}


def station_agreement(store, station_id: str, period: Period, scope: str) -> dict:
    first, last = period.start.isoformat(), period.end.isoformat()
    inspections = [r for r in store.inspections(scope, first, last) if r["station_id"] == station_id]
    models = []
    for model, counts in sorted(store.station_audit_counts(station_id, first, last).items()):
        audits = Audits(counts)
        models.append({"model": model, "audited": audits.total,
                       "sensitivity": _share(*audits.sensitivity()),
                       "specificity": _share(*audits.specificity())})
    return {"station_id": station_id, "period": period.as_json(),
            "windows": window_agreement(store, inspections), "audits": models}
