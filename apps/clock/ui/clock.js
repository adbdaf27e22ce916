// The UI half of `clock`: shows each `time <ms>` the app sends and asks for
// another interval (`interval <ms>`) when the user picks one.
"use strict";
const time = document.getElementById("time");
const ticks = document.getElementById("ticks");
const pad = (n) => String(n).padStart(2, "0");
if (window.weftIpc) {
  window.weftIpc.onmessage = (message) => {
    const [kind, value] = message.split(" ");
    if (kind !== "time") return;
    const at = new Date(Number(value));
    time.textContent = `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
    time.dateTime = at.toISOString();
    ticks.textContent = String(Number(ticks.textContent) + 1);
  };
  document.getElementById("interval").addEventListener("change", (event) => {
    window.weftIpc.send(`interval ${event.target.value}`);
  });
} else {
  time.textContent = "no app shell";
}
