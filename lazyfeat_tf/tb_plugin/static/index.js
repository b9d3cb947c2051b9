// Kernel drift tab (lazyfeat_tf): how much the empirical NTK moves along training.
// Loaded by TensorBoard in an iframe whose base href is "plugin/kernel_drift/"; it imports this
// module (FrontendMetadata.es_module_path) and calls render(). The other modules of this folder
// are imported relatively and served by the plugin's /static/* route. Every URL is relative, so
// --path_prefix and proxies work. No external resources, no HTML parsing of data: run names and
// every other string from the logdir are inserted with textContent / setAttribute.
//
// Modules: state.js (runs, selection, controls, loaded data), api.js (routes), toolbar.js,
// run_list.js, banners.js, focus.js (run and checkpoint of spectrum and heatmap), one module per
// chart (drift_chart.js, collapse_chart.js, spectrum_chart.js, heatmap_chart.js), hover.js and
// charts.js (SVG drawing).

import {fetchFinal, fetchRuns, fetchSeries} from "./api.js";
import {renderBanners} from "./banners.js";
import {htmlEl} from "./charts.js";
import {CollapseChart} from "./collapse_chart.js";
import {DriftChart} from "./drift_chart.js";
import {Focus} from "./focus.js";
import {HeatmapChart} from "./heatmap_chart.js";
import {Tooltip} from "./hover.js";
import {RunList} from "./run_list.js";
import {SpectrumChart} from "./spectrum_chart.js";
import {TabState} from "./state.js";
import {Toolbar} from "./toolbar.js";

const REFRESH_MS = 30000;

export async function render() {
  const app = new KernelDriftApp(document.body);
  await app.start();
  return app;
}

class KernelDriftApp {
  constructor(body) {
    this.body = body;
    this.state = new TabState();
    this.renderCount = 0;
    this.chain = Promise.resolve();
    this.refreshing = false;
    this.pendingRedraw = null;
  }

  async start() {
    await loadStyle();
    this.build();
    window.addEventListener("resize", () => this.scheduleRedraw());
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(() => this.scheduleRedraw()).observe(this.main.grid);
    }
    this.timer = setInterval(() => {
      if (this.toolbar.auto.checked && !document.hidden) this.refresh();
    }, REFRESH_MS);
    await this.refresh();
  }

  build() {
    this.root = htmlEl("div", {id: "kd-root", "data-ready": "false", "data-render-count": "0"});
    this.body.replaceChildren(this.root);
    const update = () => this.update();
    this.runList = new RunList(htmlEl("aside", {className: "kd-sidebar"}, this.root), this.state, update);
    const main = htmlEl("main", {className: "kd-main"}, this.root);
    this.toolbar = new Toolbar(main, this.state, {onChange: update, onRefresh: () => this.refresh()});
    this.main = {
      banners: htmlEl("div", {className: "kd-banners"}, main),
      empty: htmlEl("div", {className: "kd-empty kd-hidden"}, main),
      grid: htmlEl("div", {className: "kd-grid"}, main),
    };
    const tooltip = new Tooltip(this.body);
    const pick = (run) => this.setFocus(run);
    this.drift = new DriftChart(this.main.grid, tooltip, pick);
    this.collapse = new CollapseChart(this.main.grid, tooltip, pick);
    this.spectrum = new SpectrumChart(this.main.grid, tooltip);
    this.heatmap = new HeatmapChart(this.main.grid, tooltip);
    this.focus = new Focus(this.spectrum.controls, {onRun: pick, onStep: () => this.refocus()});
  }

  // Serialized async work: refresh (timer/button) and updates (controls) never interleave.
  enqueue(task) {
    this.chain = this.chain.then(task).catch((e) => this.showError(e));
    return this.chain;
  }

  refresh() {
    if (this.refreshing) return this.chain;
    this.refreshing = true;
    return this.enqueue(async () => {
      this.toolbar.setStatus("loading…");
      try {
        const runs = await fetchRuns();
        this.state.error = null;
        this.showRuns(runs);
        await Promise.all([this.loadSeries(), this.loadFinal()]);
        this.drawMain();
        await this.loadFocus();
        this.drawFocus();
        this.toolbar.setStatus(`updated ${new Date().toLocaleTimeString()}`);
      } catch (e) {
        this.showError(e);
      } finally {
        this.refreshing = false;
        this.markRendered();
      }
    });
  }

  // Re-draw after a control changed (fetching only what is missing).
  update() {
    clearTimeout(this.updateTimer);
    this.updateTimer = setTimeout(() => {
      this.enqueue(async () => {
        this.runList.updateCount();
        this.drawMain();             // immediate feedback from the cache
        await this.loadSeries();
        this.drawMain();
        await this.loadFocus();
        this.drawFocus();
        this.markRendered();
      });
    }, 40);
  }

  scheduleRedraw() {
    cancelAnimationFrame(this.pendingRedraw);
    this.pendingRedraw = requestAnimationFrame(() => {
      if (!this.state.runs.length) return;
      this.drawMain();
      this.drawFocus();
    });
  }

  markRendered() {
    this.renderCount += 1;
    this.root.setAttribute("data-render-count", String(this.renderCount));
    this.root.setAttribute("data-ready", "true");
  }

  showRuns(resp) {
    this.state.setRuns(resp);
    this.toolbar.setSplits(this.state.splits, this.state.split);
    this.runList.render(this.focus.run);
    renderBanners(this.main, this.state);
  }

  showError(e) {
    this.state.error = e;
    this.toolbar.setStatus("error");
    renderBanners(this.main, this.state);
  }

  async loadSeries() {
    const stale = this.state.staleSeries();
    if (!stale.length) return;
    const include = this.state.includeFor(stale);
    this.state.storeSeries(await fetchSeries(stale, include), include);
  }

  async loadFinal() {
    this.state.final = await fetchFinal();
  }

  async loadFocus() {
    this.focus.choose(this.state.drawnRuns(), this.state.byName);
    this.runList.markFocus(this.focus.run);
    await this.focus.load(this.state.byName);
  }

  setFocus(run) {
    if (this.focus.set(run)) this.refocus();
  }

  // Reload and redraw the spectrum and heatmap for the focus run and checkpoint.
  refocus() {
    this.enqueue(async () => {
      await this.loadFocus();
      this.drawFocus();
      this.markRendered();
    });
  }

  drawMain() {
    this.drift.draw(this.state);
    this.collapse.draw(this.state);
  }

  drawFocus() {
    this.focus.updateStepControl();
    this.spectrum.draw(this.focus);
    this.heatmap.draw(this.focus);
  }
}

function loadStyle() {
  return new Promise((resolve) => {
    const link = htmlEl("link", {rel: "stylesheet", href: "./static/style.css"}, document.head);
    link.addEventListener("load", resolve);
    link.addEventListener("error", resolve);
    setTimeout(resolve, 3000);
  });
}
