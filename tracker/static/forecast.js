// Comfort for the forecast form; the form works without it (plain POST, server-side checks).
(function () {
  "use strict";
  var form = document.getElementById("forecast-form");
  if (!form) return;

  function num(input) {
    var v = parseFloat(String(input.value).replace(",", "."));
    return isFinite(v) ? v : 0;
  }
  function fmt(v) {
    return String(Math.round(v * 100) / 100);
  }

  // Binary: a range slider beside the number input, kept in sync both ways.
  form.querySelectorAll("input.pct-slider").forEach(function (slider) {
    var input = document.getElementById(slider.dataset.for);
    slider.hidden = false;
    slider.addEventListener("input", function () { input.value = slider.value; });
    input.addEventListener("input", function () {
      var v = parseFloat(input.value);
      if (isFinite(v)) slider.value = String(v);
    });
  });

  // Multiple choice: a live total and a button that rescales the numbers to 100.
  var inputs = Array.prototype.slice.call(form.querySelectorAll("input.mc-pct"));
  var total = document.getElementById("mc-total");
  var normalise = document.getElementById("normalise");
  if (!inputs.length || !total) return;
  total.hidden = false;
  normalise.hidden = false;

  // The server's refusal of the total ("add up to 90%") is stale once the total is right again.
  var serverError = document.getElementById("total-error");

  function update() {
    var sum = inputs.reduce(function (s, i) { return s + num(i); }, 0);
    var off = Math.round((sum - 100) * 100) / 100;
    total.classList.toggle("ok", off === 0);
    total.classList.toggle("bad", off !== 0);
    if (serverError) serverError.hidden = off === 0;
    if (off === 0) {
      total.textContent = "Total: 100% ✓";
    } else if (off < 0) {
      total.textContent = "Total: " + fmt(sum) + "% — " + fmt(-off) + "% left to assign; the total must be 100%.";
    } else {
      total.textContent = "Total: " + fmt(sum) + "% — " + fmt(off) + "% too much; the total must be 100%.";
    }
  }

  normalise.addEventListener("click", function () {
    var values = inputs.map(num).map(function (v) { return Math.max(v, 0); });
    var sum = values.reduce(function (s, v) { return s + v; }, 0);
    if (sum <= 0) values = values.map(function () { return 1; }), sum = values.length;
    // One decimal each; the rounding remainder goes to the largest option so the total is exact.
    var scaled = values.map(function (v) { return Math.round(v / sum * 1000) / 10; });
    var rest = Math.round((100 - scaled.reduce(function (s, v) { return s + v; }, 0)) * 10) / 10;
    var largest = scaled.indexOf(Math.max.apply(null, scaled));
    scaled[largest] = Math.round((scaled[largest] + rest) * 10) / 10;
    inputs.forEach(function (input, i) { input.value = String(scaled[i]); });
    update();
  });
  inputs.forEach(function (input) { input.addEventListener("input", update); });
  update();
})();
