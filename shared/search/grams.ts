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
  if (ASCII_ONLY.test(body)) return asciiGrams(body)
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

const ASCII_ONLY = /^[\x00-\x7f]*$/

/**
 * {@link searchGrams} of an ASCII body, the same grams in the same order
 * without its Unicode steps (most chat text, and NFKC changes no ASCII):
 * words are runs of letters and digits, and only a one-character word
 * has a unigram. The general path was about a tenth of this process's CPU
 * per stored message in the bench's scenario 1.
 */
function asciiGrams(body: string): string[] {
  const text = body.toLowerCase()
  const grams = new Set<string>()
  let start = -1
  for (let i = 0; i <= text.length; i++) {
    const code = i < text.length ? text.charCodeAt(i) : 0
    if ((code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39)) {
      if (start < 0) start = i
      continue
    }
    if (start < 0) continue
    if (i - start === 1) grams.add(text[start]!)
    for (let j = start; j + 1 < i; j++) grams.add(text.slice(j, j + 2))
    start = -1
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
