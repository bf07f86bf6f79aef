/* The inquiry page's own script: Reply asks the backend for an ask token and hands it to
   Consentry.ask; the exhibition buttons call the browser's APIs as any page would. */
(function () {
  var main = document.querySelector("main");
  var askOut = document.getElementById("demo-ask-result");
  var permOut = document.getElementById("demo-perm-result");
  document.getElementById("demo-reply").addEventListener("click", function () {
    askOut.textContent = "…";
    fetch("/demo/inquiry/ask", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ref: main.dataset.ref, buyer: main.dataset.buyer }) })
      .then(function (r) { return r.json(); })
      .then(function (a) { return Consentry.ask(a.token); })
      .then(function (r) {
        askOut.textContent = r.dismissed ? "dismissed" : (r.agreed ? "agreed " : "not agreed ") + r.event_id;
      }, function (e) { askOut.textContent = String(e.message); });
  });
  document.getElementById("demo-join").addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({ video: true, audio: true }).then(function (stream) {
      var v = document.getElementById("demo-camera");
      v.srcObject = stream;
      v.hidden = false;
      v.play().catch(function () {});
      permOut.textContent = "camera and microphone on: " + stream.getTracks().map(function (t) { return t.kind; }).join(", ");
    }, function (e) { permOut.textContent = e.name + ": " + e.message; });
  });
  document.getElementById("demo-notify").addEventListener("click", function () {
    Notification.requestPermission().then(function (p) { permOut.textContent = "notifications: " + p; });
  });
})();
