// Who is logged in on this tab, how the hello proves it, and where the token is kept.
//
// The token lives in this tab only (sessionStorage), or in this browser with Remember me
// (localStorage); the password is held only until the first welcome and never stored.

const TOKEN_KEY = "chat.token";

export const me = {
  nick: null, // null: logged out; "" while a saved token logs in
  token: null,
  password: null, // only until the first welcome
  invite: null, // an invite code, sent with the password to sign up (login.js)
  remember: false,
  authFailed: false,
  blocked: new Set(), // lower-cased nicks this tab blocked (blocks.js)
  admin: false, // a server admin (welcome.admin): may delete anyone's message
  editWindow: null, // seconds after sending that a message may be edited (null: no limit)
};

export function isMe(nick) {
  return nick.toLowerCase() === me.nick.toLowerCase();
}

/** The hello frame: the password on the first login, the token after that. */
export function hello() {
  const frame = { type: "hello", client: "chat-web/1" };
  if (me.password !== null) Object.assign(frame, { nick: me.nick, password: me.password });
  else frame.token = me.token;
  if (me.password !== null && me.invite) frame.invite = me.invite;
  return frame;
}

export function savedToken() {
  return localStorage.getItem(TOKEN_KEY) || sessionStorage.getItem(TOKEN_KEY);
}

export function tokenRemembered() {
  return localStorage.getItem(TOKEN_KEY) !== null;
}

export function keepToken(token) {
  (me.remember ? localStorage : sessionStorage).setItem(TOKEN_KEY, token);
  (me.remember ? sessionStorage : localStorage).removeItem(TOKEN_KEY);
}

export function forget() {
  localStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(TOKEN_KEY);
  me.token = null;
}
