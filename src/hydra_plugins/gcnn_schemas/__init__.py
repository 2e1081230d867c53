"""Hydra plugin: stores the study's settings schemas (and the resolvers conf/ uses) whenever Hydra composes.

Hydra imports every module of the `hydra_plugins` namespace when it starts, and calls this search-path plugin
whenever it composes a config. It adds no path; it calls `gcnn_study.config.schema.register()`, so that conf/ composes
from a notebook or any script, not only from `python -m gcnn_study.train`, with nothing to import or call first
(docs/running.md, "Composing a config in a notebook").
"""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class GcnnSchemas(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from gcnn_study.config import schema  # here, not at the top: Hydra scans plugins in every app that uses it

        schema.register()
