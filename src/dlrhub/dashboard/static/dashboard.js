/* dlrhub dashboard: small progressive enhancements. Every form also works without this file. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function words(value) {
    return (value || "").split(/\s+/).filter(Boolean);
  }

  // Show an element and enable its controls, or hide it and disable them (so they are not sent).
  function setShown(element, shown) {
    element.hidden = !shown;
    element.querySelectorAll("input, select, textarea, button").forEach(function (control) {
      control.disabled = !shown;
    });
  }

  function selectIn(form, role) {
    var holder = form.querySelector('[data-role="' + role + '"]');
    return holder ? holder.querySelector("select") : null;
  }

  // Product-dependent fields: [data-products="WHATSAPP ..."] and [data-applies="WHATSAPP:DLR ..."].
  function updateProductForm(form) {
    var productSelect = selectIn(form, "product");
    if (!productSelect) return;
    var product = productSelect.value;
    var reportSelect = selectIn(form, "report");
    if (reportSelect) {
      Array.prototype.forEach.call(reportSelect.options, function (option) {
        var allowed = !option.dataset.products || words(option.dataset.products).indexOf(product) >= 0;
        option.hidden = !allowed;
        option.disabled = !allowed;
        if (!allowed && option.selected) reportSelect.value = reportSelect.options[0].value;
      });
    }
    var report = reportSelect ? reportSelect.value : "";
    form.querySelectorAll("[data-products]").forEach(function (element) {
      if (element.tagName === "OPTION") return;
      setShown(element, words(element.dataset.products).indexOf(product) >= 0);
    });
    form.querySelectorAll("[data-applies]").forEach(function (element) {
      setShown(element, words(element.dataset.applies).indexOf(product + ":" + report) >= 0);
    });
    form.querySelectorAll("[data-toggles]").forEach(function (checkbox) {
      var section = document.getElementById(checkbox.dataset.toggles);
      if (section) setShown(section, checkbox.checked);
    });
  }

  var rowCounter = 0;

  // "Add more": copy the section's last row, empty, with fresh ids; no round trip needed.
  function addRow(button) {
    var list = document.getElementById(button.dataset.addRow);
    if (!list) return;
    var rows = list.querySelectorAll("[data-row]");
    var last = rows[rows.length - 1];
    if (!last) return;
    var copy = last.cloneNode(true);
    rowCounter += 1;
    copy.querySelectorAll(".field-error, .pair-error").forEach(function (node) { node.remove(); });
    copy.querySelectorAll(".has-error").forEach(function (node) { node.classList.remove("has-error"); });
    copy.querySelectorAll("input").forEach(function (input) {
      var oldId = input.id;
      input.value = "";
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
      input.id = oldId + "-n" + rowCounter;
      var label = copy.querySelector('label[for="' + oldId + '"]');
      if (label) label.htmlFor = input.id;
    });
    list.appendChild(copy);
    var first = copy.querySelector("input");
    if (first) first.focus();
  }

  function removeRow(button) {
    var row = button.closest("[data-row]");
    var list = row && row.parentElement;
    if (!row || !list) return;
    if (list.querySelectorAll("[data-row]").length > 1) {
      row.remove();
    } else {
      row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target.closest("button") : null;
    if (!target) return;
    if (target.dataset.addRow) {
      event.preventDefault();
      addRow(target);
    } else if (target.hasAttribute("data-remove-row")) {
      event.preventDefault();
      removeRow(target);
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.dataset ? form.dataset.confirm : null;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  function init() {
    document.querySelectorAll("[data-product-form]").forEach(function (form) {
      updateProductForm(form);
      form.addEventListener("change", function () { updateProductForm(form); });
    });
    var summary = document.getElementById("error-summary");
    if (summary) summary.focus();
    var result = document.getElementById("test-result");
    if (result && !summary) result.scrollIntoView({ block: "start" });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
