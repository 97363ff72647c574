// energy-nb: a click on a figure of the book shows it at its full size over the page; a click or Escape closes it.
document.addEventListener("DOMContentLoaded", () => {
  const close = () => document.querySelectorAll(".enb-zoom").forEach(e => e.remove());
  document.querySelectorAll("figure.enb-figure img").forEach(img => {
    img.style.cursor = "zoom-in";
    img.addEventListener("click", () => {
      const box = document.createElement("div");
      box.className = "enb-zoom";
      box.setAttribute("role", "dialog");
      box.setAttribute("aria-label", img.alt);
      const big = document.createElement("img");
      big.src = img.src;
      big.alt = img.alt;
      box.appendChild(big);
      box.addEventListener("click", close);
      document.body.appendChild(box);
    });
  });
  document.addEventListener("keydown", e => { if (e.key === "Escape") close(); });
});
