"""WelcomePage: what an empty workspace shows — the demo and the first steps as buttons."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

STEPS = (
    ("new", "1. New equipment…", "Pick the machine's profile: its components, sensors and "
     "how they connect. A shipped profile or your own YAML file."),
    ("import", "2. Import a log…", "A CSV from a data logger or a PLC export (or drop the file "
     "on this window). Columns are matched to the profile's sensors; you map the rest."),
    ("diagnose", "3. Diagnose (F5)", "The model grades every component over the latest data "
     "and says what to check first. A machine no shipped model knows: learn its normal in the "
     "Retraining tab first (no labels needed)."),
    ("report", "4. Report (Ctrl+P)", "A PDF for the customer, with the findings and a "
     "checklist of recommendations."),
)  # fmt: skip


_DEMO = (
    "Try the demo — a simulated test rig whose accumulator loses its precharge while a pump "
    "leak appears"
)
INTRO_EMPTY = (
    f"This workspace has no equipment yet. {_DEMO} — or set up your own machine in four steps."
)
INTRO_NONE = (
    f"No workspace is open: open another one (Ctrl+O) to set up your own machine. {_DEMO}; it "
    "has a workspace of its own."
)


class WelcomePage(QWidget):
    """Buttons for the demo and the first steps; each emits ``actionRequested(name)`` with
    ``demo``, ``new``, ``import``, ``diagnose``, ``report``, ``open`` or ``help``. The window
    mirrors its actions onto the step buttons (:meth:`mirror`): on an empty workspace Diagnose
    and Report are disabled, their tooltip saying why."""

    actionRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel("Welcome to HydroDiag")
        title.setStyleSheet("font-size: 22px; font-weight: bold; color: #1f2933;")
        self.intro = intro = QLabel(INTRO_EMPTY)
        intro.setWordWrap(True)
        intro.setStyleSheet("font-size: 13px; color: #3c4650;")
        self.buttons: dict[str, QPushButton] = {}
        demo = self._button("demo", "Open the demo", primary=True)
        demo.setToolTip(
            "Builds the demo workspace once (about half a minute: four simulated hours, "
            "diagnosed every half hour) and opens it; your own workspace stays as it is."
        )
        steps = QGridLayout()
        steps.setHorizontalSpacing(16)
        steps.setVerticalSpacing(10)
        for row, (name, text, explanation) in enumerate(STEPS):
            steps.addWidget(self._button(name, text), row, 0)
            words = QLabel(explanation)
            words.setWordWrap(True)
            words.setStyleSheet("color: #3c4650;")
            steps.addWidget(words, row, 1)
        steps.setColumnStretch(1, 1)
        more = QGridLayout()
        more.addWidget(self._button("open", "Open another workspace…"), 0, 0)
        more.addWidget(self._button("help", "Read the guide (F1)"), 0, 1)
        more.setColumnStretch(2, 1)
        card = QFrame()
        card.setObjectName("WelcomeCard")
        card.setStyleSheet(
            "#WelcomeCard { background: white; border: 1px solid #d5dbe1; border-radius: 6px; }"
        )
        # Wide enough that no explanation wraps to more than two lines; its height then
        # follows the wrapped text (an aligned card took its unwrapped hint and cut lines off).
        card.setMinimumWidth(700)
        card.setMaximumWidth(820)
        card.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        inner = QVBoxLayout(card)
        inner.setContentsMargins(28, 24, 28, 24)
        inner.setSpacing(14)
        inner.addWidget(title)
        inner.addWidget(intro)
        inner.addWidget(demo, 0, Qt.AlignmentFlag.AlignLeft)
        heading = QLabel("Your own machine")
        heading.setStyleSheet("font-size: 15px; font-weight: bold; margin-top: 8px;")
        inner.addWidget(heading)
        inner.addLayout(steps)
        inner.addLayout(more)
        centred = QHBoxLayout()
        centred.addStretch(1)
        centred.addWidget(card, 4)
        centred.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addLayout(centred)
        layout.addStretch(2)
        self.setStyleSheet("WelcomePage { background: #f3f5f7; }")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)

    def set_workspace_open(self, is_open: bool) -> None:
        """Say whether a workspace is open (none is when the last one could not be read)."""
        self.intro.setText(INTRO_EMPTY if is_open else INTRO_NONE)

    def mirror(self, name: str, enabled: bool, tooltip: str) -> None:
        """Enable step ``name`` like the window's action, its tooltip the action's (the reason
        when it cannot work yet)."""
        button = self.buttons[name]
        button.setEnabled(enabled)
        button.setToolTip(tooltip)

    def _button(self, name: str, text: str, *, primary: bool = False) -> QPushButton:
        button = QPushButton(text)
        button.setMinimumHeight(34 if primary else 28)
        if primary:
            button.setStyleSheet(
                "QPushButton { background: #0072b2; color: white; font-weight: bold; "
                "padding: 4px 18px; border-radius: 4px; } "
                "QPushButton:disabled { background: #8a96a3; }"
            )
        button.clicked.connect(lambda: self.actionRequested.emit(name))
        self.buttons[name] = button
        return button


def main() -> int:
    from app.gui.views._standalone import run_standalone

    return run_standalone("Welcome", WelcomePage)


if __name__ == "__main__":
    raise SystemExit(main())
