/* Stand-in for Google's gtag.js (Google Ads): reads the consent state from the dataLayer like
   the real tag does, sets the conversion-linker cookie, and sends a hit. */
(function () {
  var dl = window.dataLayer = window.dataLayer || [];
  window.gtag = window.gtag || function () { dl.push(arguments); };
  var consent = {};
  dl.forEach(function (e) {
    if (e[0] === "consent") for (var k in e[2]) consent[k] = e[2][k];
  });
  document.cookie = "_gcl_au=1.1.demo; Path=/; Max-Age=7776000";
  (window.demoRan = window.demoRan || []).push({ sdk: "google_ads", dataLayer: dl.length,
    firstCommand: Array.prototype.slice.call(dl[0] || [], 0, 2), consent: consent });
  fetch("/demo/hit?sdk=google_ads&ad_storage=" + consent.ad_storage, { keepalive: true });
})();
