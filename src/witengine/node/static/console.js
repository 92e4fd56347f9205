// The owner's console: fetch the page again every few seconds and put its sections in place,
// all but the payment form and a section whose form has the focus (never replaced under the
// person's hands). Without this script the console still works: reload it by hand.
const seconds = Number(document.body.dataset.refresh || "5");
const note = document.getElementById("live-state");

async function refresh() {
  try {
    const answer = await fetch("/console", { credentials: "same-origin", cache: "no-store" });
    if (!answer.ok) throw new Error(`${answer.status}`);
    const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
    for (const section of fresh.querySelectorAll("section[id^='console-']")) {
      if (section.id === "console-transfer") continue;
      const shown = document.getElementById(section.id);
      // A section whose form is being filled in is left as it is, until the person is done.
      if (shown && shown.contains(document.activeElement) && document.activeElement !== document.body) continue;
      if (shown && shown.innerHTML !== section.innerHTML) shown.innerHTML = section.innerHTML;
    }
    const unreadable = fresh.getElementById("unreadable");
    note.textContent = unreadable ? "the hub does not answer; trying again" : "live";
    note.dataset.state = unreadable ? "reconnecting" : "live";
  } catch {
    note.textContent = "the node does not answer; trying again";
    note.dataset.state = "reconnecting";
  }
}

setInterval(refresh, seconds * 1000);
note.textContent = "live";
