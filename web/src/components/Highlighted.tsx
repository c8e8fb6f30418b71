/** Text with the given ranges marked (search matches). */
export function Highlighted({
  text,
  highlights,
}: {
  text: string;
  highlights: ReadonlyArray<{ start: number; end: number }>;
}) {
  const parts: Array<{ text: string; marked: boolean }> = [];
  let at = 0;
  for (const { start, end } of [...highlights].sort((a, b) => a.start - b.start)) {
    if (start < at || end <= start) continue;
    if (start > at) parts.push({ text: text.slice(at, start), marked: false });
    parts.push({ text: text.slice(start, end), marked: true });
    at = end;
  }
  if (at < text.length) parts.push({ text: text.slice(at), marked: false });
  return (
    <>
      {parts.map((part, index) =>
        part.marked ? <mark key={index}>{part.text}</mark> : <span key={index}>{part.text}</span>,
      )}
    </>
  );
}

/** Every place `term`'s words occur in `text`, case and accents aside, for highlighting. */
export function findTerms(text: string, term: string): Array<{ start: number; end: number }> {
  const words = term
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word.length > 0);
  if (words.length === 0) return [];
  const fold = (value: string) => value.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
  const folded = fold(text);
  // Folding can change lengths (rarely); highlight only when it did not.
  if (folded.length !== text.length) return [];
  const ranges: Array<{ start: number; end: number }> = [];
  for (const word of words.map(fold)) {
    let from = 0;
    for (;;) {
      const index = folded.indexOf(word, from);
      if (index < 0) break;
      ranges.push({ start: index, end: index + word.length });
      from = index + word.length;
    }
  }
  return ranges;
}
