// Shared by the bundled example components: a titled card built with DOM calls (no innerHTML).
export function card(element, kind, title, lines) {
  const box = document.createElement("section");
  box.className = `ixp-card ixp-${kind}`;
  box.dataset.component = kind;
  const heading = document.createElement("h3");
  heading.textContent = title;
  box.append(heading);
  for (const line of lines) {
    const p = document.createElement("p");
    p.textContent = line;
    box.append(p);
  }
  element.replaceChildren(box);
  return box;
}
