/**
 * Character n-grams for message search, the same for every language.
 *
 * Whitespace tokenisation fails for Korean (a particle is written onto the
 * word: 회의 "meeting", 회의를 "meeting" as object) and for scripts without
 * spaces. So a body is indexed by the single characters and character
 * pairs of its words, and a query word matches wherever its characters
 * appear in sequence: 회의 is found inside 회의를, "deploy" inside
 * "deployment". The index narrows the candidates; the exact substring test
 * in SQL then removes pairs that happen to appear apart.
 */

/**
 * Lower case, with compatibility forms folded (NFKC: full-width letters,
 * composed Hangul) and Greek final sigma as sigma (upper-case Σ has one lower
 * case in JavaScript and another in Postgres).
 */
export function normalizeText(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/ς/g, 'σ')
}

const WORD_BREAK = /[^\p{L}\p{M}\p{N}]+/u

/** The words of a text: runs of letters, marks and digits, normalized. */
export function wordsOf(text: string): string[] {
  return normalizeText(text).split(WORD_BREAK).filter((w) => w.length > 0)
}

/**
 * The words of a query as typed (NFKC only), for the exact check in SQL,
 * which lower-cases body and word alike with Postgres's own rules.
 */
export function rawWordsOf(text: string): string[] {
  return text.normalize('NFKC').split(WORD_BREAK).filter((w) => w.length > 0)
}

const ASCII_LETTER_OR_DIGIT = /^[a-z0-9]$/

/**
 * What the index stores, without repeats: every bigram of the body's words,
 * and the unigrams a one-character query looks for. Those are every
 * character of a one-character word, and every character of other words
 * except ASCII letters and digits: `회` is found inside `회의를`, but `e`
 * only as a word of its own, never inside `hello` (a lone Latin letter
 * inside words matches nearly everything, and leaving those unigrams out
 * halves the index for Latin text, which each stored message pays for).
 */
export function searchGrams(body: string): string[] {
  const grams = new Set<string>()
  for (const word of wordsOf(body)) {
    const chars = Array.from(word)
    for (let i = 0; i < chars.length; i++) {
      if (chars.length === 1 || !ASCII_LETTER_OR_DIGIT.test(chars[i]!)) grams.add(chars[i]!)
      if (i + 1 < chars.length) grams.add(chars[i]! + chars[i + 1]!)
    }
  }
  return [...grams]
}

/**
 * The grams a message must contain to match `query`: the bigrams of each
 * query word, or the word itself when it is one character.
 */
export function queryGrams(query: string): string[] {
  const grams = new Set<string>()
  for (const word of wordsOf(query)) {
    const chars = Array.from(word)
    if (chars.length === 1) grams.add(chars[0]!)
    for (let i = 0; i + 1 < chars.length; i++) grams.add(chars[i]! + chars[i + 1]!)
  }
  return [...grams]
}
