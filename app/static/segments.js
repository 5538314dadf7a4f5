// Segment rule builder: offer only the operators that apply to the chosen field, and show
// the rules only for rule segments. The server checks every rule again.
(() => {
  const form = document.getElementById("segment-form");
  if (!form) return;

  const syncRow = (row) => {
    const field = row.querySelector(".rule-field");
    const operator = row.querySelector(".rule-operator");
    if (!field || !operator) return;
    const chosen = field.options[field.selectedIndex];
    const allowed = chosen && chosen.dataset.operators ? chosen.dataset.operators.split(" ") : null;
    let firstAllowed = null;
    for (const option of operator.options) {
      const ok = !allowed || allowed.includes(option.value);
      option.hidden = !ok;
      option.disabled = !ok;
      if (ok && firstAllowed === null) firstAllowed = option;
    }
    if (operator.selectedOptions[0] && operator.selectedOptions[0].disabled && firstAllowed) {
      firstAllowed.selected = true;
    }
  };

  form.querySelectorAll(".rule-row").forEach(syncRow);
  form.addEventListener("change", (event) => {
    if (event.target.classList.contains("rule-field")) {
      syncRow(event.target.closest(".rule-row"));
    }
    if (event.target.name === "kind") {
      const rules = form.querySelector(".segment-rules");
      if (rules) rules.hidden = event.target.value === "static";
    }
  });
})();
