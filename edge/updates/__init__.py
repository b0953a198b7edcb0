"""Over-the-air updates of the model and the rule set (off unless the station's
file names the registry's public key, `[updates] public_key`).

    slots.py     the updates folder: downloads, verified versions, the durable pointer per kind
    download.py  manifest and file from the server, resumed with HTTP Range
    updater.py   offer (heartbeat answer) -> verify -> load beside -> swap between disposals
"""
from .download import DownloadError
from .slots import Slots
from .updater import Updater, start_versions, warm_up_image

__all__ = ["DownloadError", "Slots", "Updater", "start_versions", "warm_up_image"]
