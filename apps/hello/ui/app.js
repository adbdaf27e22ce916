// The UI half of `hello`: sends the name to the app over the session's IPC
// channel (`weftIpc`, injected by the app shell) and shows the answer.
"use strict";
const answer = document.getElementById("answer");
if (window.weftIpc) {
  window.weftIpc.onmessage = (message) => { answer.textContent = message; };
  window.weftIpc.onstop = (reason) => { answer.dataset.stopped = reason; };
}
document.getElementById("ask").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!window.weftIpc) {
    answer.textContent = "Not running inside a WEFT app shell.";
    return;
  }
  window.weftIpc.send(document.getElementById("name").value)
    .catch((error) => { answer.textContent = `Not sent: ${error.message}`; });
});
