/* Stand-in for NetEase Yidun bot detection: strictly necessary, runs for everyone. */
(function () {
  (window.demoRan = window.demoRan || []).push({ sdk: "netease_yidun", dataLayer: window.dataLayer.length });
  fetch("/demo/hit?sdk=netease_yidun", { keepalive: true });
})();
