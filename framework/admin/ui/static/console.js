// The console's live parts: the token (this tab's sessionStorage, never a URL), action
// buttons, node details, the live state feed and the event tail (Server-Sent Events).
"use strict";
(function () {
  const TOKEN = "console.token";
  const $ = (selector) => document.querySelector(selector);

  function showToken() {
    $("#token-state").textContent = sessionStorage.getItem(TOKEN) ? "token set" : "no token";
  }

  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("#token-input");
    if (input.value) sessionStorage.setItem(TOKEN, input.value); else sessionStorage.removeItem(TOKEN);
    input.value = "";
    showToken();
  });
  showToken();

  async function act(button) {
    const headers = { "Content-Type": "application/json" };
    const token = sessionStorage.getItem(TOKEN);
    if (token) headers.Authorization = "Bearer " + token;
    const options = { method: "POST", headers: headers };
    if (button.dataset.body) options.body = button.dataset.body;
    $("#action-result").textContent = "…";
    const answer = await fetch(button.dataset.action, options);
    const text = await answer.text();
    $("#action-result").textContent = answer.status + " " + text;
  }

  document.querySelectorAll("button[data-action]").forEach((button) => {
    button.addEventListener("click", () => act(button));
  });

  function showDetail(name) {
    document.querySelectorAll("section.detail").forEach((section) => {
      section.hidden = section.dataset.detail !== name;
    });
    document.querySelectorAll("g.node").forEach((node) => {
      node.classList.toggle("selected", node.dataset.component === name);
    });
  }

  function nodeOf(name) {
    return Array.from(document.querySelectorAll("g.node")).find((node) => node.dataset.component === name);
  }

  function onState(message) {
    const data = JSON.parse(message.data).data;
    const node = nodeOf(data.component);
    if (node) {
      node.dataset.state = data.state;
      node.querySelector("text.state").textContent = data.state + " · " + node.dataset.health;
    }
    const line = document.createElement("li");
    line.textContent = data.component + ": " + data.previous + " → " + data.state + (data.reason ? " (" + data.reason + ")" : "");
    $("#live-log").prepend(line);
  }

  function onHealth(message) {
    const data = JSON.parse(message.data).data;
    const node = data.scope === "component" ? nodeOf(data.name) : null;
    if (!node) return;
    node.dataset.health = data.status;
    node.querySelector("text.state").textContent = node.dataset.state + " · " + data.status;
  }

  if ($("#graph")) {
    document.querySelectorAll("g.node").forEach((node) => {
      node.addEventListener("click", () => showDetail(node.dataset.component));
    });
    const states = new EventSource("/ui/stream/states");
    states.addEventListener("state", onState);
    states.addEventListener("health", onHealth);
    states.onopen = () => { document.body.dataset.states = "open"; };
    states.onerror = () => { document.body.dataset.states = "reconnecting"; };
  }

  let tail = null;
  let paused = false;

  function addRow(message) {
    if (paused) return;
    const event = JSON.parse(message.data);
    const row = document.createElement("tr");
    row.dataset.type = event.type;
    for (const value of [event.time, event.type, event.source, JSON.stringify(event.data)]) {
      const cell = document.createElement("td");
      cell.textContent = value === null || value === undefined ? "" : String(value);
      row.append(cell);
    }
    const body = $("#tail");
    body.prepend(row);
    while (body.rows.length > 200) body.deleteRow(-1);
  }

  function follow(pattern, keep) {
    if (tail) tail.close();
    if (!keep) $("#tail").replaceChildren();
    tail = new EventSource("/ui/stream/events?pattern=" + encodeURIComponent(pattern));
    tail.addEventListener("bus", addRow);
    tail.onopen = () => { $("#tail-state").textContent = "live: " + pattern; };
    tail.onerror = () => { $("#tail-state").textContent = "reconnecting"; };
  }

  if ($("#tail-form")) {
    $("#tail-form").addEventListener("submit", (event) => {
      event.preventDefault();
      follow($("#tail-pattern").value || "**");
    });
    $("#tail-pause").addEventListener("click", () => {
      paused = !paused;
      $("#tail-pause").textContent = paused ? "Resume" : "Pause";
    });
    follow($("#tail-pattern").value, true);
  }

  if ($("#explain-form")) {
    $("#explain-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const key = $("#explain-key").value.trim();
      const answer = await fetch("/config/explain/" + encodeURIComponent(key));
      $("#explain-result").textContent = JSON.stringify(await answer.json(), null, 2);
    });
  }
})();
