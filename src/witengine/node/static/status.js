// A node's page: fetch its live part every few seconds and put it in place, keeping open the
// logs the reader opened. Without this script the page still works: reload it by hand.
const live = document.getElementById("live");
const note = document.getElementById("live-state");
const seconds = Number(document.body.dataset.refresh || "2");

async function refresh() {
  try {
    const answer = await fetch("/live", { credentials: "same-origin", cache: "no-store" });
    if (!answer.ok) throw new Error(`${answer.status}`);
    const text = await answer.text();
    const open = new Set(
      Array.from(live.querySelectorAll("details[open]")).map((d) => d.dataset.log),
    );
    live.innerHTML = text;
    for (const details of live.querySelectorAll("details[data-log]")) {
      if (open.has(details.dataset.log)) details.open = true;
    }
    note.textContent = "live";
    note.dataset.state = "live";
  } catch {
    note.textContent = "the node does not answer; trying again";
    note.dataset.state = "reconnecting";
  }
}

setInterval(refresh, seconds * 1000);
note.textContent = "live";
