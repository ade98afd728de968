// Filters by pipeline / manager, switches the trend step and the breakdown dimension. Without script the page shows the
// whole account by month, so a mail client that strips scripts still gets a complete report.
(function () {
  var scope = document.getElementById("scope");
  var grain = "month";
  function each(selector, fn) { Array.prototype.forEach.call(document.querySelectorAll(selector), fn); }
  function apply() {
    var key = scope.value;
    var kind = key === "all" ? "all" : key.charAt(0) === "p" ? "pipeline" : "manager";
    var id = key.slice(2);
    each("[data-scope]", function (el) { el.hidden = el.dataset.scope !== key; });
    each("[data-grain]", function (el) { el.hidden = el.dataset.grain !== grain; });
    each("[data-pipeline]", function (el) { el.hidden = kind === "pipeline" && el.dataset.pipeline !== id; });
    each("[data-show-for]", function (el) { el.hidden = el.dataset.showFor !== kind; });
    each("tr[data-manager]", function (el) { el.classList.toggle("selected", kind === "manager" && el.dataset.manager === id); });
    each("[data-grain-choice]", function (el) { el.setAttribute("aria-pressed", String(el.dataset.grainChoice === grain)); });
  }
  scope.addEventListener("change", apply);
  each("[data-grain-choice]", function (el) {
    el.addEventListener("click", function () { grain = el.dataset.grainChoice; apply(); });
  });
  var breakdown = document.getElementById("breakdown");
  function applyBreakdown() {
    each("[data-dimension]", function (el) { el.hidden = el.dataset.dimension !== breakdown.value; });
  }
  if (breakdown) { breakdown.addEventListener("change", applyBreakdown); applyBreakdown(); }
  document.getElementById("controls").hidden = false;
  apply();
})();
