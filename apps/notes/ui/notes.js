// The UI half of `notes`: lists the notes, opens one, saves the editor. Each
// command is one IPC message and gets one answer (see the app's main.rs).
// Note names and texts are shown with textContent only.
"use strict";
const list = document.getElementById("list");
const nameField = document.getElementById("name");
const textField = document.getElementById("text");
const statusLine = document.getElementById("status");

function command(text) {
  window.weftIpc.send(text).catch((error) => { statusLine.textContent = error.message; });
}

function showList(names) {
  const items = names.map((name) => {
    const item = document.createElement("li");
    const open = document.createElement("button");
    open.textContent = name;
    open.addEventListener("click", () => command(`load ${name}`));
    item.append(open);
    return item;
  });
  list.replaceChildren(...items);
}

function receive(answer) {
  const [verb, ...rest] = answer.split(" ");
  switch (verb) {
    case "notes":
      showList(rest.filter((name) => name.length > 0));
      break;
    case "note":
      nameField.value = rest[0];
      textField.value = rest.slice(1).join(" ");
      statusLine.textContent = `opened ${rest[0]}`;
      break;
    case "saved":
      statusLine.textContent = `saved ${rest.join(" ")}`;
      command("list");
      break;
    default:
      statusLine.textContent = answer;
  }
}

if (window.weftIpc) {
  window.weftIpc.onmessage = receive;
  document.getElementById("editor").addEventListener("submit", (event) => {
    event.preventDefault();
    command(`save ${nameField.value} ${textField.value}`);
  });
  command("list");
} else {
  statusLine.textContent = "Not running inside a WEFT app shell.";
}
