"""Serve exactly the front-end files we use from `node_modules` (installed by npm at set-up).

Listing files one by one keeps the static tree small (ECharts alone ships 50 MB of
variants) and makes the set of third-party code the browser receives explicit.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import Error
from django.core.files.storage import FileSystemStorage

# URL path under STATIC_URL -> path under node_modules
VENDOR_FILES: dict[str, str] = {
    "vendor/bootstrap/css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "vendor/bootstrap/css/bootstrap.min.css.map": "bootstrap/dist/css/bootstrap.min.css.map",
    "vendor/bootstrap/js/bootstrap.bundle.min.js": "bootstrap/dist/js/bootstrap.bundle.min.js",
    "vendor/bootstrap/js/bootstrap.bundle.min.js.map": "bootstrap/dist/js/bootstrap.bundle.min.js.map",
    "vendor/htmx/htmx.min.js": "htmx.org/dist/htmx.min.js",
    "vendor/echarts/echarts.min.js": "echarts/dist/echarts.min.js",
}


class NodeModulesFinder(BaseFinder):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.root = Path(settings.NODE_MODULES)
        self.storage = FileSystemStorage(location=str(self.root))

    def check(self, **kwargs):
        missing = [src for src in VENDOR_FILES.values() if not (self.root / src).is_file()]
        if missing:
            return [
                Error(
                    f"front-end packages are not installed ({', '.join(missing[:3])} missing)",
                    hint="run `npm ci` in the project directory (`make run` and `make test` do)",
                    id="mchis.E001",
                )
            ]
        return []

    def find(self, path, find_all=False, **kwargs):
        src = VENDOR_FILES.get(path)
        if src is None or not (self.root / src).is_file():
            return [] if find_all else None
        found = str(self.root / src)
        return [found] if find_all else found

    def list(self, ignore_patterns):
        for url_path, src in VENDOR_FILES.items():
            if (self.root / src).is_file():
                yield url_path, _Renamed(self.storage, url_path, src)


class _Renamed:
    """A storage view that lets collectstatic copy `src` under the name `url_path`."""

    def __init__(self, storage, url_path, src):
        self._storage, self._url_path, self._src = storage, url_path, src
        self.prefix = None

    def path(self, name):
        return self._storage.path(self._src)

    def open(self, name, mode="rb"):
        return self._storage.open(self._src, mode)

    def get_modified_time(self, name):
        return self._storage.get_modified_time(self._src)
