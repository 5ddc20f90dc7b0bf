// Starts Swagger UI on ixp's own OpenAPI description (no inline script: the page's CSP forbids it).
(function () {
  var config = JSON.parse(document.getElementById("ixp-api-docs").textContent);
  window.ui = SwaggerUIBundle({
    url: config.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
