// Filters the findings table; nothing else. The page makes no requests.
(function () {
  "use strict";
  var table = document.getElementById("findings");
  if (!table) { return; }
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
  var sel = {
    check: document.getElementById("f-check"),
    severity: document.getElementById("f-severity"),
    account: document.getElementById("f-account")
  };
  var q = document.getElementById("f-q");
  var count = document.getElementById("shown-count");
  var fmt = function (n) { return n.toLocaleString("en-US"); };

  function apply() {
    var want = { check: sel.check.value, severity: sel.severity.value, account: sel.account.value };
    var text = q.value.trim().toLowerCase();
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      var ok = (!want.check || r.getAttribute("data-check") === want.check) &&
        (!want.severity || r.getAttribute("data-severity") === want.severity) &&
        (!want.account || r.getAttribute("data-account") === want.account) &&
        (!text || texts[i].indexOf(text) !== -1);
      r.hidden = !ok;
      if (ok) { shown++; }
    }
    count.textContent = fmt(shown) + " of " + fmt(rows.length) + " rows shown";
    count.setAttribute("data-shown", String(shown));
  }

  // A link such as report.html#check=imds_v1_allowed&q=i-0a opens the
  // report filtered; values not offered by a select are ignored.
  function fromHash() {
    var params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    Object.keys(sel).forEach(function (k) {
      var v = params.get(k);
      if (v === null) { return; }
      for (var i = 0; i < sel[k].options.length; i++) {
        if (sel[k].options[i].value === v) { sel[k].value = v; }
      }
    });
    if (params.get("q") !== null) { q.value = params.get("q"); }
  }

  Object.keys(sel).forEach(function (k) { sel[k].addEventListener("change", apply); });
  q.addEventListener("input", apply);
  document.getElementById("filters").addEventListener("submit", function (e) { e.preventDefault(); });
  window.addEventListener("hashchange", function () { fromHash(); apply(); });
  fromHash();
  apply();
}());
