/* The config form (console/forms/), made instant: array rows are added, removed and moved
   without a round trip (a new row is cloned from the <template> the server rendered for each
   array, then every row's names, ids and labels are renumbered), fields that show only under a
   condition (data-show-if) and oneOf variants follow the values as they change.

   Without this script everything still works: the array buttons are submit buttons the server
   answers (`__add:config.prizes`, `__remove:config.prizes.2`, …) and the server renders the
   conditional fields and variants for the values it was sent. No framework, no build step. */
(function () {
  "use strict";

  var OFF = "--off"; // suffix of ids inside an inactive variant (one per inactive variant around)

  function escapeRe(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  function childrenWith(parent, attribute) {
    return Array.prototype.filter.call(parent ? parent.children : [], function (el) {
      return el.hasAttribute(attribute);
    });
  }

  /* Every element under root (root included), through <template> contents too. */
  function walk(root, visit) {
    var stack = [root];
    while (stack.length) {
      var node = stack.pop();
      if (node.nodeType === 1) visit(node);
      if (node.nodeType === 1 && node.tagName === "TEMPLATE") stack.push(node.content);
      for (var child = node.firstElementChild; child; child = child.nextElementSibling) {
        stack.push(child);
      }
    }
  }

  function rewriteAttributes(root, fix) {
    walk(root, function (el) {
      Array.prototype.slice.call(el.attributes).forEach(function (attr) {
        var value = fix(attr.value, attr.name);
        if (value !== attr.value) el.setAttribute(attr.name, value);
      });
    });
  }

  // -- arrays -------------------------------------------------------------------------------

  function rowsContainer(array) {
    return array.querySelector(":scope > [data-array-rows], :scope > .table-scroll > table > [data-array-rows]");
  }

  function rowsOf(array) {
    return childrenWith(rowsContainer(array), "data-row");
  }

  function templateOf(array) {
    return array.querySelector(":scope > template[data-array-template]");
  }

  function own(row, selector) {
    return Array.prototype.filter.call(row.querySelectorAll(selector), function (el) {
      return el.closest("[data-row]") === row;
    });
  }

  /* Names `config.prizes.OLD…` → `config.prizes.NEW…` and ids `field-config-prizes-OLD…` →
     `…-NEW…` in every attribute under the row (labels' for, aria-describedby, button names,
     data-show-if conditions, nested arrays and their templates). */
  function moveIndex(array, row, from, to) {
    var name = array.getAttribute("data-array");
    var idPrefix = array.getAttribute("data-id-prefix");
    var nameRe = new RegExp("(^|[\\s:\"])" + escapeRe(name + "." + from) + "(?=$|[.\\s\"])", "g");
    var idRe = new RegExp("(^|[\\s\"#])" + escapeRe(idPrefix + "-" + from) + "(?=$|[-\\s\"])", "g");
    rewriteAttributes(row, function (value) {
      return value.replace(nameRe, "$1" + name + "." + to).replace(idRe, "$1" + idPrefix + "-" + to);
    });
  }

  function renumber(array) {
    var rows = rowsOf(array);
    // Two passes through names no row has, so that two rows never share a radio group
    // (renaming a checked radio into a group unchecks the other's).
    rows.forEach(function (row, i) {
      var old = row.getAttribute("data-index");
      if (old !== String(i)) {
        moveIndex(array, row, old, "__r" + i + "__");
        row.setAttribute("data-index", "__r" + i + "__");
      }
    });
    rows.forEach(function (row, i) {
      var old = row.getAttribute("data-index");
      if (old !== String(i)) moveIndex(array, row, old, String(i));
      row.setAttribute("data-index", String(i));
    });
  }

  function updateRows(array) {
    var template = templateOf(array);
    if (!template) return;
    var placeholder = array.getAttribute("data-placeholder");
    var proto = template.content.firstElementChild;
    var protoActions = proto ? own(proto, "[data-row-actions]")[0] : null;
    var min = parseInt(array.getAttribute("data-min-items") || "0", 10) || 0;
    var maxAttr = array.getAttribute("data-max-items");
    var max = maxAttr === null ? Infinity : parseInt(maxAttr, 10);
    var rows = rowsOf(array);
    rows.forEach(function (row, i) {
      var actions = own(row, "[data-row-actions]")[0];
      if (actions && protoActions) {
        // Rebuilt from the template: the server leaves out buttons that could not be used.
        actions.innerHTML = protoActions.innerHTML.split(placeholder).join(String(i));
      }
      own(row, "[data-row-up]").forEach(function (b) { b.hidden = i === 0; });
      own(row, "[data-row-down]").forEach(function (b) { b.hidden = i === rows.length - 1; });
      own(row, "[data-row-remove]").forEach(function (b) { b.hidden = rows.length <= min; });
      own(row, ".row-number").forEach(function (span) { span.textContent = String(i + 1); });
    });
    var footer = array.querySelector(":scope > .array-footer");
    if (!footer) return;
    var add = footer.querySelector("[data-array-add]");
    if (!add) {
      add = document.createElement("button");
      add.type = "submit";
      add.className = "array-add";
      add.name = "__add:" + array.getAttribute("data-array");
      add.value = "1";
      add.formNoValidate = true;
      add.setAttribute("data-array-add", "");
      add.textContent = array.getAttribute("data-add-label") || "+";
      footer.appendChild(add);
    }
    add.name = "__add:" + array.getAttribute("data-array");
    add.hidden = rows.length >= max;
  }

  function firstControl(root) {
    return root.querySelector("input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])");
  }

  function addRow(array) {
    var template = templateOf(array);
    var container = rowsContainer(array);
    if (!template || !container) return;
    var index = String(rowsOf(array).length);
    var placeholder = array.getAttribute("data-placeholder");
    var fragment = template.content.cloneNode(true);
    rewriteAttributes(fragment, function (value) { return value.split(placeholder).join(index); });
    var row = fragment.firstElementChild;
    container.appendChild(fragment);
    updateRows(array);
    if (row) Array.prototype.forEach.call(row.querySelectorAll("[data-array]"), updateRows);
    refresh(array.closest("[data-mc-form]"));
    var control = row && firstControl(row);
    if (control) control.focus();
  }

  function removeRow(row) {
    var array = row.closest("[data-array]");
    var rows = rowsOf(array);
    var min = parseInt(array.getAttribute("data-min-items") || "0", 10) || 0;
    if (rows.length <= min) return;
    var position = rows.indexOf(row);
    row.parentNode.removeChild(row);
    renumber(array);
    updateRows(array);
    refresh(array.closest("[data-mc-form]"));
    var rest = rowsOf(array);
    var next = rest[Math.min(position, rest.length - 1)];
    var focus = next ? firstControl(next) : array.querySelector("[data-array-add]");
    if (focus) focus.focus();
  }

  function moveRow(row, step) {
    var array = row.closest("[data-array]");
    var rows = rowsOf(array);
    var position = rows.indexOf(row);
    var other = rows[position + step];
    if (!other) return;
    if (step < 0) row.parentNode.insertBefore(row, other);
    else row.parentNode.insertBefore(other, row);
    renumber(array);
    updateRows(array);
    var again = own(row, step < 0 ? "[data-row-up]" : "[data-row-down]")[0];
    if (!again || again.hidden) again = own(row, step < 0 ? "[data-row-down]" : "[data-row-up]")[0];
    if (again) again.focus();
  }

  // -- conditions and variants --------------------------------------------------------------

  function formString(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function currentValue(form, name) {
    var value = "";
    Array.prototype.forEach.call(form.querySelectorAll("[name]"), function (el) {
      if (el.name !== name || el.disabled || el.tagName === "BUTTON") return;
      if (el.type === "checkbox" || el.type === "radio") {
        if (el.checked) value = el.value;
      } else {
        value = el.value;
      }
    });
    return value;
  }

  var BOUNDS = {
    minimum: function (v, b) { return v >= b; },
    maximum: function (v, b) { return v <= b; },
    exclusiveMinimum: function (v, b) { return v > b; },
    exclusiveMaximum: function (v, b) { return v < b; }
  };

  function holds(cond, form) {
    if (cond.not) return !holds(cond.not, form);
    if (cond.all) return cond.all.every(function (c) { return holds(c, form); });
    var current = currentValue(form, cond.name);
    if (cond.truthy) return current !== "" && current !== "false" && current !== "0";
    var has = function (key) { return Object.prototype.hasOwnProperty.call(cond, key); };
    if (has("const") || has("enum")) {
      var wanted = has("const") ? [cond.const] : cond.enum;
      return wanted.some(function (w) { return formString(w) === current; });
    }
    var number = parseFloat(current);
    if (current === "" || isNaN(number)) return false;
    if (cond.money) number = Math.round(number * 100);
    return Object.keys(BOUNDS).every(function (key) {
      return !has(key) || BOUNDS[key](number, cond[key]);
    });
  }

  function refresh(form) {
    if (!form) return;
    Array.prototype.forEach.call(form.querySelectorAll("[data-show-if]"), function (el) {
      var cond;
      try { cond = JSON.parse(el.getAttribute("data-show-if")); } catch (e) { return; }
      var show = holds(cond, form);
      if (el.hidden === !show) return;
      el.hidden = !show;
      el.disabled = !show;
    });
  }

  /* Ids inside an inactive variant carry one OFF per inactive variant around them, so that
     two variants declaring the same property never share an id. */
  function shiftIds(root, activate) {
    var fix = function (value, attribute) {
      if (attribute !== "id" && attribute !== "for" && attribute !== "aria-describedby") return value;
      return value.split(/\s+/).map(function (token) {
        if (!token) return token;
        if (!activate) return token + OFF;
        var at = token.lastIndexOf(OFF);
        while (at >= 0) {
          var after = token.charAt(at + OFF.length);
          if (after === "" || after === "-") return token.slice(0, at) + token.slice(at + OFF.length);
          at = token.lastIndexOf(OFF, at - 1);
        }
        return token;
      }).join(" ");
    };
    rewriteAttributes(root, fix);
  }

  function switchVariant(select) {
    var box = select.closest("[data-variants]");
    if (!box) return;
    childrenWith(box, "data-variant").forEach(function (fieldset) {
      var active = fieldset.getAttribute("data-variant") === select.value;
      if (active === !fieldset.hidden) return;
      if (active) {
        shiftIds(fieldset, true);
        fieldset.hidden = false;
        fieldset.disabled = false;
      } else {
        fieldset.hidden = true;
        fieldset.disabled = true;
        shiftIds(fieldset, false);
      }
    });
  }

  // -- wiring -------------------------------------------------------------------------------

  var ACTION = /^__(add|remove|up|down):/;

  function init(form) {
    if (form.hasAttribute("data-mc-ready")) return;
    form.setAttribute("data-mc-ready", "");
    Array.prototype.forEach.call(form.querySelectorAll("[data-array]"), updateRows);
    form.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button") : null;
      if (!button || !form.contains(button)) return;
      var match = ACTION.exec(button.name || "");
      if (!match) return;
      var array = button.closest("[data-array]");
      if (!array || !templateOf(array)) return; // read-only: let the server answer
      event.preventDefault();
      var row = button.closest("[data-row]");
      if (match[1] === "add") addRow(array);
      else if (match[1] === "remove") removeRow(row);
      else if (match[1] === "up") moveRow(row, -1);
      else moveRow(row, 1);
    });
    var onChange = function (event) {
      if (event.target.hasAttribute && event.target.hasAttribute("data-variant-select")) {
        switchVariant(event.target);
      }
      refresh(form);
    };
    form.addEventListener("change", onChange);
    form.addEventListener("input", onChange);
    refresh(form);
  }

  // -- a running total (the lottery's odds) ------------------------------------------------

  /* An element with data-total-of="config.prizes" and data-total-field="odds" shows the sum of
     that column as the merchant types; data-total-max marks it when the sum goes over. */
  function updateTotals(form) {
    Array.prototype.forEach.call(document.querySelectorAll("[data-total-of]"), function (box) {
      var prefix = box.getAttribute("data-total-of") + ".";
      var field = "." + box.getAttribute("data-total-field");
      var scale = parseFloat(box.getAttribute("data-total-scale") || "1");
      var max = parseFloat(box.getAttribute("data-total-max") || "Infinity");
      var sum = 0;
      Array.prototype.forEach.call(form.querySelectorAll("input[name]"), function (el) {
        var name = el.name;
        if (name.indexOf(prefix) !== 0 || name.slice(-field.length) !== field) return;
        if (name.slice(prefix.length, -field.length).indexOf(".") !== -1 || el.disabled) return;
        var value = parseFloat(el.value);
        if (!isNaN(value)) sum += value;
      });
      var out = box.querySelector("[data-total-value]");
      if (out) out.textContent = (100 * sum / scale).toFixed(2) + "%";
      box.classList.toggle("total--over", sum > max);
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-mc-form]"), init);
    var form = document.querySelector("form.activity-form");
    if (form && document.querySelector("[data-total-of]")) {
      var update = function () { updateTotals(form); };
      form.addEventListener("input", update);
      form.addEventListener("change", update);
      form.addEventListener("click", function () { setTimeout(update, 0); });
      update();
    }
    // After a failed submit, the summary of errors takes the focus (a screen reader reads it).
    var summary = document.getElementById("error-summary");
    if (summary) summary.focus();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
