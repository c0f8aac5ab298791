// Starts Swagger UI on /docs (a file, not inline script: the CSP allows only this server's files).
"use strict";
(function () {
  const root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.spec,
    domNode: root,
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // Try-it-out requests carry the session cookie; mutating ones need the CSRF token too.
    requestInterceptor: (req) => {
      const token = sessionStorage.getItem("beacon-csrf");
      if (token && req.method && req.method.toUpperCase() !== "GET") req.headers["X-CSRF-Token"] = token;
      return req;
    },
  });
  fetch("/api/me", { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : null))
    .then((me) => { if (me) sessionStorage.setItem("beacon-csrf", me.csrf_token); })
    .catch(() => {});
})();
