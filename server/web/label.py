"""The labeller's page, /label: the queue of learning samples of the
labeller's scope, most uncertain first, one tap (or key) per label from the
rule set's items in Chinese, "not waste / not visible", skip; and the
labelled ones, to review and change. Everything goes through the samples
API (server/api/samples.py)."""
from __future__ import annotations

from flask import Blueprint, g, render_template, url_for

from .. import get_store
from ..access import labelling_scope
from . import i18n
from .common import login_page, scope_name, setup_blueprint

bp = Blueprint("web_label", __name__, template_folder="templates")
setup_blueprint(bp)

STRINGS = ("label_left", "label_empty", "label_model_said", "label_station", "label_saved", "label_failed",
           "label_reviewing", "label_change", "label_skip", "role_labeller", "role_volunteer")


@bp.get("/label")
@login_page
def label_page():
    scope = labelling_scope(g.user)
    config = {"samples": url_for("samples.samples"), "lang": i18n.lang(),
              "strings": {k: i18n.t(k) for k in STRINGS}}
    return render_template("label.html", scope_name=scope_name(get_store(), scope), config=config)
