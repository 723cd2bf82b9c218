"""What every PrimeHub spawner shares, whatever runs the server (Kubernetes or SLURM).

The catalog (a dict or a file re-read when it changes, one cache per hub), the user's view of
it, the spawn form and REST ``user_options`` hooks, and the 4xx/503 errors JupyterHub shows
as they are. :class:`CatalogSpawnerMixin` goes first in a spawner's bases; the spawner adds
``render_options_form`` and ``apply_primehub_options`` (what a choice means there).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from tornado import web
from traitlets import Dict, Unicode, default
from traitlets.config import LoggingConfigurable

from .catalog import Catalog, CatalogError, CatalogSource, UserView
from .form import instance_type_spec
from .user_options import options_from_form

CATALOG_BROKEN = "Server options are unavailable: the catalog has an error. Please contact admin."


def user_error(status: int, message: str) -> web.HTTPError:
    """An HTTPError whose message JupyterHub shows as is (form page, REST body, progress)."""
    err = web.HTTPError(status, "%s", message)
    err.jupyterhub_message = message  # type: ignore[attr-defined]
    return err


async def _apply_options_hook(spawner: Any, options: dict) -> None:
    await spawner.apply_primehub_options(options)


async def _options_form_hook(spawner: Any) -> str:
    return await spawner.render_options_form()


class CatalogSpawnerMixin(LoggingConfigurable):
    """The catalog, the user's view and the form hooks of a PrimeHub spawner."""

    catalog = Dict(
        config=True,
        help="""The catalog (groups, instanceTypes, images, datasets) as a dict, in the
        same format as the YAML file of `catalog_path`. Ignored when `catalog_path` is set.""",
    )
    catalog_path = Unicode(
        "",
        config=True,
        help="""Path of the catalog YAML file (e.g. a mounted ConfigMap). Re-read when its
        modification time or size changes, so edits apply to the next spawn without a hub
        restart. An invalid edit is reported to users as "server options unavailable" and
        logged; fix the file and the next spawn picks it up.""",
    )

    # one parsed catalog per source for the whole hub (every spawner of a class shares it)
    _catalog_sources: ClassVar[dict[Any, CatalogSource]] = {}

    @default("apply_user_options")
    def _apply_user_options_default(self):
        return _apply_options_hook

    @default("options_form")
    def _options_form_default(self):
        return _options_form_hook

    @default("options_from_form")
    def _options_from_form_default(self):
        return options_from_form

    def _source(self) -> CatalogSource:
        key = ("path", self.catalog_path) if self.catalog_path else ("dict", repr(self.catalog))
        source = self._catalog_sources.get(key)
        if source is None:
            if self.catalog_path:
                source = CatalogSource(path=self.catalog_path)
            else:
                source = CatalogSource(data=self.catalog)
            self._catalog_sources[key] = source
        return source

    async def load_catalog(self) -> Catalog:
        """The current catalog (file stat/read off the event loop); a 503 when it is broken."""
        try:
            return await asyncio.to_thread(lambda: self._source().get())
        except CatalogError as e:
            self.log.error("Catalog is invalid: %s", e)
            raise user_error(503, CATALOG_BROKEN) from None

    def hub_groups(self) -> list[str]:
        """The user's JupyterHub group names."""
        return [g.name for g in getattr(self.user, "groups", []) or []]  # type: ignore[attr-defined]

    def log_launch(self, choice: Any, where: str = "") -> None:
        """The hub log's line for an admitted choice (user, group, instance type, image)."""
        it = choice.instance_type
        self.log.info(
            "Launching %s in group %s%s: %s (%s), image %s",
            self.user.name,  # type: ignore[attr-defined]
            choice.group.group.name,
            where,
            it.name,
            instance_type_spec(it.cpu, it.memory, it.gpu),
            choice.image.name,
        )

    async def user_view(self) -> UserView:
        """What this user may launch."""
        catalog = await self.load_catalog()
        return catalog.for_user(self.user.name, self.hub_groups())  # type: ignore[attr-defined]
