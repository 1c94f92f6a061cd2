// Contrast helpers (WCAG 2.x relative luminance) so text on a brand colour stays readable.

function channels(hex: string): [number, number, number] | null {
  const m = /^#?([0-9a-f]{6}|[0-9a-f]{3})$/i.exec(hex.trim());
  if (!m) return null;
  const h = m[1].length === 3 ? m[1].split('').map((c) => c + c).join('') : m[1];
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as [number, number, number];
}

export function luminance(hex: string): number {
  const c = channels(hex);
  if (!c) return 0;
  const [r, g, b] = c.map((v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

export function isHexColour(value: string | null | undefined): value is string {
  return !!value && channels(value) !== null;
}

/** White or black, whichever reads better on the colour (one of them always reaches 4.5:1). */
export function textColourOn(background: string): '#ffffff' | '#000000' {
  return contrast(background, '#ffffff') >= contrast(background, '#000000') ? '#ffffff' : '#000000';
}

/** The colour itself if it reads at 4.5:1 on the background, else the colour darkened until it does. */
export function inkOn(colour: string, background = '#ffffff'): string {
  const c = channels(colour);
  if (!c) return '#1d4ed8';
  for (let f = 1; f >= 0; f -= 0.05) {
    const hex = '#' + c.map((v) => Math.round(v * f).toString(16).padStart(2, '0')).join('');
    if (contrast(hex, background) >= 4.5) return hex;
  }
  return '#000000';
}
