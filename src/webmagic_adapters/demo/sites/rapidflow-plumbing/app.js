"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Price estimate: job range x urgency, minus the senior discount on the labor share.
  const form = document.getElementById("estimator");
  const out = document.getElementById("estimate-out");
  const LABOR_SHARE = 0.6;
  const money = (n) => `$${Math.round(n).toLocaleString("en-US")}`;
  const estimate = () => {
    const [low, high] = form.elements.job.value.split(",").map(Number);
    const urgency = Number(form.querySelector("input[name=when]:checked").value);
    const discount = form.elements.senior.checked ? 1 - 0.1 * LABOR_SHARE : 1;
    out.textContent = `${money(low * urgency * discount)} – ${money(high * urgency * discount)}`;
  };
  form.addEventListener("input", estimate);
  form.addEventListener("submit", (event) => event.preventDefault());
  estimate();

  // Arrival time: the night shift covers a wider area, so promise a little more.
  const hour = new Date().getHours();
  document.getElementById("eta").textContent = hour >= 22 || hour < 6 ? "about 90 minutes" : "about an hour";

  // Reviews: rotate every 7 seconds; the dots jump to one.
  const reviews = [
    ["Water was coming through the kitchen ceiling at 11 pm. Marcus was here in 40 minutes and had it fixed by midnight. Fair price, clean work.", "Jenna P., Northside"],
    ["They replaced our water heater the same afternoon and hauled the old one away. The price was exactly what they quoted on the phone.", "Dev and Priya S., Riverside"],
    ["Third plumber we called, first one who actually found the leak. Didn't have to open a single wall.", "Harold M., Old Town"],
  ];
  const quote = document.getElementById("quote");
  const dots = document.getElementById("dots");
  let current = 0;
  const show = (index) => {
    current = (index + reviews.length) % reviews.length;
    quote.classList.add("fading");
    setTimeout(() => {
      quote.querySelector("blockquote").textContent = reviews[current][0];
      quote.querySelector("figcaption").textContent = reviews[current][1];
      quote.classList.remove("fading");
    }, 250);
    dots.querySelectorAll("button").forEach((dot, i) => dot.setAttribute("aria-current", String(i === current)));
  };
  reviews.forEach((review, i) => {
    const dot = document.createElement("button");
    dot.type = "button";
    dot.setAttribute("aria-label", `Review ${i + 1} by ${review[1]}`);
    dot.setAttribute("aria-current", String(i === 0));
    dot.addEventListener("click", () => { show(i); restart(); });
    dots.append(dot);
  });
  let timer = setInterval(() => show(current + 1), 7000);
  const restart = () => { clearInterval(timer); timer = setInterval(() => show(current + 1), 7000); };

  // FAQ: one answer open at a time.
  const details = document.querySelectorAll(".faq details");
  details.forEach((item) => {
    item.addEventListener("toggle", () => {
      if (item.open) details.forEach((other) => { if (other !== item) other.open = false; });
    });
  });
});
