// Behaviour without inline script (CSP). htmx sends the CSRF token from the page's form.
document.addEventListener("htmx:configRequest", function (event) {
  var token = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (token) { event.detail.headers["X-CSRFToken"] = token.value; }
});

// Close an open navigation menu when another opens or the user clicks elsewhere.
document.addEventListener("click", function (event) {
  document.querySelectorAll("details.nav-menu[open]").forEach(function (menu) {
    if (!menu.contains(event.target)) { menu.removeAttribute("open"); }
  });
});
