// The UI half of `fetch`: asks the app (which holds the net:fetch capability)
// for a URL and shows what came back, as text.
"use strict";
const out = document.getElementById("out");
if (window.weftIpc) {
  window.weftIpc.onmessage = (reply) => { out.textContent = reply; };
  document.getElementById("go").addEventListener("click", () => {
    window.weftIpc.send(document.getElementById("url").value)
      .catch((error) => { out.textContent = error.message; });
  });
} else {
  out.textContent = "Not running inside a WEFT app shell.";
}
