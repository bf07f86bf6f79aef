/* Stand-in for the WeChat JS-SDK share button: added after load (like a single-page app). */
(function () {
  document.cookie = "wechat_demo_share=1; Path=/";
  (window.demoRan = window.demoRan || []).push({ sdk: "wechat", dataLayer: window.dataLayer.length });
  fetch("/demo/hit?sdk=wechat", { keepalive: true });
})();
