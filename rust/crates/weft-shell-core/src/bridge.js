// The page side of a WEFT shell's bridge (see bridge.rs). A shell injects this
// before the page's own scripts and calls __weftBridge(global, path), which
// defines window[global]:
//   send(message)  -> Promise; rejects with the reason if it was refused
//   onmessage      = (message) => ...; messages that arrive before it is set wait
//   onrefused      = (reason) => ...; something sent earlier was refused later
//   onstop         = (reason) => ...; the other side ended
// Messages go out as POST <path>?m=<message>; what comes back the shell pushes
// by evaluating __weftPush([{message|refused|stopped: text}, ...]) in the page
// (the same items, in order; it returns how many it took).
function __weftBridge(global, path) {
  "use strict";
  const waiting = [];
  let onmessage = null;
  let stopped = null;
  const bridge = {
    onrefused: null,
    onstop: null,
    get stopped() { return stopped; },
    get onmessage() { return onmessage; },
    set onmessage(handler) {
      onmessage = handler;
      while (onmessage && waiting.length > 0) onmessage(waiting.shift());
    },
    async send(message) {
      if (stopped !== null) throw new Error(`the channel is closed: ${stopped}`);
      const query = `?m=${encodeURIComponent(String(message))}`;
      const answer = await fetch(path + query, { method: "POST" });
      if (!answer.ok) throw new Error(await answer.text());
    },
  };
  const deliver = (item) => {
    if ("message" in item) {
      if (onmessage) onmessage(item.message); else waiting.push(item.message);
    } else if ("refused" in item) {
      if (bridge.onrefused) bridge.onrefused(item.refused);
    } else if ("stopped" in item) {
      stopped = item.stopped;
      if (bridge.onstop) bridge.onstop(stopped);
    }
  };
  const push = (items) => {
    for (const item of items) deliver(item);
    return items.length;
  };
  Object.defineProperty(window, global, { value: Object.seal(bridge), enumerable: true });
  Object.defineProperty(window, "__weftPush", { value: push });
}
