// Client of the plugin's routes. Every URL is relative: the iframe's base href is
// "plugin/kernel_drift/", so --path_prefix and proxies work.

const URL_BUDGET = 6000;       // characters of run names per /series request
const CONCURRENCY = 3;         // /series requests in flight

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function getJSON(url) {
  let response;
  try {
    response = await fetch(url, {headers: {Accept: "application/json"}, cache: "no-store"});
  } catch (e) {
    throw new HttpError(0, "TensorBoard is not reachable (" + e.message + ")");
  }
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    throw new HttpError(response.status, (body && body.error) || `HTTP ${response.status}`);
  }
  return body;
}

let limits = null;

// The backend's request limits (/limits), fetched once (again after a failure).
export function fetchLimits() {
  if (!limits) limits = getJSON("./limits").catch((e) => { limits = null; throw e; });
  return limits;
}

export function fetchRuns() {
  return getJSON("./runs");
}

export function fetchFinal() {
  return getJSON("./final");
}

// The series of every run of `names`, with the optional fields of the Set `include`, in batches
// within the backend's run limit and the URL budget.
export async function fetchSeries(names, include) {
  const {max_runs_per_series_request: maxRuns} = await fetchLimits();
  const batches = [];
  let batch = [], chars = 0;
  for (const name of names) {
    const size = encodeURIComponent(name).length + 5;
    if (batch.length && (batch.length >= maxRuns || chars + size > URL_BUDGET)) {
      batches.push(batch); batch = []; chars = 0;
    }
    batch.push(name); chars += size;
  }
  if (batch.length) batches.push(batch);
  const series = [];
  const fetchBatch = async (runs) => {
    let url = "./series?" + runs.map((n) => "run=" + encodeURIComponent(n)).join("&");
    if (include.size) url += "&include=" + [...include].join(",");
    series.push(...(await getJSON(url)).series);
  };
  let next = 0;
  const worker = async () => { while (next < batches.length) await fetchBatch(batches[next++]); };
  await Promise.all(Array.from({length: Math.min(CONCURRENCY, batches.length)}, worker));
  return series;
}

// [/eigenvalues, /heatmap] of `run` at the checkpoint nearest to `step` (null: the last one);
// a failed request gives {error: message}.
export function fetchCheckpoint(run, step) {
  const query = "run=" + encodeURIComponent(run) + (step !== null ? "&step=" + step : "");
  return Promise.all(["./eigenvalues?", "./heatmap?"].map(
    (route) => getJSON(route + query).catch((e) => ({error: e.message}))));
}
