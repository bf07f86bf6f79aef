/* Stand-in for the Sensors Data (神策) web SDK: sets its cookies and storage, sends a hit. */
(function () {
  document.cookie = "sensorsdata2015jssdkcross=demo-visitor-1; Path=/; Max-Age=31536000";
  document.cookie = "sajssdk_2015_cross_new_user=1; Path=/";
  try { localStorage.setItem("sensorsdata_demo_queue", "[]"); } catch (e) {}
  (window.demoRan = window.demoRan || []).push({ sdk: "sensors_data", dataLayer: window.dataLayer.length });
  fetch("/demo/hit?sdk=sensors_data", { keepalive: true });
})();
