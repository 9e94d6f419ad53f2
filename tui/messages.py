"""Messages that thread workers post to the UI."""

from __future__ import annotations

from conda_package.core import PackageRecord, Progress
from textual.message import Message

from .model import WalkState


class JobProgress(Message):
    """A progress snapshot of a long job (load, analysis, pack, build, removal).

    Core reports many times a second; a newer snapshot of the same job replaces one still
    queued, so a busy worker never floods the UI with stale updates.
    """

    def __init__(self, job: str, progress: Progress) -> None:
        super().__init__()
        self.job = job
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobProgress) and message.job == self.job


class OpenEnvironment(Message):
    """Asks the app to open the environment at `prefix` (bubbles up from any screen)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix


class LeaveEnvironment(Message):
    """Back from an environment: to the one below it, or to the list of environments."""


class RecordsRead(Message):
    """The loading worker has read conda-meta/: the packages can be shown, the walk goes on."""

    def __init__(self, records: tuple[PackageRecord, ...]) -> None:
        super().__init__()
        self.records = records


class WalkProgress(Message):
    """How far the walk is, with the files found so far indexed now and then; a newer one
    replaces one still queued, unless only the older one holds an index."""

    def __init__(self, state: WalkState) -> None:
        super().__init__()
        self.state = state

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, WalkProgress) and (
            self.state.index is not None or message.state.index is None
        )


class ShowFile(Message):
    """Show this path (relative to the prefix) in the Files tab, with its details."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
