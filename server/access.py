"""Who may see or do what: the one place every such decision is made
(docs/design.md, "Security"). The API, the pages and the downloads ask here
and turn the errors raised here into their own answer: a JSON error body
(server/errors.py) or an error page (server/web/common.py).

    role        reads                                   may also
    city        everything                              rankings, downloads
    district    its district                            rankings, downloads
    street      its street                              rankings, downloads
    community   its community (and where it ranks)      -
    volunteer   its own station only                    feedback, quiz, audits
    inspector   the stations of its street, district    inspections, audits
                or the city, and their inspections
    labeller    the learning samples of its district    labels
                or of the city (crops, no events)

Household records (each household token's disposals) are for the
community's own manager only; nobody above the community sees a list of
households.

Cases (工单) are read by whoever reads their station. The station's volunteer
marks one handled (resolved); the managers of a scope holding the station
move it along (dispatch, resolve, close, false alarm); street, district and
city staff also escalate it (督办) and download the scope's cases.

Reading a station (its tablet, live stream, events, evidence images, the
quiz) means: a volunteer's own station, or a station inside a manager's or
inspector's scope. Correcting its prompts (feedback) changes the counted
verdict, so it belongs to whoever saw the disposal: the station's own
volunteer. Managers read the events and the feedback given and do not change
them. Inspections (查N错M) are recorded by inspectors for the stations in
their scope; an audit (the truth beside the camera's verdict, which changes
no count) by the station's volunteer or an inspector of the station.
"""
from __future__ import annotations

from .scopes import CITY, contains

MANAGER_ROLES = ("city", "district", "street", "community")
# Street, district and city staff read rankings of their scope and download
# its statistics (docs/design.md, "Who uses it"); a community's manager sees
# where the community stands on the dashboard instead.
RANKING_ROLES = ("city", "district", "street")


class AccessError(Exception):
    """A request that may not go on; `status` and `code` say how to answer it."""

    status = 403
    code = "forbidden"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Forbidden(AccessError):
    status, code = 403, "forbidden"


class NotFound(AccessError):
    """Something the user asked for does not exist (checked after the scope,
    so that nobody learns what exists outside theirs)."""

    status, code = 404, "not_found"


def home_scope(user: dict) -> str:
    """The division code a manager's pages open on ('city' for city staff)."""
    return CITY if user["role"] == "city" else user["scope"]


def contains_scope(user: dict, code: str) -> bool:
    """Whether a division code (or 'city') lies in the user's scope."""
    role, scope = user["role"], user["scope"]
    if role == "city":
        return True
    if role not in MANAGER_ROLES or code == CITY:
        return False
    return contains(scope, code)


def inspector_covers(user: dict, code: str) -> bool:
    """Whether `code` (a division code or 'city') lies in an inspector's scope."""
    return user["role"] == "inspector" and (user["scope"] in ("", CITY) or
                                            (code != CITY and contains(user["scope"], code)))


def sees_station(user: dict, station: dict) -> bool:
    """A volunteer sees their own station; managers and inspectors the stations in their scope."""
    if user["role"] == "volunteer":
        return user["scope"] == station["id"]
    if user["role"] == "inspector":
        return inspector_covers(user, station["community_code"])
    return contains_scope(user, station["community_code"])


def may_rank(user: dict) -> bool:
    return user["role"] in RANKING_ROLES


def require_scope(user: dict, code: str) -> None:
    """Scope reads: the rates, trend, insights and station health of `code`."""
    if user["role"] not in MANAGER_ROLES:
        raise Forbidden("these figures are for managers and city staff")
    if not contains_scope(user, code):
        raise Forbidden("this scope is outside yours")


def readable_region(store, user: dict, code: str) -> None:
    """`require_scope`, then the division must exist."""
    require_scope(user, code)
    if code != CITY and store.region(code) is None:
        raise NotFound(f"no division {code}")


def require_rankings(store, user: dict, within: str) -> None:
    """Rankings, red and black lists, and the downloads of the same figures."""
    rankings_home(user)
    readable_region(store, user, within)


require_downloads = require_rankings


def sees_ranking(user: dict, within: str) -> bool:
    """Whether the members ranked inside `within` (their names and values)
    may be shown to the user: the same rule as require_rankings, as a yes or
    no for a page that otherwise shows only the user's own standing."""
    return may_rank(user) and contains_scope(user, within)


def rankings_home(user: dict) -> str:
    """The scope the rankings page opens on, for those who may rank."""
    if not may_rank(user):
        raise Forbidden("rankings and downloads are for street, district and city staff")
    return home_scope(user)


def readable_station(store, user: dict, station_id: str) -> dict:
    """The station, if the user may read it (tablet, stream, events, quiz)."""
    station = store.station(station_id)
    if station is None:
        raise NotFound(f"no station {station_id}")
    if not sees_station(user, station):
        raise Forbidden("this station is outside your scope")
    return station


def readable_event(store, user: dict, event_id: str) -> dict:
    """The event, if the user may read its station (evidence image, feedback)."""
    event = store.event(event_id.lower())
    if event is None:
        raise NotFound(f"no event {event_id}")
    readable_station(store, user, event["station_id"])
    return event


def may_correct(user: dict, station: dict) -> bool:
    """Feedback on a station's events: its own volunteer only."""
    return user["role"] == "volunteer" and user["scope"] == station["id"]


def correctable_event(store, user: dict, event_id: str) -> dict:
    """The event, if the user may give feedback on it (after the read check,
    so that a manager outside the scope still learns nothing)."""
    event = readable_event(store, user, event_id)
    if not may_correct(user, store.station(event["station_id"])):
        raise Forbidden("feedback is given by the station's volunteer; managers read it")
    return event


def inspectable_station(store, user: dict, station_id: str) -> dict:
    """The station, if the user may record an inspection of it."""
    if user["role"] != "inspector":
        raise Forbidden("inspections are recorded by inspectors")
    return readable_station(store, user, station_id)


def may_audit(user: dict, station: dict) -> bool:
    """An audit of a disposal: the station's volunteer, or an inspector of the station."""
    return may_correct(user, station) or inspector_covers(user, station["community_code"])


def auditable_event(store, user: dict, event_id: str) -> dict:
    event = readable_event(store, user, event_id)
    if not may_audit(user, store.station(event["station_id"])):
        raise Forbidden("audits are made by the station's volunteer or an inspector")
    return event


def readable_inspections(store, user: dict, within: str) -> None:
    """The inspections inside `within`: managers of a scope holding it, and inspectors."""
    if not (contains_scope(user, within) or inspector_covers(user, within)):
        raise Forbidden("this scope is outside yours")
    if within != CITY and store.region(within) is None:
        raise NotFound(f"no division {within}")


def readable_households(store, user: dict, community: str) -> None:
    """A community's list of households: its own manager only."""
    if user["role"] != "community":
        raise Forbidden("household records are for the community's own manager; "
                        "street, district and city staff see the community's rates")
    if user["scope"] != community:
        raise Forbidden("this community is not yours")
    if store.region(community) is None:
        raise NotFound(f"no community {community}")


def household_desk(store, user: dict, station_id: str, redeeming: bool = False) -> dict:
    """The station at which a household's card is looked up (its volunteer,
    or its community's manager) or points are redeemed (its volunteer only)."""
    station = store.station(station_id)
    if station is None:
        raise NotFound(f"no station {station_id}")
    volunteer = user["role"] == "volunteer" and user["scope"] == station["id"]
    if redeeming and not volunteer:
        raise Forbidden("points are redeemed at the station, by its volunteer")
    if not may_look_up_households(user, station):
        raise Forbidden("households are looked up at their station, by its volunteer or the community's manager")
    return station


def may_look_up_households(user: dict, station: dict) -> bool:
    """A household's card at a station (and the station's card scans on its
    tablet's stream): its volunteer or its community's manager."""
    return ((user["role"] == "volunteer" and user["scope"] == station["id"])
            or (user["role"] == "community" and user["scope"] == station["community_code"]))


def readable_case(store, user: dict, case_id: int) -> tuple[dict, dict]:
    """The case and its station, if the user may read the station."""
    case = store.case(case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case, readable_station(store, user, case["station_id"])


def require_case_change(user: dict, station: dict, to: str) -> None:
    """A transition of one of the station's cases to state `to`."""
    if may_correct(user, station):
        if to != "resolved":
            raise Forbidden("the station's volunteer marks a case handled (resolved); "
                            "the community moves it otherwise")
        return
    if user["role"] not in MANAGER_ROLES or not contains_scope(user, station["community_code"]):
        raise Forbidden("cases are moved by the station's volunteer and the managers of its scope")


def require_supervision(user: dict, station: dict) -> None:
    """督办: street, district and city staff whose scope holds the station."""
    if not (may_rank(user) and contains_scope(user, station["community_code"])):
        raise Forbidden("督办 is for street, district and city staff of the station's scope")


def readable_cases(store, user: dict, within: str | None, station_id: str | None) -> str | None:
    """A list of cases inside `within` (or of one station). A volunteer
    lists their own station's (inside `within`, if given); returns the
    station to filter on."""
    if user["role"] == "volunteer":
        station = readable_station(store, user, user["scope"])
        if station_id not in (None, user["scope"]) or \
                (within is not None and not contains(within, station["community_code"])):
            raise Forbidden("this station is outside your scope")
        return user["scope"]
    if not (contains_scope(user, within) or inspector_covers(user, within)):
        raise Forbidden("this scope is outside yours")
    if within != CITY and store.region(within) is None:
        raise NotFound(f"no division {within}")
    if station_id is not None:
        readable_station(store, user, station_id)
    return station_id


def labelling_scope(user: dict) -> str:
    """The scope whose learning samples a labeller labels ('city' for the whole city)."""
    if user["role"] != "labeller":
        raise Forbidden("learning samples are labelled by labellers")
    return CITY if user["scope"] in ("", CITY) else user["scope"]


def labellable_sample(store, user: dict, event_id: str) -> dict:
    """The sample, if the user labels its station's scope."""
    scope = labelling_scope(user)
    sample = store.sample(event_id.lower())
    if sample is None:
        raise NotFound(f"no sample {event_id}")
    if scope != CITY and not contains(scope, sample["community_code"]):
        raise Forbidden("this sample's station is outside your scope")
    return sample
