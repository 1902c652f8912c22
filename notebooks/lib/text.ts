// Text measurement without a browser: figures are laid out in Node (jsdom has no layout),
// so label widths come from the advance widths of the font the figures name first.
// Widths are DejaVu Sans's (the font Debian's Chromium renders sans-serif with; Verdana,
// the fallback, is as wide), so a label measured to fit here fits when drawn.

/** The font stack every figure sets on its root element. */
export const FIGURE_FONT = '"DejaVu Sans", Verdana, sans-serif';

/** Advance widths of ASCII 32–126 in 1/100 em, regular and bold. */
const REGULAR = [
  32, 40, 46, 84, 64, 95, 78, 27, 39, 39, 50, 84, 32, 36, 32, 34, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 34, 34, 84,
  84, 84, 53, 100, 68, 69, 70, 77, 63, 58, 77, 75, 29, 29, 66, 56, 86, 75, 79, 60, 79, 69, 63, 61, 73, 68, 99, 69, 61,
  69, 39, 34, 39, 84, 50, 50, 61, 63, 55, 63, 62, 35, 63, 63, 28, 28, 58, 28, 97, 63, 61, 63, 63, 41, 52, 39, 63, 59,
  82, 59, 59, 52, 64, 34, 64, 84,
];
const BOLD = [
  35, 46, 52, 84, 70, 100, 87, 31, 46, 46, 52, 84, 38, 42, 38, 37, 70, 70, 70, 70, 70, 70, 70, 70, 70, 70, 40, 40, 84,
  84, 84, 58, 100, 77, 76, 73, 83, 68, 68, 82, 84, 37, 37, 77, 64, 100, 84, 85, 73, 85, 77, 72, 68, 81, 77, 110, 77, 72,
  73, 46, 37, 46, 84, 50, 50, 67, 72, 59, 72, 68, 44, 72, 71, 34, 34, 67, 34, 104, 71, 69, 72, 72, 49, 60, 48, 71, 65,
  92, 65, 65, 58, 71, 37, 71, 84,
];
/** A few non-ASCII characters the figures use; anything else counts as a full em. */
const OTHER: Record<string, number> = {
  µ: 64,
  '→': 84,
  '↑': 84,
  '·': 32,
  '–': 50,
  '—': 100,
  '×': 84,
  '…': 100,
  '≤': 84,
  '≥': 84,
  '±': 84,
  '≈': 84,
};

/** Width in px of `text` drawn at `fontSize` px, 3 % above the font's own advance widths. */
export function textWidth(text: string, fontSize: number, bold = false): number {
  const table = bold ? BOLD : REGULAR;
  let units = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    units += code >= 32 && code < 127 ? table[code - 32] : (OTHER[ch] ?? 100);
  }
  return (units / 100) * fontSize * 1.03;
}

/**
 * Splits `text` into lines no wider than `maxWidth` px, at spaces; a word wider than
 * the line on its own is cut at characters (with no hyphen), so no line ever overflows.
 */
export function wrapText(text: string, maxWidth: number, fontSize: number, bold = false): string[] {
  const lines: string[] = [];
  let line = '';
  const fits = (s: string) => textWidth(s, fontSize, bold) <= maxWidth;
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    const candidate = line === '' ? word : `${line} ${word}`;
    if (fits(candidate)) {
      line = candidate;
      continue;
    }
    if (line !== '') lines.push(line);
    line = '';
    let rest = word;
    while (!fits(rest)) {
      let cut = rest.length - 1;
      while (cut > 1 && !fits(rest.slice(0, cut))) cut--;
      lines.push(rest.slice(0, cut));
      rest = rest.slice(cut);
    }
    line = rest;
  }
  if (line !== '') lines.push(line);
  return lines.length === 0 ? [''] : lines;
}
