"""The crossover finder: alpha*(h), where an observable of the trained net crosses a threshold.

For every width h of a config's sweep, bisect on log10(alpha*sqrt(h)) for the point where the seed
mean of log10(observable) crosses log10(threshold) (the authors' protocol: the kernel drift against
their alpha_code = alpha*sqrt(h)); then fit alpha* ~ A h^b over the widths, with a bootstrap over
seeds. The article's finding (i) is b = -1/2 (alpha*sqrt(h) constant at the crossover).

    python -m launch.crossover --config=configs/crossover_fc.py --workdir=DIR

The config file gives the base run (`get_config()`), the widths and seeds (`get_sweep()`: points
with `model.width` and `seed` only) and optionally the search (`get_crossover()`: a dict of
`Search` fields; flags override it).

Each step trains every seed at the midpoint of every unfinished width's bracket, together, through
`run_sweep` (run directories `DIR/runs/width=<h>,alpha_sqrt_h=<x>,seed=<s>`, the sweep's lock,
retries and executors). Midpoints are rounded to 4 significant digits (the run names' precision),
so the search is a function of the runs' results alone: started again, it replays the steps on the
finished runs (which are read, not trained) and goes on where it stopped. `DIR/crossover.json` is
written (atomically) after every step, with `wall_time` (this invocation) and `wall_time_total`
(summed over the invocations of the search); the figure `DIR/crossover.png` / `.pdf` at the end
(`lazyfeat_tf.report.figures.crossover_figure`).

A run that diverged (status "nan") or did not converge (every margin >= 1 not reached) has no final
value of the observable: the search stops with a one-line `CrossoverError` naming it and a fix.
"""

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable

import numpy as np

from lazyfeat_tf import rundir
from lazyfeat_tf.report.fits import slopes
from lazyfeat_tf.sweep import runner
from lazyfeat_tf.sweep.grid import SweepError, call_config_function, expand
from lazyfeat_tf.sweep.runner import duration

RESULT_FILE = "crossover.json"
POINT_KEYS = ("model.width", "seed")
"""The only keys a crossover config's `get_sweep()` points may set (alpha is what is searched)."""


class CrossoverError(SweepError):
    """A crossover search that cannot go on (bad input, bracket, unusable run); one line with a fix."""


# ----------------------------------------------------------------------------------------------
# Observables


@dataclasses.dataclass(frozen=True)
class Observable:
    """How to read one number from a run's results.json (None: the run has none) and its default
    threshold (the crossing is where the seed mean of log10(value) equals log10(threshold))."""

    read: Callable[[dict], object]
    threshold: float
    doc: str


def _field(name):
    return lambda results: results.get(name)


def _t1_over_alpha_sqrt_h(results):
    t1 = results.get("t1")
    return None if t1 is None else t1 / results["alpha_sqrt_h"]


OBSERVABLES = {
    "kernel_drift_test": Observable(_field("kernel_drift_test"), 1.0,
                                    "final ||Theta_T - Theta_0||_F / ||Theta_0||_F on the test probes"),
    "kernel_drift_test_full": Observable(_field("kernel_drift_test_full"), 1.0,
                                         "the same on the whole test set (the article's; kernels.full_drift)"),
    "relative_weight_change": Observable(_field("relative_weight_change"), 0.1, "final ||w - w0|| / ||w0||"),
    "t1_over_alpha_sqrt_h": Observable(_t1_over_alpha_sqrt_h, 1.0,
                                       "t1 / (alpha sqrt(h)), t1 the first time alpha^2 L < 1/2"),
}
"""name -> Observable. Adding one is one line (a results.json field: `_field(name)`)."""


def measure(results, observable, where):
    """The positive finite value of `observable` (a name of OBSERVABLES) in a run's `results`;
    raises CrossoverError naming the run (`where`) when it diverged, did not converge or has none."""
    if results.get("status") == "nan":
        raise CrossoverError(f"{where} diverged (status nan): it has no {observable}; lower "
                             "--config.dynamics.max_dout or narrow --bracket away from that end")
    if not results.get("converged"):
        raise CrossoverError(f"{where} did not converge (status {results.get('status')}): its {observable} "
                             "is not final; start a new --workdir with a larger --config.dynamics.max_steps (or "
                             "--config.dtype=float64 at the lazy end) or a --bracket away from that end")
    value = OBSERVABLES[observable].read(results)
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise CrossoverError(f"{where} has {observable}={value!r}, not a positive number; "
                             "check that the config measures it (e.g. kernels.track=True)")
    return float(value)


# ----------------------------------------------------------------------------------------------
# The search settings


@dataclasses.dataclass(frozen=True)
class Search:
    """What is searched: `observable` crossing `threshold` (default: the observable's), bisected in
    alpha*sqrt(h) from `bracket` (low, high) until the bracket is narrower than `tolerance` decades;
    `n_boot` bootstrap resamples of the seeds for the confidence intervals."""

    observable: str = "kernel_drift_test"
    threshold: float = None
    bracket: tuple = (0.01, 1e4)
    tolerance: float = 0.1
    n_boot: int = 2000

    def __post_init__(self):
        if self.observable not in OBSERVABLES:
            raise CrossoverError(f"--observable={self.observable!r}: must be one of {', '.join(OBSERVABLES)}")
        if self.threshold is None:
            object.__setattr__(self, "threshold", OBSERVABLES[self.observable].threshold)
        if not _positive(self.threshold):
            raise CrossoverError(f"--threshold={self.threshold!r}: must be a number > 0")
        bracket = tuple(self.bracket) if isinstance(self.bracket, (list, tuple)) else (self.bracket,)
        if len(bracket) != 2 or not all(_positive(b) for b in bracket) or not bracket[0] < bracket[1]:
            raise CrossoverError(f"--bracket={','.join(f'{b:g}' if _positive(b) else repr(b) for b in bracket)}: must be two values of "
                                 "alpha*sqrt(h), 0 < low < high, e.g. --bracket=0.01,1e4")
        object.__setattr__(self, "bracket", tuple(float(b) for b in bracket))
        if not _positive(self.tolerance):
            raise CrossoverError(f"--tolerance={self.tolerance!r}: must be a number of decades > 0, e.g. 0.1")
        if not isinstance(self.n_boot, int) or self.n_boot < 1:
            raise CrossoverError(f"--n_boot={self.n_boot!r}: must be a positive integer")

    @property
    def log_threshold(self):
        return math.log10(self.threshold)


def _positive(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def widths_and_seeds(points, config):
    """(sorted widths, sorted seeds) of a crossover config's `get_sweep()` points; CrossoverError if
    a point sets anything else (alpha is what the search sets)."""
    if not isinstance(points, (list, tuple)) or not points or not all(isinstance(p, dict) for p in points):
        raise CrossoverError("get_sweep() must return a non-empty list of dicts with model.width (and seed)")
    for point in points:
        other = sorted(set(point) - set(POINT_KEYS))
        if other or "model.width" not in point:
            raise CrossoverError(f"sweep point {point}: a crossover config's get_sweep() sets model.width and "
                                 f"seed only ({'it sets ' + other[0] if other else 'no model.width'}); put other "
                                 "values in get_config()")
    widths = sorted({int(p["model.width"]) for p in points})
    seeds = sorted({int(p.get("seed", config.seed)) for p in points})
    return widths, seeds


def load_search(config_file, **flags):
    """The `Search` of a config file's optional `get_crossover()` dict, with the `flags` that are
    not None taking precedence."""
    settings = dict(call_config_function(config_file, "get_crossover", default={}))
    unknown = sorted(set(settings) - {f.name for f in dataclasses.fields(Search)})
    if unknown:
        raise CrossoverError(f"--config={config_file}: get_crossover() sets {unknown[0]!r}, not a field of the "
                             f"search ({', '.join(f.name for f in dataclasses.fields(Search))})")
    settings.update({key: value for key, value in flags.items() if value is not None})
    return Search(**settings)


# ----------------------------------------------------------------------------------------------
# Bisection (no training: `evaluate` measures)


def round4(x):
    """`x` to 4 significant digits: the precision of run names, so a point's name is its value."""
    return float(f"{x:.4g}")


@dataclasses.dataclass
class Bracket:
    """One width's search: the current bracket (low, high alpha*sqrt(h)) and every point measured,
    {alpha*sqrt(h): per-seed values of the observable}."""

    width: int
    low: float
    high: float
    values: dict = dataclasses.field(default_factory=dict)

    def mean_log(self, x):
        """The seed mean of log10(observable) at alpha*sqrt(h) = `x`."""
        return float(np.mean(np.log10(self.values[x])))

    def decades(self):
        return math.log10(self.high / self.low)

    def midpoint(self):
        return round4(math.sqrt(self.low * self.high))

    def done(self, tolerance):
        """Whether the bracket is narrower than `tolerance` decades (or cannot be split at 4 digits)."""
        mid = self.midpoint()
        return self.decades() <= tolerance or not self.low < mid < self.high

    def update(self, x, log_threshold):
        """Replace the end of the bracket that is on the same side of the threshold as `x`."""
        side = self.mean_log(x) - log_threshold
        if side * (self.mean_log(self.low) - log_threshold) > 0:
            self.low = x
        else:
            self.high = x


def crossing(log_x, means, log_threshold):
    """log10 x where the straight line through (log_x[0], means[0]), (log_x[1], means[1]) equals
    `log_threshold` (the middle of the interval when the means are equal)."""
    (x0, x1), (m0, m1) = log_x, means
    if m1 == m0:
        return 0.5 * (x0 + x1)
    return x0 + (log_threshold - m0) * (x1 - x0) / (m1 - m0)


def _check_bracket(bracket, search):
    """CrossoverError when the threshold is not between the seed means at the bracket's ends."""
    t = search.log_threshold
    m_low, m_high = bracket.mean_log(bracket.low), bracket.mean_log(bracket.high)
    if (m_low - t) * (m_high - t) <= 0:
        return
    low, high = bracket.low, bracket.high
    wider = f"{low:g},{high * 100:g}" if abs(m_high - t) < abs(m_low - t) else f"{low / 100:g},{high:g}"
    side = "above" if m_low > t else "below"
    raise CrossoverError(
        f"--bracket={low:g},{high:g} does not bracket {search.observable}={search.threshold:g} at h={bracket.width}: "
        f"the seed mean of log10 gives {10 ** m_low:.3g} at alpha*sqrt(h)={low:g} and {10 ** m_high:.3g} at "
        f"{high:g}, both {side} the threshold; widen it, e.g. --bracket={wider}")


def bisect(evaluate, widths, search, on_step=None):
    """Bisect every width's bracket together; returns {width: Bracket} (each narrower than the
    tolerance, the threshold between the seed means at its ends).

    Args:
        evaluate: fn([(width, alpha*sqrt(h)), ...]) -> [per-seed values, ...] of the observable.
        widths: the widths h.
        search: a `Search`.
        on_step: called as on_step(step, brackets, asked) after every step (asked: the points
            just measured) and before the next one; also with asked=None before the first.
    Raises:
        CrossoverError when the bracket does not bracket the threshold at some width.
    """
    low, high = (round4(b) for b in search.bracket)
    brackets = {w: Bracket(w, low, high) for w in widths}
    asked = [(w, x) for w in widths for x in (low, high)]
    step = 0
    if on_step:
        on_step(step, brackets, None)
    while asked:
        for (w, x), values in zip(asked, evaluate(asked)):
            brackets[w].values[x] = list(values)
            if step:
                brackets[w].update(x, search.log_threshold)
        if step == 0:
            for bracket in brackets.values():
                _check_bracket(bracket, search)
        step += 1
        asked = [(w, b.midpoint()) for w, b in brackets.items() if not b.done(search.tolerance)]
        if on_step:
            on_step(step, brackets, asked)
    return brackets


# ----------------------------------------------------------------------------------------------
# alpha* and the fit


def crossings(bracket, search, rng=None, n_boot=0):
    """log10 alpha*sqrt(h) of a finished bracket, and `[n_boot]` resamples over seeds (seed indices
    drawn with replacement, the same for both ends)."""
    ends = np.log10([bracket.values[bracket.low], bracket.values[bracket.high]])  # [2, n_seeds]
    log_x = (math.log10(bracket.low), math.log10(bracket.high))
    best = crossing(log_x, ends.mean(axis=1), search.log_threshold)
    if not n_boot:
        return best, np.empty(0)
    index = rng.integers(0, ends.shape[1], size=(n_boot, ends.shape[1]))
    means = ends[:, index].mean(axis=2)  # [2, n_boot]
    boot = np.array([crossing(log_x, means[:, i], search.log_threshold) for i in range(n_boot)])
    return best, boot


def _line(log_h, log_y):
    """(slope, intercept) of least squares along the last axis of `log_y` `[..., n_widths]`."""
    slope = slopes(np.broadcast_to(log_h, np.shape(log_y)), log_y)
    return slope, log_y.mean(-1) - slope * log_h.mean()


def fit(brackets, search, level=0.95, seed=0):
    """{"widths": {h: alpha* and its CI}, "fit": b, prefactor A of alpha* = A h^b and the CI of b}.

    alpha* = alpha*sqrt(h)* / sqrt(h), with alpha*sqrt(h)* interpolated log-linearly in the final
    bracket; CIs are percentile bootstraps over seeds (`search.n_boot`). No fit with one width.
    """
    rng = np.random.default_rng(seed)
    widths = sorted(brackets)
    log_h = np.log10(np.array(widths, float))
    best, boot = zip(*(crossings(brackets[w], search, rng, search.n_boot) for w in widths))
    log_alpha = np.array(best) - 0.5 * log_h  # [n_widths]
    boot_alpha = np.stack(boot, axis=-1) - 0.5 * log_h  # [n_boot, n_widths]
    q = [(1 - level) / 2, (1 + level) / 2]
    per_width = {}
    for i, w in enumerate(widths):
        per_width[w] = {"alpha_star": 10 ** log_alpha[i], "alpha_sqrt_h_star": 10 ** best[i],
                        "alpha_star_ci": [float(10**v) for v in np.quantile(boot_alpha[:, i], q)]}
    if len(widths) < 2:
        return {"widths": per_width, "fit": None}
    b, intercept = _line(log_h, log_alpha)
    boot_b, _ = _line(log_h, boot_alpha)
    return {"widths": per_width, "fit": {"b": float(b), "prefactor": float(10**intercept),
                                         "ci": [float(v) for v in np.quantile(boot_b, q)], "level": level,
                                         "n_boot": search.n_boot, "article_b": -0.5}}


# ----------------------------------------------------------------------------------------------
# Training the points through the sweep machinery


class _Trainer:
    """`evaluate` of `bisect` on real runs: trains the points' seeds through `run_sweep` (skipping the
    finished runs) and measures them; counts the runs and steps for the progress lines."""

    def __init__(self, config, seeds, workdir, search, sweep_options):
        self.config, self.seeds, self.workdir, self.search = config, seeds, workdir, search
        self.sweep_options = sweep_options
        self.start = time.time()
        self.trained, self.reused, self.training_time = 0, 0, 0.0
        self.runs = {}  # (width, alpha*sqrt(h)) -> run directories relative to workdir

    def points(self, asked):
        return [{"model.width": w, "alpha_sqrt_h": x, "seed": s} for w, x in asked for s in self.seeds]

    def __call__(self, asked):
        runs = expand(self.config, self.points(asked))
        checks = {r.name: runner.precheck(r, self._path(r)) for r in runs}  # the sweep's check
        for name, check in checks.items():
            if check not in ("finished", "todo"):  # e.g. a run of another config in this directory
                raise CrossoverError(f"runs/{name}: {check}")
        missing = [r for r in runs if checks[r.name] == "todo"]
        self.reused += len(runs) - len(missing)
        if missing:
            started = time.time()
            summary = runner.run_sweep(self.config, [r.overrides for r in missing], self.workdir,
                                       **self.sweep_options)
            if summary["failed"]:
                name, failure = next(iter(summary["failures"].items()))
                raise CrossoverError(f"{summary['failed']} run(s) failed, e.g. runs/{name}: {failure['error'][:200]}; "
                                     f"see {self.workdir}/failures.json, fix it and start again")
            self.trained += summary["trained"]
            self.training_time += time.time() - started
        values = []
        for i, (w, x) in enumerate(asked):
            group = runs[i * len(self.seeds):(i + 1) * len(self.seeds)]
            self.runs[(w, x)] = [os.path.join("runs", r.name) for r in group]
            values.append([measure(rundir.RunDir(self._path(r)).read_results() or {}, self.search.observable,
                                   f"run {self.workdir}/runs/{r.name}") for r in group])
        return values

    def _path(self, run):
        return os.path.join(self.workdir, "runs", run.name)

    def progress(self, step, brackets, asked):
        """The counts, the steps left and the ETA (the runs of the steps left, every width's bracket
        halved until narrow enough, x the mean wall time per run trained so far), then one line per
        width: its bracket and the next alpha*sqrt(h)."""
        if asked is None:
            return
        steps = {w: max(0, math.ceil(math.log2(b.decades() / self.search.tolerance))) if not
                 b.done(self.search.tolerance) else 0 for w, b in brackets.items()}
        per_run = self.training_time / self.trained if self.trained else math.nan
        eta = sum(steps.values()) * len(self.seeds) * per_run if any(steps.values()) else 0.0
        print(f"[crossover {duration(time.time() - self.start)}] step {step} done: runs trained "
              f"{self.trained}, reused {self.reused}; {max(steps.values())} step(s) left, ETA {duration(eta)}",
              flush=True)
        for w, bracket in brackets.items():
            mid = bracket.midpoint()
            nxt = f"next alpha*sqrt(h) = {mid:g} (alpha = {mid / math.sqrt(w):.4g})" if (w, mid) in asked else "done"
            print(f"  h={w}: bracket alpha*sqrt(h) in [{bracket.low:g}, {bracket.high:g}] "
                  f"({bracket.decades():.2f} decades), {nxt}", flush=True)


def summarize(brackets, search, runs, seeds, status, wall_time):
    """The crossover.json dict of the brackets so far (alpha* and the fit once `status` is "done")."""
    widths = {}
    for w, b in brackets.items():
        evaluations = [{"alpha_sqrt_h": x, "alpha": x / math.sqrt(w), "values": v,
                        "mean_log10": b.mean_log(x), "runs": runs.get((w, x), [])}
                       for x, v in sorted(b.values.items())]
        widths[str(w)] = {"bracket": [b.low, b.high], "bracket_alpha": [b.low / math.sqrt(w), b.high / math.sqrt(w)],
                          "done": b.done(search.tolerance), "evaluations": evaluations}
    result = {"observable": search.observable, "threshold": search.threshold, "tolerance": search.tolerance,
              "initial_bracket": list(search.bracket), "seeds": seeds, "status": status,
              "wall_time": wall_time, "widths": widths, "fit": None}
    if status == "done":
        fitted = fit(brackets, search)
        for w, item in fitted["widths"].items():
            widths[str(w)].update(item)
        result["fit"] = fitted["fit"]
    return result


def _previous_wall_time(path):
    """The seconds the earlier invocations of a search spent (`wall_time_total` of its crossover.json;
    0 without a readable one)."""
    try:
        with open(path) as f:
            saved = json.load(f)
        total = saved.get("wall_time_total", saved.get("wall_time", 0.0))  # files written before the total
    except (OSError, ValueError, AttributeError):
        return 0.0
    return float(total) if _positive(total) else 0.0


def find_crossover(config, points, workdir, search, config_file=None, **sweep_options):
    """Find alpha*(h) for every width of `points` and fit alpha* ~ h^b; returns the crossover.json dict.

    Args:
        config: the base run config (ConfigDict); alpha is set by the search.
        points: the config file's `get_sweep()`: widths and seeds (see `widths_and_seeds`).
        workdir: the search directory: `runs/`, `logs/`, the sweep files, crossover.json, the figure.
        search: a `Search`.
        config_file: recorded in crossover.json.
        **sweep_options: passed to `run_sweep` (executor, workers, threads, ray_address,
            max_retries, progress_every, train_fn).
    Raises:
        CrossoverError (a one-line `UserError`) for bad input, a bracket that does not bracket the
        threshold, an unusable or failed run; crossover.json then holds what was measured.
    """
    widths, seeds = widths_and_seeds(points, config)
    workdir = os.path.abspath(workdir)
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise CrossoverError(f"--workdir={workdir!r} exists and is not a directory")
    rundir.check_writable(workdir)
    os.makedirs(workdir, exist_ok=True)

    def in_use(holder):
        return CrossoverError(f"--workdir={workdir!r} is in use by another crossover search ({holder}); "
                              "wait for it or choose another --workdir")

    with rundir.exclusive(os.path.join(workdir, ".crossover.lock"), in_use):
        trainer = _Trainer(config, seeds, workdir, search, sweep_options)
        print(f"crossover of {search.observable} = {search.threshold:g} for h = {widths} x seeds {seeds}, bracket "
              f"alpha*sqrt(h) in [{search.bracket[0]:g}, {search.bracket[1]:g}] to {search.tolerance:g} decades, "
              f"into {workdir}", flush=True)
        state = {}
        before = _previous_wall_time(os.path.join(workdir, RESULT_FILE))

        def write(status):
            result = summarize(state["brackets"], search, trainer.runs, seeds, status, time.time() - trainer.start)
            result.update(config_file=config_file, wall_time_total=before + result["wall_time"])
            rundir.atomic_write_json(os.path.join(workdir, RESULT_FILE), result)
            return result

        def on_step(step, brackets, asked):
            state["brackets"] = brackets
            if step:
                write("running")
            trainer.progress(step, brackets, asked)

        try:
            bisect(trainer, widths, search, on_step)
        except CrossoverError:
            if state.get("brackets") and any(b.values for b in state["brackets"].values()):
                write("stopped")
            raise
        result = write("done")
        from lazyfeat_tf.report.figures import crossover_figure

        result["figure"] = crossover_figure(result, workdir)
        print(format_result(result), flush=True)
        return result


def format_result(result):
    """The lines printed at the end of a search."""
    lines = [(f"crossover of {result['observable']} = {result['threshold']:g} (wall time "
              f"{duration(result['wall_time'])}, {duration(result['wall_time_total'])} over every invocation):")]
    for w, item in sorted(result["widths"].items(), key=lambda pair: int(pair[0])):
        lo, hi = item["alpha_star_ci"]
        lines.append(f"  h={w}: alpha* = {item['alpha_star']:.4g} [{lo:.4g}, {hi:.4g}], alpha*sqrt(h) = "
                     f"{item['alpha_sqrt_h_star']:.4g}")
    if result["fit"]:
        f = result["fit"]
        lines.append(f"alpha* ~ {f['prefactor']:.3g} h^b with b = {f['b']:.3f} [{f['ci'][0]:.3f}, {f['ci'][1]:.3f}] "
                     f"({f['level']:.0%} CI over seeds); the article: b = -1/2")
    return "\n".join(lines)

