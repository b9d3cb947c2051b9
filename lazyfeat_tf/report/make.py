"""`make_report`: gather the runs, write runs.csv, draw every registered figure of every family and
the article figures asked for (`article.py`), and write summary.md."""

import dataclasses
import json
import os

from lazyfeat_tf import rundir
from lazyfeat_tf.errors import UserError
from lazyfeat_tf.report import article, figures, summary
from lazyfeat_tf.report.article_common import Member, short_labels
from lazyfeat_tf.report.family import Family
from lazyfeat_tf.report.fits import FitSettings
from lazyfeat_tf.report.runs import family_labels, gather, is_diverged, is_reported, is_unconverged, write_csv


class ReportError(UserError):
    """Nothing to report on; the message is one line."""


@dataclasses.dataclass
class FamilyReport:
    """The report of one family.

    fits: {name: fit} (see `fits.fit_power_law` and `fits.fit_fluctuations`);
    figures: {figure name: [paths]} of the figures drawn;
    notes: why a figure or a fit is missing, one line each;
    ensemble: `Family.ensembles()`;
    markdown: its section of summary.md but for the title.
    """

    fits: dict
    figures: dict
    notes: list
    ensemble: dict
    markdown: list


def report_family(family, out, settings=None):
    """Draw the registered figures (`figures.FIGURES`) of `family` into `out` with the fit `settings`
    (default `FitSettings()`); a `FamilyReport`."""
    settings = settings or FitSettings()
    os.makedirs(out, exist_ok=True)
    fits, paths, notes = {}, {}, []
    for spec in figures.FIGURES:
        missing = spec.needs(family, settings)
        if missing is not None:
            notes.append(f"{spec.name}: {missing}")
            continue
        drawn = spec.draw(family, settings)
        paths[spec.name] = figures.save(drawn.figure, out, spec.name)
        fits.update(drawn.fits)
        notes += [f"{spec.name}: {note}" for note in drawn.notes]
    markdown = summary.family_markdown(family, fits, paths, notes, settings)
    return FamilyReport(fits, paths, notes, family.ensembles(), markdown)


def _article_names(workdir, names):
    """The article figures to draw: `names` (from --figures), else those of the workdir's sweep.json;
    raises ReportError for an unknown name or a sweep.json that cannot be read."""
    if names is None:
        try:
            names = article.declared_figures(workdir)
        except ValueError as error:
            raise ReportError(f"{error}; choose the article figures with --figures=name,name") from None
        source = f"{os.path.join(workdir, 'sweep.json')} declares an"
    else:
        source = f"--figures={','.join(names)}:"
    unknown = article.unknown_figure(names)
    if unknown:
        raise ReportError(f"{source} {unknown}")
    return tuple(names)


def _members(rows):
    """The `Member`s of the families of `rows`, in order of their config keys."""
    groups = {}
    for row in rows:
        groups.setdefault(row["family"], []).append(row)
    keys = sorted(groups)
    configs = [json.loads(key) for key in keys]
    return [Member(label, short, Family(groups[key]))
            for key, label, short in zip(keys, family_labels(configs), short_labels(configs))]


def make_report(workdir, out=None, lazy_min=FitSettings.lazy_min, feature_max=FitSettings.feature_max,
                n_boot=FitSettings.n_boot, article_figures=None, *, include_unconverged=False):
    """Write the report of the runs under `workdir` into `out` (default `workdir/report`).

    `article_figures`: names of `article.ARTICLE_FIGURES` to draw over all the families; None draws
    those `workdir/sweep.json` declares (none without sweep.json).

    Only converged runs enter the means, figures and fits (`runs.is_reported`); the diverged and the
    unconverged ones are listed in summary.md. `include_unconverged` keeps the unconverged ones in (a
    quick look at a sweep still being tuned); diverged runs stay out. runs.csv holds every run.

    Returns a dict: out, rows (the gathered runs), unfinished (run directories without results),
    invalid ((run directory, reason) of those skipped because their results.json or config.json
    cannot be used), include_unconverged, families [{label, out, fits, figures, notes, ensemble}]
    (see `FamilyReport`), article (see `article.draw_article_figures`). Raises ReportError, before
    writing anything, when there is no finished run or an article figure is unknown.
    """
    if not os.path.isdir(workdir):
        raise ReportError(f"--workdir={workdir!r} is not a directory")
    if not (lazy_min > 0 and feature_max > 0 and feature_max < lazy_min):
        raise ReportError(f"--feature_max={feature_max!r} and --lazy_min={lazy_min!r}: need "
                          "0 < feature_max < lazy_min")
    settings = FitSettings(lazy_min, feature_max, n_boot)
    workdir = os.path.abspath(workdir)
    names = _article_names(workdir, article_figures)
    out = os.path.abspath(out or os.path.join(workdir, "report"))
    gathered = gather(workdir, exclude=[out])
    if not gathered.rows and gathered.invalid:
        path, reason = gathered.invalid[0]
        raise ReportError(f"--workdir={workdir!r} holds no usable run: {len(gathered.invalid)} run directories "
                          f"have unusable files, e.g. {path}: {reason}")
    if not gathered.rows:
        raise ReportError(f"--workdir={workdir!r} holds no finished run (no results.json under it)")
    rundir.check_writable(out, flag="--out")
    os.makedirs(out, exist_ok=True)
    write_csv(gathered.rows, os.path.join(out, "runs.csv"))

    members = _members([row for row in gathered.rows if is_reported(row, include_unconverged)])
    md, families = [], []
    for i, member in enumerate(members):
        where = f"family-{i + 1}" if len(members) > 1 else None
        family_out = os.path.join(out, where) if where else out
        report = report_family(member.family, family_out, settings)
        md += summary.family_header(member.label, member.family, where) + report.markdown
        families.append({"label": member.label, "out": family_out, "fits": report.fits, "figures": report.figures,
                         "notes": report.notes, "ensemble": report.ensemble})
    drawn = article.draw_article_figures(members, names, out, settings)
    md = summary.header(workdir, gathered, include_unconverged) + summary.article_markdown(drawn, out) + md
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    return {"out": out, "rows": gathered.rows, "unfinished": gathered.unfinished, "invalid": gathered.invalid,
            "include_unconverged": include_unconverged, "families": families, "article": drawn}


def _untrusted_lines(result):
    """One line per diverged run (always left out) and per unconverged run (left out, or kept in by
    include_unconverged) of a `make_report` result."""
    where = ("kept in means and fits by --include_unconverged" if result["include_unconverged"]
             else "left out of means and fits")
    rows = result["rows"]
    return ([f"diverged (left out of means and fits): {row['path']}" for row in rows if is_diverged(row)]
            + [f"not converged (status {row['status']}, {where}): {row['path']}" for row in rows
               if is_unconverged(row)])


def describe(result):
    """The lines `launch.report` prints about a `make_report` result."""
    figure_count = sum(len(f["figures"]) for f in result["families"])
    out = result["out"]
    drawn = [name for name, item in result["article"].items() if item["files"]]
    article_count = f", {len(drawn)} article figures ({', '.join(drawn)})" if result["article"] else ""
    lines = [f"{len(result['rows'])} runs -> {out}/runs.csv, {figure_count} figures{article_count} (PNG + PDF), "
             f"{out}/summary.md"]
    lines += [f"skipped: {path}: {reason}" for path, reason in result["invalid"]]
    lines += _untrusted_lines(result)
    for family in result["families"]:
        where = "" if family["out"] == out else f"{os.path.relpath(family['out'], out)}: "
        lines += [f"note: {where}{note}" for note in family["notes"]]
    lines += [f"note: article {name}: {note}" for name, item in result["article"].items() for note in item["notes"]]
    return lines
