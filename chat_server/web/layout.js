// The phone layout (below 600 px wide, style.css): the conversation fills the screen, the rooms
// slide in as a drawer (the header's ☰ button, or a swipe from the left edge), the people rise as
// a sheet (the header's People button). A tap outside, Escape or choosing a room closes them.
//
// On a wider screen the buttons are not shown and the classes change nothing.

import { $ } from "./dom.js";

const EDGE_PX = 24; // a swipe that opens the drawer starts this close to the left edge
const SWIPE_PX = 60; // and goes at least this far right, more sideways than down

let swipe = null; // {x, y, open}: where a touch that may open (or close) the drawer started

function setOpen(part, open) {
  const drawer = part === "drawer";
  $("chat-screen").classList.toggle(drawer ? "drawer-open" : "sheet-open", open);
  $(drawer ? "rooms-open" : "people-open").setAttribute("aria-expanded", String(open));
  const over = $("chat-screen").matches(".drawer-open, .sheet-open");
  $("backdrop").hidden = !over;
  $("conversation").inert = over; // Tab and screen readers stay in what is open
}

export function openDrawer() {
  setOpen("sheet", false);
  setOpen("drawer", true);
  const room = $("sidebar").querySelector('button.room[aria-current="page"]');
  (room || $("search-q")).focus();
}

export function openSheet() {
  setOpen("drawer", false);
  setOpen("sheet", true);
  $("people-close").focus();
}

/** Close the drawer and the sheet; whether one was open (Escape acts on nothing else then). */
export function closeOverlays() {
  const wasOpen = $("chat-screen").matches(".drawer-open, .sheet-open");
  setOpen("drawer", false);
  setOpen("sheet", false);
  return wasOpen;
}

function closeToComposer() {
  closeOverlays();
  $("input").focus();
}

/** Whether the phone layout is on (the drawer's button shows). */
export function isPhone() {
  return getComputedStyle($("rooms-open")).display !== "none";
}

function wireSwipe() {
  document.addEventListener(
    "touchstart",
    (event) => {
      const touch = event.touches[0];
      const open = $("chat-screen").classList.contains("drawer-open");
      swipe = event.touches.length === 1 && isPhone() && (open || touch.clientX <= EDGE_PX)
        ? { x: touch.clientX, y: touch.clientY, open }
        : null;
    },
    { passive: true },
  );
  document.addEventListener(
    "touchend",
    (event) => {
      if (!swipe || $("chat-screen").hidden) return;
      const touch = event.changedTouches[0];
      const dx = touch.clientX - swipe.x;
      const sideways = Math.abs(dx) > Math.abs(touch.clientY - swipe.y);
      if (sideways && !swipe.open && dx >= SWIPE_PX) openDrawer();
      else if (sideways && swipe.open && dx <= -SWIPE_PX) closeOverlays();
      swipe = null;
    },
    { passive: true },
  );
}

export function wireLayout() {
  $("rooms-open").addEventListener("click", openDrawer);
  $("people-open").addEventListener("click", openSheet);
  $("people-close").addEventListener("click", closeToComposer);
  $("backdrop").addEventListener("click", closeToComposer);
  // leaving the phone width (a rotated tablet, a resized window) drops what was open
  matchMedia("(max-width: 599.98px)").addEventListener("change", closeOverlays);
  wireSwipe();
}
