"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const OPEN_DAYS = new Set([1, 2, 3, 4, 5, 6]); // Monday to Saturday; closed on Sunday
  const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  const nextOpenDay = (from) => {
    const day = new Date(from.getFullYear(), from.getMonth(), from.getDate() + 1);
    while (!OPEN_DAYS.has(day.getDay())) day.setDate(day.getDate() + 1);
    return day;
  };

  // "Next free check-up": the next day we are open.
  const today = new Date();
  const next = nextOpenDay(today);
  const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
  document.getElementById("next-slot").textContent =
    iso(next) === iso(tomorrow) ? "Tomorrow" : next.toLocaleDateString(undefined, { weekday: "long" });

  // Booking form.
  const form = document.getElementById("booking");
  const notice = document.getElementById("booking-notice");
  const insurance = document.getElementById("insurance-field");
  form.elements.day.min = iso(next);
  form.elements.day.value = iso(next);

  const syncPatient = () => {
    // Returning patients are on file already; only new ones are asked about insurance.
    insurance.hidden = form.querySelector("input[name=patient]:checked").value !== "new";
  };
  form.addEventListener("change", syncPatient);
  syncPatient();

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const missing = [];
    const check = (field, ok, label) => {
      field.setAttribute("aria-invalid", String(!ok));
      if (!ok) missing.push(label);
    };
    check(form.elements.fullname, form.elements.fullname.value.trim().split(/\s+/).length >= 2, "your full name");
    check(form.elements.email, /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(form.elements.email.value.trim()), "a valid email");
    check(form.elements.phone, form.elements.phone.value.replace(/\D/g, "").length >= 7, "a phone number");
    const day = new Date(`${form.elements.day.value}T12:00:00`);
    check(form.elements.day, form.elements.day.value >= form.elements.day.min && OPEN_DAYS.has(day.getDay()), "a day from tomorrow on, Monday to Saturday");
    notice.className = "notice wide";
    if (missing.length) {
      notice.textContent = `Almost there: please add ${missing.join(", ")}.`;
      notice.classList.add("error");
      form.querySelector("[aria-invalid=true]").focus();
      return;
    }
    const when = day.toLocaleDateString(undefined, { weekday: "long", month: "long", day: "numeric" });
    notice.textContent = `Thanks, ${form.elements.fullname.value.trim().split(/\s+/)[0]}! We have your request for ${form.elements.treatment.value.toLowerCase()} on ${when} and will call ${form.elements.phone.value.trim()} to confirm a time.`;
    notice.classList.add("ok");
    form.reset();
    form.elements.day.value = iso(next);
    syncPatient();
  });

  // FAQ accordion.
  document.querySelectorAll(".accordion button").forEach((button) => {
    button.addEventListener("click", () => {
      const open = button.getAttribute("aria-expanded") === "true";
      button.setAttribute("aria-expanded", String(!open));
      button.nextElementSibling.hidden = open;
    });
  });
});
