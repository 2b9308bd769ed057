// The console's "Log in" window: xterm.js bridged over a websocket to the instance's console. The
// websocket is authenticated by the console session's cookie and serves this account's instance only.
(() => {
  const main = document.getElementById("terminal");
  const status = document.querySelector("[data-role=status]");
  const instance = main.dataset.instance;
  const term = new window.Terminal({ cursorBlink: true, convertEol: false, fontSize: 14, rows: 30, cols: 100 });
  term.open(main);
  term.focus();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/console/instances/${encodeURIComponent(instance)}/terminal/ws`);
  ws.onopen = () => { status.textContent = "connected"; };
  ws.onmessage = (event) => term.write(event.data);
  ws.onclose = (event) => {
    status.textContent = event.reason ? `closed: ${event.reason}` : "closed";
    term.write("\r\n[connection closed]\r\n");
  };
  term.onData((data) => { if (ws.readyState === WebSocket.OPEN) ws.send(data); });
})();
