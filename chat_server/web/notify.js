// Telling the user about a message meant for them (a direct message, or their nick in a room)
// while they look elsewhere: a desktop notification while the page is hidden or unfocused, once
// they turn it on in the sidebar (the browser's permission is asked then, never on load), and a
// short tone, off by default, for a room not on screen too. Both
// choices are kept in this browser (localStorage). The unread count in the tab's title is
// rooms.js's.

import { $, clean, notice } from "./dom.js";
import { selectRoom } from "./nav.js";
import { current, label } from "./rooms.js";
import { me } from "./session.js";

const DESKTOP_KEY = "chat.notify.desktop";
const SOUND_KEY = "chat.notify.sound";
const BODY_SHOWN = 200; // characters of the message in a notification
const TONE_S = 0.18;
const QUIET_MS = 1500; // a burst of mentions makes one tone

let audio = null; // the AudioContext, made on the first tone (or when the tone is turned on)
let lastTone = 0;

function chosen(key) {
  return localStorage.getItem(key) === "on";
}

function choose(key, on) {
  if (on) localStorage.setItem(key, "on");
  else localStorage.removeItem(key);
}

function canNotify() {
  return "Notification" in window && Notification.permission === "granted";
}

/** Whether `body` names `nick` as a word (`bob`, `@bob`, `Bob:`), not inside another word. */
export function mentions(body, nick) {
  if (!nick) return false;
  const escaped = nick.replace(/[-\\^$.*+?()[\]{}|]/g, "\\$&");
  return new RegExp(`(^|[^A-Za-z0-9_-])@?${escaped}(?![A-Za-z0-9_-])`, "i").test(body);
}

/** A live message from someone else reached `room`: when it is meant for the user, a tone if
 * they are not looking at that room, and a desktop notification if they are not looking at
 * the page (in the page, the room's unread count says it). */
export function arrived(room, m) {
  if (me.blocked.has(m.nick.toLowerCase())) return;
  if (!room.dm && !mentions(m.body, me.nick)) return;
  const onPage = document.visibilityState === "visible" && document.hasFocus();
  if (onPage && room.name === current) return;
  if (chosen(SOUND_KEY)) tone();
  if (!onPage && chosen(DESKTOP_KEY) && canNotify()) show(room, m);
}

function show(room, m) {
  const nick = clean(m.nick);
  const title = room.dm ? nick : `${nick} in ${label(room)}`;
  let body = clean(m.body).replace(/\s+/g, " ").trim();
  if (body.length > BODY_SHOWN) body = `${body.slice(0, BODY_SHOWN - 1)}…`;
  // text only: the notification shows no markup; one per room at a time (tag)
  const shown = new Notification(title, { body, tag: room.name });
  shown.addEventListener("click", () => {
    window.focus();
    selectRoom(room.name);
    shown.close();
  });
}

function audioContext() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return null;
  if (audio === null) audio = new Context();
  if (audio.state === "suspended") audio.resume().catch(() => {}); // allowed after a gesture
  return audio;
}

/** A short, quiet beep, generated (no sound file to load). */
function tone() {
  const now = Date.now();
  const context = audioContext();
  if (!context || now - lastTone < QUIET_MS) return;
  lastTone = now;
  const oscillator = context.createOscillator();
  const gain = context.createGain();
  oscillator.frequency.value = 880;
  gain.gain.setValueAtTime(0.08, context.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, context.currentTime + TONE_S);
  oscillator.connect(gain).connect(context.destination);
  oscillator.start();
  oscillator.stop(context.currentTime + TONE_S);
}

async function desktopToggled() {
  const box = $("notify-desktop");
  if (!box.checked) {
    choose(DESKTOP_KEY, false);
    return;
  }
  if (!("Notification" in window)) {
    box.checked = false;
    notice("This browser cannot show notifications.");
    return;
  }
  const answer = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
  box.checked = answer === "granted";
  choose(DESKTOP_KEY, box.checked);
  if (!box.checked) notice("Notifications are blocked for this page: allow them in the browser's site settings.");
}

export function wireNotify() {
  // as chosen, if the browser still allows it (the permission may have been taken back)
  $("notify-desktop").checked = chosen(DESKTOP_KEY) && canNotify();
  $("notify-sound").checked = chosen(SOUND_KEY);
  $("notify-desktop").addEventListener("change", desktopToggled);
  $("notify-sound").addEventListener("change", () => {
    choose(SOUND_KEY, $("notify-sound").checked);
    if ($("notify-sound").checked) audioContext(); // made in the click: allowed to play later
  });
}
