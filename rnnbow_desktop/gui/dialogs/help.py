"""The F1 help: what each of the four views shows and how to explore them, in plain words."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

HELP_HTML = """
<h2>Watching a network learn</h2>
<p>The network reads the corpus one character at a time and tries to predict the next one.
It trains on short pieces of text called <b>batches</b> (25 characters by default). After each batch
it changes its weights a little, in the direction given by the <b>gradient</b>. RNNbow shows where
that gradient comes from: which predictions caused it, and how far back in the text it reaches.</p>
<p>To begin, choose a corpus on the left and press <b>Start training</b>. Or open a session you
saved earlier with <b>File › Open</b> (Ctrl+O), or drop a <tt>.h5</tt> file onto the window.</p>

<h3>1 · Labels</h3>
<p>The top row is the text of the selected batch: the character the network <i>should</i> have
predicted at each step. Under it is what the network <i>did</i> predict: green when right, red when wrong.</p>

<h3>2 · Gradient per step, by source of loss</h3>
<p>One bar under every character. Its height is how much the weights were changed at that step.
A bar is split into segments by <i>which prediction caused them</i>: the top, darkest segment comes from
the prediction right above the bar (t − j = 0, its own loss); the next one down from the prediction one
step later, and so on. <b>separate offsets k</b> sets how many of these get a colour of their own; all
later ones share the lightest segment (≥ k). Long stacks mean later predictions still send gradient back
to this step: the network is learning to use what it saw earlier.</p>
<p><b>bar scale</b>: <i>per batch</i> fills the plot with the shown batch; <i>global</i> uses one scale
for the whole run, so batches can be compared; <i>recent window</i> scales to the last 200 records.</p>

<h3>3 · Horizon of one loss</h3>
<p>Hover over a segment in area 2: every segment caused by the same prediction lights up, and area 3
shows them side by side. Read it from right to left: how much gradient that one prediction sends back
1, 2, 3… steps into the past. If the bars shrink quickly, the gradient <i>vanishes</i> and the network
cannot learn long-range patterns (tick <b>log scale</b> to see the small ones).</p>
<p>The <b>effective horizon</b> is how many steps back you must follow the gradient before what is
left over is smaller than a small fraction ε (5% by default) of the whole. The <b>truncation error
e(k)</b> plot next to it shows that left-over part for every k, and marks the horizon. A horizon of 3 means
the network learns almost nothing from patterns more than three characters apart.</p>

<h3>4 · Overview</h3>
<p>One bar per recorded batch, over the whole run: its height is the largest gradient of any step in
that batch, so tall bars show where the most learning happened; the strip below shows each batch's
effective horizon. Move the mouse over it to preview a batch in areas 1–3; click to select it (marked
in blue). The wheel zooms and dragging pans. When a few early batches tower over the rest, tick
<b>log scale</b> to see both. The line below gives the batch number, which characters of
the corpus it covers, its largest gradient, loss and horizon. While training, <b>Follow live</b> keeps
the newest batch selected.</p>

<h3>Findings: batches worth a look</h3>
<p>In a long run, scrolling no longer finds the moments that matter. RNNbow looks for them and marks
them along the top of the overview: ▲ a <b>gradient spike</b> (the max gradient far above its level over
the batches before), ▼ a <b>loss spike</b>, ◆ a <b>loss plateau that ends</b>, ■ a <b>horizon shift</b>
(the effective horizon moves to a new level and stays), ✕ a <b>conflicting update</b> (a large share of
the losses pulled against the step's update) and ● a <b>corpus change</b> (the text changes character at
some position). The legend next to the overview's title shows or hides each kind. The <b>Findings</b> tab
lists them, best first, each with the reason in plain words; click one (or a mark) to select its batch.
Ctrl+→ and Ctrl+← jump to the next and previous finding. While a run trains, the findings are looked
for again every few seconds, in the background.</p>

<h3>Long sequences</h3>
<p>Sequences longer than 64 characters (up to 512) start whole, with every few labels left out so none
overlap. The strip under area 2 shows every step's gradient with a band over the steps on show: drag the
band or its edges, or turn the wheel over areas 1–3, to zoom in on a range of steps; double-click the
strip to see all of them again. The truncation error e(k) is then drawn over a log scale of k.</p>

<h3>Magnitude or contribution</h3>
<p><b>Magnitude</b> shows how big each piece of gradient is, whatever its direction.
<b>Contribution</b> shows how much each piece adds to the step's total: pieces that push the weights
the other way count as negative and are drawn below the line, and the pieces of a bar add up exactly
to the bar's total.</p>

<h3>Units: what the network has learned</h3>
<p>The <b>Units</b> tab runs a checkpoint of the model over a probe text (the end of the corpus, or any text
you open or paste) and colours each character by one hidden unit's value: blue below zero, red above
(white to purple for a gate, closed to open). The list ranks the units by how well a feature of the text
explains them — line position, bracket depth, quotes, comments, indentation, or your own
<tt>NAME=REGEX</tt>. Click a unit to choose it, move the slider through training, and see under
<i>Over training</i> when a unit for each feature appeared. Select a batch and a unit, and view 3 shows how
far back that unit's part of the update reaches (the batch is re-trained from its checkpoint for this).</p>

<h3>Dynamics: how the units organise themselves over training</h3>
<p>The <b>Dynamics</b> tab replays every checkpoint over the probe text and places every (checkpoint, unit)
in one picture (multislice PHATE): close points behave alike on the probe, and each unit's path over training
is a faint line. Colour the points by training time or by unit; hover a point to name it, click it to select
that unit at that checkpoint (a unit selected elsewhere draws its path bold). Beside it, over training: the
<b>spread</b> of the units (expansion and compression) and how many <b>communities</b> they form. It needs two
or more checkpoints, computes in the background (Cancel stops it), and again as a live session adds
checkpoints. Units are linked across checkpoints with <i>interslice_knn</i> = a quarter of the number of
checkpoints (at least 2), not M-PHATE's 25, which would glue each unit's path into one place when there are
only ~20 checkpoints.</p>

<h3>Comparing sessions</h3>
<p><b>File › Compare Sessions…</b> opens two or more sessions side by side, for example the same corpus
trained with the rnn, lstm and gru cells (the command <tt>rnnbow demo</tt> trains exactly these). They are
aligned by training batch: hovering or clicking a batch in any of them shows that batch in all of them.
Above them, <b>(a)</b> the horizon profile: how much of a prediction's gradient reaches 1, 2, 3… steps
back, relative to its own step; a flatter curve reaches further into the past. <b>(b)</b> the effective
horizon of each session over its training. <b>(c)</b> the spread (as a share of its maximum) and communities
of each session's hidden units over training, from its checkpoints.</p>

<h3>Keys</h3>
<table cellspacing="4">
<tr><td>← / →</td><td>previous / next recorded batch</td></tr>
<tr><td>Home / End</td><td>first / last recorded batch</td></tr>
<tr><td>Ctrl+→ / Ctrl+←</td><td>next / previous finding (of the kinds shown)</td></tr>
<tr><td>Ctrl+O</td><td>open a session</td></tr>
<tr><td>Ctrl+Shift+S</td><td>save a copy of the session</td></tr>
<tr><td>Ctrl+E</td><td>export the views as PNG or SVG</td></tr>
<tr><td>F1</td><td>this help</td></tr>
</table>
"""


class HelpDialog(QDialog):
    """A non-modal window, so it can stay open next to the views it explains."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("RNNbow Help")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(HELP_HTML)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(640, 720)
        self.setWindowFlag(Qt.WindowType.WindowContextHelpButtonHint, False)
