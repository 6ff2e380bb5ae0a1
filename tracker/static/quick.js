// Fast entry on the question list: each yes/no row's % box is a normal form (Enter posts it and
// the server redirects back); with JavaScript the same POST goes through fetch and the row updates
// in place. The CSRF token travels in the form data, as in the plain post.
(function () {
  "use strict";
  document.querySelectorAll("form.quick-forecast").forEach(function (form) {
    var box = form.querySelector("input.quick-pct");
    var status = form.querySelector(".quick-status");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      status.textContent = "Saving…";
      status.classList.remove("bad", "ok");
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { "Accept": "application/json" },
        credentials: "same-origin"
      }).then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, data: data }; });
      }).then(function (result) {
        if (result.ok) {
          box.value = result.data.percent;
          status.textContent = "Saved: " + result.data.saved;
          status.classList.add("ok");
          box.removeAttribute("aria-invalid");
        } else {
          status.textContent = result.data.error || "Not saved.";
          status.classList.add("bad");
          box.setAttribute("aria-invalid", "true");
        }
      }).catch(function () {
        // The network failed: fall back to the plain form post.
        form.submit();
      });
    });
  });
})();
