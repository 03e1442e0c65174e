"""HeadroomFilter: a scheduler filter in Python (componentize-py).

Keeps hosts that still have `min_free_ram_mb` (a setting, default 512) of RAM left after the
instance is placed, so no host is filled to the last megabyte.
"""
from wit_world import exports
from wit_world.exports.filter import FilterInfo
from wit_world.imports import config
from wit_world.imports.metacloud_scheduler_types import FilterResult

_free_ram = []


class Filter(exports.Filter):
    def info(self):
        return FilterInfo(name="HeadroomFilter", pure=True)

    def sync(self, snapshot):
        global _free_ram
        _free_ram = list(snapshot.columns.free_ram_mb)

    def update(self, generation, changes):
        for c in changes:
            _free_ram[c.host] = c.free_ram_mb

    def filter(self, req, generation, candidates):
        headroom = float(config.get("min_free_ram_mb") or 512)
        need = req.flavor.memory_mb + headroom
        return FilterResult(passed=[i for i in candidates if _free_ram[i] >= need], rejections=[])
