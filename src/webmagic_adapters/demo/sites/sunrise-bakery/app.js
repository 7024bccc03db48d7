"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Menu filter: show one category at a time.
  const chips = document.querySelectorAll(".chip");
  const items = document.querySelectorAll("#items li");
  chips.forEach((chip) => {
    chip.addEventListener("click", () => {
      chips.forEach((c) => {
        c.classList.toggle("active", c === chip);
        c.setAttribute("aria-selected", String(c === chip));
      });
      const filter = chip.dataset.filter;
      items.forEach((item) => {
        item.hidden = filter !== "all" && item.dataset.kind !== filter;
      });
    });
  });

  // Open now / closed, from the hours table, in the visitor's local time.
  const now = new Date();
  const today = document.querySelector(`#hours tr[data-day="${now.getDay()}"]`);
  const state = document.getElementById("open-state");
  if (today && state) {
    today.classList.add("today");
    const open = Number(today.dataset.open);
    const close = Number(today.dataset.close);
    const hour = now.getHours() + now.getMinutes() / 60;
    if (today.dataset.open && hour >= open && hour < close) {
      state.textContent = `Open now · until ${close}:00`;
      state.classList.add("open");
    } else {
      state.textContent = today.dataset.open && hour < open ? `Opens today at ${open}:00` : "Closed now";
      state.classList.add("closed");
    }
  }

  // Pre-order form: fill the select from the menu, keep a running total, check the input.
  const form = document.getElementById("order-form");
  const select = document.getElementById("order-item");
  const total = document.getElementById("order-total");
  const message = document.getElementById("order-message");
  items.forEach((item) => {
    const option = document.createElement("option");
    option.value = item.querySelector("h3").textContent;
    option.textContent = `${option.value} — $${Number(item.dataset.price).toFixed(2)}`;
    option.dataset.price = item.dataset.price;
    select.append(option);
  });

  const tomorrow = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
  const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  form.elements.day.min = iso(tomorrow);
  form.elements.day.value = iso(tomorrow);

  const updateTotal = () => {
    const price = Number(select.selectedOptions[0]?.dataset.price || 0);
    const qty = Math.max(0, Number(form.elements.qty.value) || 0);
    total.textContent = `$${(price * qty).toFixed(2)}`;
  };
  form.addEventListener("input", updateTotal);
  updateTotal();

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const problems = [];
    const check = (field, ok, text) => {
      field.setAttribute("aria-invalid", String(!ok));
      if (!ok) problems.push(text);
    };
    check(form.elements.customer, form.elements.customer.value.trim().length > 1, "your name");
    check(form.elements.phone, /^[+()\d\s-]{7,}$/.test(form.elements.phone.value.trim()), "a phone number");
    check(form.elements.qty, Number(form.elements.qty.value) >= 1 && Number(form.elements.qty.value) <= 24, "a quantity from 1 to 24");
    const day = new Date(`${form.elements.day.value}T12:00:00`);
    check(form.elements.day, form.elements.day.value >= form.elements.day.min && day.getDay() !== 1, "a pickup day from tomorrow on (we are closed on Mondays)");
    message.className = "form-message";
    if (problems.length) {
      message.textContent = `Please enter ${problems.join(", ")}.`;
      message.classList.add("error");
      return;
    }
    message.textContent = `Thank you, ${form.elements.customer.value.trim()}! ${form.elements.qty.value} × ${select.value} will be waiting for you on ${day.toLocaleDateString(undefined, { weekday: "long", month: "long", day: "numeric" })}.`;
    message.classList.add("ok");
    form.reset();
    form.elements.day.value = iso(tomorrow);
    updateTotal();
  });
});
