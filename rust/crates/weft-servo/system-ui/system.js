// The system UI: launcher (QUERY_INSTALLED_APPS), running apps with task
// switching and stop (APP_STATE, QUERY_RUNNING, FOCUS_SESSION, TERMINATE_APP),
// status and notifications. It talks to weft-appd through `weftAppd`, which the shell
// injects (weft-shell-core's bridge.js); messages are weft-appd's JSON.
//
// Everything an app controls (its name, id, notification text, error text)
// reaches the page only through textContent and attributes, never as markup.
"use strict";

const launcher = document.getElementById("launcher");
const running = document.getElementById("running");
const statusLine = document.getElementById("status");
const clock = document.getElementById("clock");
const notifications = document.getElementById("notifications");

/** Installed apps by id: {app_id, name, version, error}. */
const installed = new Map();
/** Live sessions by id: {session, app_id, state}. */
const sessions = new Map();
/** The session the task switcher points at. */
let focused = null;
const MAX_NOTIFICATIONS = 3;

function send(message) {
  window.weftAppd.send(JSON.stringify(message)).catch((error) => showStatus(String(error.message || error), true));
}

function showStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

/** An element with a class and text; the text is never parsed as HTML. */
function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** What the user reads for an app: its name, with its id when another
 * installed app's name is the same or looks the same (weft-appd marks those). */
function label(app) {
  if (!app.name) return app.app_id;
  return app.look_alike ? `${app.name} (${app.app_id})` : app.name;
}

function appName(appId) {
  const app = installed.get(appId);
  return app ? label(app) : appId;
}

function renderLauncher() {
  const buttons = [...installed.values()].map((app) => {
    const button = element("button", "launch", label(app));
    button.dataset.appId = app.app_id;
    button.title = app.error ? `${app.app_id}: ${app.error}` : `${app.app_id} ${app.version}`;
    button.disabled = Boolean(app.error);
    button.addEventListener("click", () => send({ type: "LAUNCH_APP", app_id: app.app_id }));
    return button;
  });
  launcher.replaceChildren(...buttons);
}

function renderRunning() {
  const items = [...sessions.values()].map((session) => {
    const item = element("li", session.state);
    item.dataset.session = String(session.session);
    item.classList.toggle("focused", session.session === focused);
    item.append(element("span", "name", appName(session.app_id)));
    const stop = element("button", "stop", "×");
    stop.title = `Stop ${appName(session.app_id)}`;
    stop.addEventListener("click", () => send({ type: "TERMINATE_APP", session: session.session }));
    item.append(stop);
    item.addEventListener("click", (event) => {
      if (event.target !== stop) focusSession(session.session);
    });
    return item;
  });
  running.replaceChildren(...items);
}

/** Brings `session`'s window to the front (weft-appd asks the compositor). */
function focusSession(session) {
  focused = session;
  renderRunning();
  send({ type: "FOCUS_SESSION", session });
}

/** The task switcher: the next running session after the focused one. */
function switchApp() {
  const ids = [...sessions.keys()];
  if (ids.length === 0) return;
  const next = ids[(ids.indexOf(focused) + 1) % ids.length];
  focusSession(next);
}

function notify(appId, title, body) {
  const item = element("li", "notification");
  item.append(element("span", "app", `${appName(appId)}: `));
  item.append(element("span", "title", title));
  item.append(element("span", "body", body));
  notifications.prepend(item);
  while (notifications.children.length > MAX_NOTIFICATIONS) notifications.lastChild.remove();
}

function track(session, appId, state) {
  if (state === "stopped") {
    sessions.delete(session);
    if (focused === session) focused = null;
  } else {
    // The compositor puts a new app's window in front; follow it.
    if (!sessions.has(session)) focused = session;
    sessions.set(session, { session, app_id: appId, state });
  }
  renderRunning();
}

function receive(text) {
  let message;
  try {
    message = JSON.parse(text);
  } catch (error) {
    showStatus("weft-appd sent something that is not JSON", true);
    return;
  }
  switch (message.type) {
    case "WELCOME":
      showStatus("connected");
      send({ type: "QUERY_INSTALLED_APPS" });
      send({ type: "QUERY_RUNNING" });
      break;
    case "INSTALLED_APPS":
      installed.clear();
      for (const app of message.apps) installed.set(app.app_id, app);
      renderLauncher();
      renderRunning();
      break;
    case "RUNNING_APPS":
      for (const session of message.sessions) track(session.session, session.app_id, session.state);
      break;
    case "LAUNCH_ACK":
      track(message.session, message.app_id, "starting");
      break;
    case "APP_STATE":
      track(message.session, message.app_id, message.state);
      if (message.state === "stopped" && message.reason && message.reason !== "finished") {
        showStatus(`${appName(message.app_id)} stopped: ${message.reason}`, true);
      }
      break;
    case "NOTIFICATION":
      notify(message.app_id, message.title, message.body);
      break;
    case "NAVIGATION_GESTURE":
      if (message.gesture === "switch-app") switchApp();
      break;
    case "ERROR":
      showStatus(`${message.code}: ${message.message}`, true);
      break;
    default:
      break;
  }
}

function tick() {
  const now = new Date();
  clock.textContent = `${String(now.getHours()).padStart(2, "0")}:${String(now.getMinutes()).padStart(2, "0")}`;
}

if (window.weftAppd) {
  window.weftAppd.onmessage = receive;
  window.weftAppd.onstop = (reason) => showStatus(`weft-appd went away: ${reason}`, true);
  send({ type: "HELLO", versions: [1] });
} else {
  showStatus("not running inside weft-servo-shell", true);
}
tick();
setInterval(tick, 10000);
