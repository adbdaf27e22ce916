// The UI half of `hello`: sends the name to the app over the session's IPC
// channel and shows the answer. `weft.ipc` is provided by the app shell.
const answer = document.getElementById("answer");
document.getElementById("ask").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!window.weft || !window.weft.ipc) {
    answer.textContent = "Not running inside a WEFT app shell.";
    return;
  }
  window.weft.ipc.onmessage = (message) => { answer.textContent = message; };
  window.weft.ipc.send(document.getElementById("name").value);
});
