import { MAX_NAME_CHARS, ROOM_PATTERN } from './frames.js';

/**
 * The one rule for names people see (display names, room names), shared by the server (which
 * enforces it) and the web app (which explains it before asking). Names are NFKC-normalized so
 * look-alike compatibility forms ("ｆｕｌｌ", "ﬁ") become their plain form, and anything that
 * can make a name render as something else is refused rather than silently stripped:
 * control characters (C0, DEL, C1), format characters (bidi overrides and isolates, zero-width
 * space/joiners, BOM, soft hyphen: Unicode category Cf), private-use characters and line or
 * paragraph separators.
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Co}\p{Zl}\p{Zp}]/u;
const SPACES = /\s+/gu;
const ROOM = new RegExp(ROOM_PATTERN);

export type NameCheck = { ok: true; value: string } | { ok: false; reason: string };

/** NFKC, trimmed, inner runs of white space collapsed to one space, 1..MAX_NAME_CHARS long. */
export function normalizeDisplayName(raw: string): NameCheck {
  const nfkc = raw.normalize('NFKC');
  if (HIDDEN.test(nfkc)) {
    return { ok: false, reason: 'name contains control, bidi or zero-width characters' };
  }
  const value = nfkc.replace(SPACES, ' ').trim();
  if (value.length < 1 || value.length > MAX_NAME_CHARS) {
    return { ok: false, reason: `name must be 1 to ${MAX_NAME_CHARS} characters` };
  }
  return { ok: true, value };
}

/** NFKC, trimmed, a leading "#" dropped, lower-cased; then it must match ROOM_PATTERN. */
export function normalizeRoomName(raw: string): NameCheck {
  const value = raw.normalize('NFKC').trim().replace(/^#+/, '').trim().toLowerCase();
  if (ROOM.test(value)) return { ok: true, value };
  if (value === '') return { ok: false, reason: 'room name is empty' };
  return {
    ok: false,
    reason: 'room names are up to 48 letters, digits, "-" or "_", starting with a letter or digit',
  };
}
