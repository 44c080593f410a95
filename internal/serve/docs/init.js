// Swagger UI on this service's own document; "try it out" calls go to the
// same origin the page came from.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  tryItOutEnabled: false,
  displayOperationId: true,
  validatorUrl: null,
});
