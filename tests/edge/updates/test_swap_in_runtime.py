"""In the station's own loop: an update that becomes ready while a disposal is
open is swapped in only after that disposal was judged (by the old model);
the disposals after it are judged, and their events made, with the new one."""
import sys
import time
from hashlib import sha256
from pathlib import Path

from edge.capture import Frame, open_source
from edge.config import load_config
from edge.runtime import Runtime
from tests.artifact_files import MODEL, model_variant

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))
import make_station_clip  # noqa: E402


def test_an_update_ready_mid_disposal_waits_for_its_end(tmp_path, real_server, publisher, colour_items):
    new = publisher.publish("model", model_variant(tmp_path / "v2.onnx", "v2"))
    out = tmp_path / "clip"
    make_station_clip.render(colour_items, out, drops=3, seed=9, station_id=real_server.station_id,
                             width=480, height=270, fps=10)
    (tmp_path / "token").write_text(real_server.token + "\n")
    config = load_config(out / "station.toml", {"server.url": real_server.url, "server.device_id":
                                                real_server.device_id, "server.token_file": str(tmp_path / "token")})
    config = config.updated("updates", public_key=publisher.public_text, dir=tmp_path / "updates")
    runtime = Runtime(config, once=True)
    runtime.setup()
    old = runtime.judge.model
    offer = runtime.uploader.client.heartbeat({"ts": "2026-12-03T08:00:00+08:00"})["assigned"]["model"]

    source, index, ready_at, swapped_at, models = open_source(out / "clip.mp4", 10), 0, None, None, []
    record = runtime.recorder.record_safely

    def recording(ep):
        models.append((ep.start_index, runtime.judge.model))
        record(ep)

    while (image := source.read()) is not None:
        for ep in runtime.frames.process(Frame(index, index / 10, time.time(), image)):
            recording(ep)
        if ready_at is None and not runtime.frames.idle:
            assert runtime.updater.prepare("model", offer)   # ready while this disposal is open
            ready_at = index
        runtime.swap_updates()
        if swapped_at is None and runtime.judge.model == new:
            swapped_at = index
            assert runtime.frames.idle
        index += 1
    source.close()
    stored = [e["model"] for _, e in runtime.outbox.pending(10)]
    runtime.outbox.close()
    assert stored == [m for _, m in models], "each event carries the model that judged it"
    assert ready_at is not None and swapped_at is not None and swapped_at > ready_at
    assert models[0] == (models[0][0], old), "the disposal open when the update was ready: the old model"
    assert [m for _, m in models[1:]] == [new] * (len(models) - 1) and len(models) == 3


def test_a_refused_update_is_reported_in_the_next_heartbeat(tmp_path, real_server, publisher, colour_items):
    publisher.publish("model", MODEL)
    data = MODEL.read_bytes()[:2_000_000]
    broken = "waste-effl0-int8@" + sha256(data).hexdigest()[:8]
    publisher.sign_by_hand("model", broken, data)
    out = tmp_path / "clip"
    make_station_clip.render(colour_items, out, drops=1, seed=9, station_id=real_server.station_id,
                             width=480, height=270, fps=10)
    (tmp_path / "token").write_text(real_server.token + "\n")
    config = load_config(out / "station.toml", {"server.url": real_server.url, "server.device_id":
                                                real_server.device_id, "server.token_file": str(tmp_path / "token")})
    config = config.updated("updates", public_key=publisher.public_text, dir=tmp_path / "updates")
    runtime = Runtime(config, once=True)
    runtime.setup()
    old = runtime.judge.model
    runtime.uploader.send_heartbeat()
    runtime.updater.worker.join(60)
    runtime.swap_updates()
    runtime.uploader.send_heartbeat()
    runtime.outbox.close()
    first, second = real_server.heartbeats[-2:]
    assert "update_error" not in first and first["model"] == old
    assert second["model"] == old and second["update_error"].startswith(f"model {broken} refused: ")
    assert len(second["update_error"]) <= 500
