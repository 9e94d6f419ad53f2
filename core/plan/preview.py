"""What a pack would hold, from the loaded model alone (no file is read): for a face that
shows it before the pack starts, as the options change."""

from __future__ import annotations

from ..load import Environment
from ..threads import IOPool
from .options import PackOptions, PackSettings, validate
from .plan import PackPlan, make_plan


def plan_for(
    env: Environment, options: PackOptions, settings: PackSettings, pool: IOPool | None = None
) -> PackPlan:
    """The plan pack() follows for these options, once validate() has checked them."""
    return make_plan(
        env,
        subdir=settings.subdir,
        ignore_missing_files=options.ignore_missing_files,
        ignore_editable_packages=options.ignore_editable_packages,
        relocate_prefix=settings.relocate_prefix,
        filters=options.filters,
        dereference=settings.format == "zip" and not options.zip_symlinks,
        pool=pool,
    )


def preview_plan(env: Environment, options: PackOptions) -> tuple[PackSettings, PackPlan]:
    """The checked settings and the plan pack() would follow (before any byte-code it
    compiles: pack adds those entries); raises the error the pack would stop with."""
    settings = validate(env, options)
    return settings, plan_for(env, options, settings)
