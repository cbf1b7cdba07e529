"""Pick a reaction for a message: one of the common ones by number or arrows, any other by
``:name:`` or by pasting it."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.geometry import Size
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Label

from chat_server.protocol import MAX_EMOJI
from chat_tui.tui.emoji import REACTIONS, resolve, shortcode
from chat_tui.tui.render import safe_text

MINE_STYLE = Style(reverse=True)
_PICK_KEYS = {str(number) for number in range(1, len(REACTIONS) + 1)}
HIGHLIGHT_STYLE = Style(bold=True)


def row_text(mine: set[str], highlighted: int, width: int) -> Text:
    """The common reactions, numbered: `` 1 👍 [2 👎] 3 😄 …``.

    The highlighted one is in brackets, the ones the user already put on the message are
    reversed; lines break between reactions, never inside one, to fit ``width`` cells.
    """
    text = Text(end="")
    used = 0
    for index, reaction in enumerate(REACTIONS):
        is_highlighted = index == highlighted
        item = Text("[" if is_highlighted else " ")
        label = safe_text(f"{index + 1} {reaction.emoji}")  # measured as terminals draw it
        if reaction.emoji in mine:
            label.stylize(MINE_STYLE)
        item.append_text(label)
        item.append("]" if is_highlighted else " ")
        if is_highlighted:
            item.stylize(HIGHLIGHT_STYLE)
        if used and used + item.cell_len > width:
            text.append("\n")
            used = 0
        text.append_text(item)
        used += item.cell_len
    return text


def mine_hint(mine: set[str]) -> Text:
    """Which reactions are already the user's, and that picking one again takes it back."""
    text = Text("yours: ", style="dim")
    for emoji in sorted(mine):
        text.append_text(safe_text(emoji, MINE_STYLE))
        text.append(" ")
    text.append("(pick one again to take it back)", "dim")
    return text


def typed_error(typed: str) -> Text:
    """Why what the user typed in the picker is not a reaction."""
    name = shortcode(typed)
    if not typed.strip():
        return Text("type :name: or paste an emoji, or press 1-8")
    if name is not None:
        text = Text("unknown emoji ")
        text.append_text(safe_text(f":{name}:", "bold"))
        text.append(" (try :tada:, :+1:, :fire:)")
        return text
    text = safe_text(typed if len(typed) <= 20 else typed[:20] + "…", "bold")
    text.append(f" is not an emoji (1-{MAX_EMOJI} characters, no spaces)")
    return text


class ReactionRow(Widget):
    """The numbered row of common reactions; the screen moves its highlight."""

    highlighted: reactive[int] = reactive(0)

    def __init__(self, mine: set[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mine = mine

    def render(self) -> Text:
        return row_text(self.mine, self.highlighted, self.content_size.width)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return row_text(self.mine, self.highlighted, width).plain.count("\n") + 1


class ReactionPicker(ModalScreen[str | None]):
    """Dismissed with the chosen emoji, or None (escape).

    Whether that adds the reaction or takes it back (it is one of ``mine``) is the
    caller's choice.
    """

    # Nothing has the focus at first, so 1-8 and the arrows pick; typing moves to the field.
    AUTO_FOCUS = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "close"),
        Binding("left", "move(-1)", "previous", show=False),
        Binding("right", "move(1)", "next", show=False),
        Binding("enter", "pick_highlighted", "pick", show=False),
        *(
            Binding(str(number), f"pick({number - 1})", reaction.emoji, show=False)
            for number, reaction in enumerate(REACTIONS, start=1)
        ),
    ]

    def __init__(self, mine: set[str]) -> None:
        super().__init__()
        self.mine = set(mine)

    def compose(self) -> ComposeResult:
        with Vertical(id="react-box"):
            title = Text("React with ", style="bold")
            title.append(f"1-{len(REACTIONS)}", "bold")
            title.append(" or ←/→ and Enter; Esc: close", "dim")
            yield Label(title, id="react-title")
            yield ReactionRow(self.mine, id="react-row")
            if self.mine:
                yield Label(mine_hint(self.mine), id="react-mine")
            yield Input(
                placeholder=":name: or paste an emoji, then Enter",
                select_on_focus=False,
                id="react-input",
            )
            yield Label(Text(""), id="react-error")

    @property
    def row(self) -> ReactionRow:
        return self.query_one(ReactionRow)

    def action_move(self, step: int) -> None:
        self.row.highlighted = (self.row.highlighted + step) % len(REACTIONS)

    def action_pick(self, index: int) -> None:
        field = self.query_one(Input)
        if field.value:  # a digit typed right after ":" (``:100:``), before the field had focus
            field.insert_text_at_cursor(str(index + 1))
            return
        self.dismiss(REACTIONS[index].emoji)

    def action_pick_highlighted(self) -> None:
        self.action_pick(self.row.highlighted)

    def on_key(self, event: events.Key) -> None:
        """A character typed while the row is active starts the ``:name:`` field."""
        field = self.query_one(Input)
        if field.has_focus or not event.is_printable or event.character is None:
            return
        if event.character in _PICK_KEYS and not field.value:
            return
        event.stop()
        event.prevent_default()
        field.focus()
        field.insert_text_at_cursor(event.character)

    def on_paste(self, event: events.Paste) -> None:
        field = self.query_one(Input)
        if not field.has_focus:
            event.stop()
            field.focus()
            field.insert_text_at_cursor(event.text)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#react-error", Label).update(Text(""))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        emoji = resolve(event.value)
        if emoji is None:
            self.query_one("#react-error", Label).update(typed_error(event.value))
        else:
            self.dismiss(emoji)
