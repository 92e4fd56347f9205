// The witengine dashboard's only script: a plain ES module, no dependencies, no build step.
// Live updates come over one EventSource per page (fragments rendered by the hub); actions go to
// the hub's JSON API; the submit form is checked by the hub's own checker as one types.

const DASHBOARD = { "X-Wit-Dashboard": "1" };
const JSON_HEADERS = { ...DASHBOARD, "Content-Type": "application/json" };

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

function notice(text) {
  const box = $("#notice");
  if (!box) return;
  box.textContent = text || "";
  box.hidden = !text;
}

function setLive(text, state) {
  const live = $("#live");
  if (!live) return;
  if (live.textContent !== text) live.textContent = text;
  live.dataset.state = state;
}

// ------------------------------------------------------------------ live stream

const deferred = new Map(); // fragment id -> HTML held back while someone types in it

function swap(id, html) {
  const target = document.getElementById(id);
  if (!target) return;
  const active = document.activeElement;
  const inside = active && active !== document.body && target.contains(active);
  if (inside && active.matches("input, select, textarea")) {
    deferred.set(id, html); // never replace a field under the person's hands
    return;
  }
  const focusId = inside ? active.id : null;
  target.innerHTML = html;
  if (inside) {
    const again = focusId && document.getElementById(focusId);
    const nearby = target.querySelector("button:not(:disabled)");
    if (again && !again.disabled) {
      again.focus();
    } else if (nearby) {
      nearby.focus(); // Pause became disabled: Resume, beside it, takes the focus
    } else {
      // Nothing to act on any more (a finished job): keep the focus in the same place.
      target.setAttribute("tabindex", "-1");
      target.focus();
    }
  }
  showTimes(target);
}

document.addEventListener("focusout", () => {
  setTimeout(() => {
    for (const [id, html] of deferred) {
      const target = document.getElementById(id);
      if (!target || !target.contains(document.activeElement)) {
        deferred.delete(id);
        swap(id, html);
      }
    }
  }, 0);
});

function appendLog(html) {
  const log = $("#log");
  if (!log) return;
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  for (const empty of $$(".log-empty", log)) empty.remove();
  log.insertAdjacentHTML("beforeend", html);
  const limit = Number(log.dataset.limit || 300);
  while (log.children.length > limit) log.firstElementChild.remove();
  if (nearBottom) log.scrollTop = log.scrollHeight;
}

function markRunning(lines) {
  for (const line of $$(".script .running")) line.classList.remove("running");
  for (const n of lines) document.getElementById(`L${n}`)?.classList.add("running");
  const note = $("#running-note");
  if (note) note.textContent = lines.length ? `Running line ${lines[lines.length - 1]}.` : "";
}

function connect(base) {
  let lastSeq = null; // the last log event seen, for a stream opened anew
  let source = null;
  let timer = null;
  const open = () => {
    let url = base;
    if (lastSeq !== null) url = `${url.replace(/&after=\d+/, "")}&after=${lastSeq}`;
    source = new EventSource(url); // on its own reconnects it sends Last-Event-ID itself
    source.addEventListener("ready", () => setLive("live", "live"));
    source.addEventListener("swap", (event) => {
      const data = JSON.parse(event.data);
      swap(data.id, data.html);
    });
    source.addEventListener("log", (event) => {
      lastSeq = event.lastEventId;
      appendLog(JSON.parse(event.data).html);
    });
    source.addEventListener("running", (event) => markRunning(JSON.parse(event.data)));
    source.addEventListener("gone", () => {
      setLive("this page no longer exists on the hub", "gone");
      source.close();
    });
    source.addEventListener("error", () => {
      setLive("reconnecting…", "reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (the hub answered with an error while restarting): try again.
        clearTimeout(timer);
        timer = setTimeout(open, 3000);
      }
    });
  };
  open();
  window.addEventListener("pagehide", () => source && source.close());
}

// ---------------------------------------------------------------- relative times

function ago(seconds) {
  const s = Math.max(0, Math.round(Date.now() / 1000 - seconds));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function showTimes(root = document) {
  for (const time of $$("time[data-ago]", root)) {
    const text = ago(Number(time.dataset.ago));
    if (time.textContent !== text) time.textContent = text;
  }
}

// ----------------------------------------------------------------------- actions

async function post(button) {
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  // Not `disabled` while waiting: that would throw the keyboard focus off the button.
  if (button.getAttribute("aria-busy") === "true") return;
  button.setAttribute("aria-busy", "true");
  try {
    const method = button.dataset.method || "POST";
    const response = await fetch(button.dataset.post, { method, headers: DASHBOARD });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      notice(body.detail || `The hub answered ${response.status}.`);
    } else {
      notice("");
      if (button.dataset.then) {
        window.location.assign(button.dataset.then); // what it acted on is gone
      } else if ("openJob" in button.dataset) {
        // The action made a job (a re-run): follow it on its own page.
        const body = await response.json();
        window.location.assign(`/jobs/${body.id}`);
      }
    }
  } catch (error) {
    notice(`The hub could not be reached: ${error}`);
  } finally {
    button.removeAttribute("aria-busy");
  }
}

async function showItem(job, map, index) {
  const panel = $("#item-detail");
  if (!panel) return;
  const url = `/jobs/${job}/items/${map}?index=${index}&fragment=item`;
  const response = await fetch(url);
  panel.innerHTML = await response.text();
  panel.setAttribute("tabindex", "-1");
  panel.focus();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-post]");
  if (button) {
    post(button);
    return;
  }
  const cell = event.target.closest(".grid i[data-i]");
  if (cell) {
    const form = cell.closest(".map").querySelector("form.item-form");
    showItem(form.dataset.job, form.dataset.map, cell.dataset.i);
  }
});

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form.item-form");
  if (!form) return;
  event.preventDefault();
  showItem(form.dataset.job, form.dataset.map, form.elements.index.value);
});

// ------------------------------------------------------------------- submit form

function gotoLine(textarea, line, column) {
  const lines = textarea.value.split("\n");
  let offset = 0;
  for (let n = 0; n < line - 1 && n < lines.length; n++) offset += lines[n].length + 1;
  offset += Math.max(0, column - 1);
  textarea.focus();
  textarea.setSelectionRange(offset, offset + 1);
}

function submitPage() {
  const form = $("#submit-form");
  const script = $("#script");
  const filename = $("#filename");
  const parameters = $("#parameters");
  const status = $("#submit-status");
  let timer = null;
  let asked = 0;
  let lastParameters = parameters.innerHTML;

  const check = async () => {
    const mine = ++asked;
    const response = await fetch("/submit/check", {
      method: "POST",
      headers: JSON_HEADERS,
      body: JSON.stringify({ script: script.value, filename: filename.value }),
    });
    if (mine !== asked || !response.ok) return; // a newer check is on its way
    const body = await response.json();
    $("#diagnostics").innerHTML = body.diagnostics;
    script.setAttribute("aria-invalid", body.ok || !script.value.trim() ? "false" : "true");
    if (body.ok && body.parameters !== lastParameters) {
      const kept = {};
      for (const field of $$("[data-param]", parameters)) {
        if (field.type !== "file") kept[field.dataset.param] = field.value;
      }
      parameters.innerHTML = body.parameters;
      lastParameters = body.parameters;
      for (const field of $$("[data-param]", parameters)) {
        const value = kept[field.dataset.param];
        if (value !== undefined && field.type !== "file") field.value = value;
      }
    }
  };

  script.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  });
  $("#script-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    script.value = await file.text();
    filename.value = file.name;
    check();
  });
  $("#diagnostics").addEventListener("click", (event) => {
    const button = event.target.closest("button.goto");
    if (button) gotoLine(script, Number(button.dataset.line), Number(button.dataset.column));
  });

  const upload = async (file) => {
    const url = `/submit/upload?name=${encodeURIComponent(file.name)}`;
    const response = await fetch(url, { method: "POST", headers: DASHBOARD, body: file });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || `upload of ${file.name} refused`);
    return body;
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const start = $("#start");
    start.disabled = true;
    try {
      const values = {};
      const files = {};
      for (const field of $$("[data-param]", parameters)) {
        const name = field.dataset.param;
        if (field.type === "file") {
          const refs = [];
          for (const file of field.files) {
            status.textContent = `Uploading ${file.name}…`;
            refs.push(await upload(file));
          }
          if (refs.length) files[name] = field.multiple ? refs : refs[0];
        } else if (field.value !== "") {
          values[name] = field.value;
        }
      }
      const job = { script: script.value, filename: filename.value, parameters: values, files };
      if (Object.keys(files).length) {
        // What `wit run` checks before it uploads: a .blend must carry the files it uses.
        status.textContent = "Checking the files on the hub…";
        const checked = await fetch("/submit/check-files", {
          method: "POST",
          headers: JSON_HEADERS,
          body: JSON.stringify(job),
        });
        const answer = await checked.json();
        if (!checked.ok) throw new Error(answer.detail || `The hub answered ${checked.status}.`);
      }
      status.textContent = "Starting…";
      const response = await fetch("/api/v1/jobs", {
        method: "POST",
        headers: JSON_HEADERS,
        body: JSON.stringify(job),
      });
      const body = await response.json();
      if (response.status === 201) {
        status.textContent = `Started ${body.name}.`;
        window.location.assign(`/jobs/${body.id}`);
        return;
      }
      status.textContent = body.detail || `The hub answered ${response.status}.`;
    } catch (error) {
      status.textContent = String(error.message || error);
    }
    start.disabled = false;
  });

  if (script.value.trim()) check();
}

// -------------------------------------------------------------------- grant form

// Credits as typed ("2.5") to milli-credits (2500), exactly: no floating point on the way.
function milliCredits(text) {
  const found = /^\s*(\d+)(?:\.(\d{1,3}))?\s*$/.exec(text);
  if (!found) return null;
  return Number(found[1]) * 1000 + Number((found[2] || "").padEnd(3, "0"));
}

function grantForm() {
  const form = $("#grant-form");
  if (!form) return;
  const status = $("#grant-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const amount = milliCredits(form.elements.amount.value);
    if (!amount) {
      status.textContent = "An amount is credits above zero, with at most three decimals.";
      return;
    }
    const button = $("#grant");
    button.disabled = true;
    try {
      const url = `/api/v1/accounts/${encodeURIComponent(form.dataset.account)}/grant`;
      const response = await fetch(url, {
        method: "POST",
        headers: JSON_HEADERS,
        body: JSON.stringify({ amount, memo: form.elements.memo.value }),
      });
      const body = await response.json().catch(() => ({}));
      if (response.ok) {
        status.textContent = `Granted: transaction ${body.seq}.`;
        form.reset();
      } else {
        status.textContent = body.detail || `The hub answered ${response.status}.`;
      }
    } catch (error) {
      status.textContent = `The hub could not be reached: ${error}`;
    }
    button.disabled = false;
  });
}

// ------------------------------------------------------------------------- start

const stream = document.body.dataset.stream;
if (stream) connect(stream);
if (document.body.dataset.view === "submit") submitPage();
if (document.body.dataset.view === "account") grantForm();
showTimes();
setInterval(showTimes, 1000);
