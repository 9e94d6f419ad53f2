"""The keys the help screen lists, read from the bindings themselves so that it never drifts:
a binding added to a screen or widget shows up in the help without another edit."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import App
from textual.binding import Binding, BindingsMap
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Tree

from .env_list import EnvironmentListScreen
from .env_screen import EnvironmentScreen
from .modals import HelpScreen, MessageModal, Question
from .packages import PackagesTable
from .relocation import FindingsTree
from .rows import RowsTable


@dataclass(frozen=True)
class KeyRow:
    key: str  # as the footer shows it: "?", "ctrl+p", "enter"
    description: str
    binding: Binding


# Where each group of keys works, and the class whose bindings they are. Every class of the
# UI that declares BINDINGS is here (a test checks it); the Files tree is textual's own.
SECTIONS: tuple[tuple[str, type[DOMNode]], ...] = (
    ("Environment list", EnvironmentListScreen),
    ("Environment (1-6: the tabs)", EnvironmentScreen),
    ("Packages table", PackagesTable),
    ("Untracked table", RowsTable),
    ("Files tree", Tree),
    ("Relocation findings", FindingsTree),
    ("Messages", MessageModal),
    ("Dialogs", Question),
    ("This help", HelpScreen),
)


def bindings_of(cls: type[DOMNode]) -> list[Binding]:
    """The bindings an instance of `cls` answers to, a subclass's replacing its bases' for a
    key (as textual merges them), one per key."""
    by_key: dict[str, Binding] = {}
    for klass in reversed(cls.__mro__):
        if issubclass(klass, DOMNode) and "BINDINGS" in klass.__dict__:
            for key, bindings in BindingsMap(klass.__dict__["BINDINGS"]).key_to_bindings.items():
                by_key[key] = bindings[-1]
    return list(by_key.values())


def rows_of(app: App, bindings: list[Binding], seen: set[tuple[str, ...]]) -> list[KeyRow]:
    """Rows for the bindings not listed already in a section before (same key, same action,
    same words)."""
    rows = []
    for binding in bindings:
        same = (binding.key, binding.action, binding.description)
        if same in seen:
            continue
        seen.add(same)
        key = binding.key_display or app.get_key_display(binding)
        what = binding.description or binding.tooltip or binding.action.replace("_", " ")
        rows.append(KeyRow(key, what, binding))
    return rows


def help_sections(app: App) -> list[tuple[str, list[KeyRow]]]:
    seen: set[tuple[str, ...]] = set()
    everywhere = bindings_of(type(app)) + bindings_of(Screen)
    if app.ENABLE_COMMAND_PALETTE:  # the app adds it when it starts, not in BINDINGS
        everywhere.append(Binding(app.COMMAND_PALETTE_BINDING, "command_palette", "Commands"))
    sections = [("Everywhere", rows_of(app, everywhere, seen))]
    for title, cls in SECTIONS:
        sections.append((title, rows_of(app, bindings_of(cls), seen)))
    return [(title, rows) for title, rows in sections if rows]
